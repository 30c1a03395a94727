import LibeventLoop
import Resub

/// The validated settings of one `resub` run.
package struct ServiceOptions: Sendable {
    /// The server(s); the first one is used in standalone mode.
    package var endpoints: [RedisEndpoint]
    /// What to subscribe.
    package var subscriptions: SubscriptionSet
    /// stdout format.
    package var format: OutputFormat = .json
    /// CLIENT SETNAME.
    package var clientName: String? = "resub"
    /// Exit 0 after writing this many messages.
    package var count: Int?
    /// stderr log format.
    package var logFormat: LogFormat = .text
    /// RESP3 (with fallback) or RESP2.
    package var protocolPreference: RESPProtocolPreference = .resp3
    /// Connect timeout.
    package var connectTimeout: Duration = .seconds(5)
    /// Reconnect backoff.
    package var backoff = BackoffConfiguration()
    /// Idle time before a health-check PING.
    package var pingInterval: Duration = .seconds(5)
    /// No reply within this after a PING: the link is dead.
    package var pingTimeout: Duration = .seconds(3)
    /// Write a gap record to the sink for every outage.
    package var emitGaps = false
    /// Cluster mode: the endpoints are seeds.
    package var cluster = false
    /// Cluster mode: the shard channel slots this instance serves.
    package var slots = SlotRanges.all
    /// Names per (P/S)SUBSCRIBE command.
    package var replayBatch = 1000
    /// The most bytes of messages queued for the sink before new ones are dropped (counted).
    package var sinkQueueBytes = 64 << 20

    package init(endpoints: [RedisEndpoint], subscriptions: SubscriptionSet) {
        self.endpoints = endpoints
        self.subscriptions = subscriptions
    }

    /// The library configuration: the first endpoint standalone, or every endpoint as cluster seeds.
    package var subscriberConfiguration: SubscriberConfiguration {
        var configuration = SubscriberConfiguration(
            endpoint: endpoints[0], clientName: clientName, protocolPreference: protocolPreference,
            initialSubscriptions: subscriptions, replayBatchSize: replayBatch, connectTimeout: connectTimeout,
            backoff: backoff, pingInterval: pingInterval, pingTimeout: pingTimeout)
        if cluster { configuration.cluster = ClusterConfiguration(seeds: endpoints, slots: slots) }
        return configuration
    }
}
