import LibeventLoop
import RESP

/// Everything a ``Subscriber`` needs: where to connect, what to subscribe, how to behave under failure.
public struct SubscriberConfiguration: Sendable {
    /// The server (standalone) and credentials.
    public var endpoint: RedisEndpoint
    /// `CLIENT SETNAME` on every connection.
    public var clientName: String?
    /// RESP3 with fallback, or RESP2.
    public var protocolPreference: RESPProtocolPreference
    /// Cluster mode (nil: standalone ``endpoint``). In cluster mode `endpoint` is ignored: the seeds are.
    public var cluster: ClusterConfiguration?
    /// Sentinel mode (nil: standalone ``endpoint`` or ``cluster``): the master's address comes from the
    /// sentinels; ``endpoint`` gives only the data nodes' credentials.
    public var sentinel: SentinelConfiguration?
    /// The subscriptions to make as soon as the first connection is ready. A view of ``initialNames``: setting
    /// it replaces them all (build the set, then assign it once).
    public var initialSubscriptions: SubscriptionSet {
        get { initialNames.set(.desired) }
        set { initialNames = SubscriptionTable(configured: newValue) }
    }
    /// The initial subscriptions, each name stored once as bytes: the table the link starts from, taken over
    /// without a copy (the service fills it straight from its configuration).
    package var initialNames: SubscriptionTable
    /// Names per (P/S)SUBSCRIBE command when replaying or subscribing many at once.
    public var replayBatchSize: Int
    /// How long a connection attempt (DNS included) may take.
    public var connectTimeout: Duration
    /// Health monitor: idle PING, timeout, reconnect backoff.
    public var health: HealthConfiguration
    /// Reconnect delays (part of ``health``).
    public var backoff: BackoffConfiguration {
        get { health.backoff }
        set { health.backoff = newValue }
    }
    /// How many message batches ``Subscriber/messages`` buffers for a slow consumer before dropping the
    /// newest (counted, and reported as ``SubscriberEvent/messagesDropped(count:)``).
    public var messageBufferBatches: Int
    /// Parser limits against a broken or hostile server.
    public var parserLimits: RESPParserConfiguration
    /// TLS for `rediss://` endpoints (and every cluster node found from a TLS seed): CA bundle, client
    /// certificate. Nil with a `rediss://` URL means the system CA bundle with full verification.
    public var tls: TLSContext?
    /// How long a graceful shutdown (``Subscriber/run()`` in a `ServiceGroup`) may spend draining, that is
    /// unsubscribing and receiving what was already sent, before it closes the connection anyway.
    public var shutdownDeadline: Duration = .seconds(5)

    /// Creates a configuration for `endpoint`.
    public init(
        endpoint: RedisEndpoint,
        clientName: String? = "resub",
        protocolPreference: RESPProtocolPreference = .resp3,
        initialSubscriptions: SubscriptionSet = .init(),
        replayBatchSize: Int = 1000,
        connectTimeout: Duration = .seconds(5),
        backoff: BackoffConfiguration = .init(),
        pingInterval: Duration = .seconds(5),
        pingTimeout: Duration = .seconds(3),
        messageBufferBatches: Int = 4096,
        parserLimits: RESPParserConfiguration = .init()
    ) {
        self.endpoint = endpoint
        self.cluster = nil
        self.sentinel = nil
        self.clientName = clientName
        self.protocolPreference = protocolPreference
        self.initialNames = SubscriptionTable(configured: initialSubscriptions)
        self.replayBatchSize = replayBatchSize
        self.connectTimeout = connectTimeout
        self.health = HealthConfiguration(pingInterval: pingInterval, pingTimeout: pingTimeout, backoff: backoff)
        self.messageBufferBatches = messageBufferBatches
        self.parserLimits = parserLimits
    }

    /// A configuration from a URL (`redis://…`, `unix://…`).
    public init(url: String) throws(ResubError) {
        self.init(endpoint: try RedisEndpoint(url: url))
    }

    var connectionConfiguration: ConnectionConfiguration {
        let usesTLS = sentinel?.tls ?? cluster?.seeds.first?.tls ?? endpoint.tls
        var socket = SocketOptions(connectTimeout: connectTimeout)
        socket.useTLS(usesTLS, context: tls)
        return ConnectionConfiguration(
            endpoint: endpoint, clientName: clientName, protocolPreference: protocolPreference,
            socket: socket, parser: parserLimits)
    }
}
