/// Something that happened to a subscriber's links, for logs, metrics and embedding programs.
public enum SubscriberEvent: Sendable, Hashable {
    /// A connection attempt started (`attempt` counts failures since the last healthy connection).
    case connecting(node: String, attempt: Int)
    /// The handshake finished; `protocolVersion` is 2 or 3.
    case connected(node: String, protocolVersion: Int)
    /// The server confirmed a (P/S)SUBSCRIBE command of `count` names.
    case subscribed(kind: SubscriptionKind, count: Int, node: String)
    /// The server confirmed a (P/S)UNSUBSCRIBE command of `count` names.
    case unsubscribed(kind: SubscriptionKind, count: Int, node: String)
    /// The server refused these names (reported once per refusal, not on each retry).
    case subscriptionFailed(kind: SubscriptionKind, names: [String], error: ResubError)
    /// A refused name was accepted on a retry (e.g. an ACL permission was granted).
    case subscriptionRestored(kind: SubscriptionKind, name: String, node: String)
    /// The server dropped a subscription on its own (a shard channel's slot moved away).
    case subscriptionLost(kind: SubscriptionKind, name: String, node: String)
    /// A link closed; it will reconnect unless the subscriber is shutting down.
    case disconnected(node: String, reason: ResubError)
    /// The next connection attempt is due after `delay`.
    case reconnectScheduled(node: String, attempt: Int, delay: Duration)
    /// A link's health changed state (`reason` says why when it went down).
    case stateChanged(node: String, from: LinkState, to: LinkState, reason: ResubError?)
    /// After a (re)connect, every desired subscription was confirmed again.
    case resubscribed(node: String, channels: Int, patterns: Int, shardChannels: Int, duration: Duration)
    /// An outage ended; messages published during it may have been missed.
    case gap(Gap)
    /// Cluster mode: a new topology is in use.
    case topologyChanged(masters: Int, coveredSlots: Int)
    /// Cluster mode: no node answered the topology request (it is retried).
    case topologyRefreshFailed(ResubError)
    /// Cluster mode: shard channels outside the served slot ranges, ignored.
    case shardChannelsIgnored(names: [String], slots: String)
    /// Sentinel mode: the sentinels name a new master (`from` is nil the first time).
    case masterChanged(name: String, from: String?, to: String)
    /// Sentinel mode: a sentinel was down, timed out, did not know the master or named a replica; skipped.
    case sentinelSkipped(sentinel: String, reason: ResubError)
    /// A node carrying keyspace or keyevent subscriptions has `notify-keyspace-events` set to `configured`,
    /// which lacks the flags `missing`: those subscriptions receive nothing (or less) from it.
    case keyspaceEventsDisabled(node: String, configured: String, missing: String)
    /// Cluster mode, `--slots auto`: the slots (or the plain channels and patterns) this member serves changed.
    case splitChanged(SplitChange)
    /// Messages were dropped because the consumer of ``Subscriber/messages`` fell behind.
    case messagesDropped(count: Int)
    /// ``Subscriber/shutdown()`` finished.
    case shutdown
}

extension SubscriberEvent: CustomStringConvertible {
    /// One line for logs (never contains credentials).
    public var description: String {
        switch self {
        case .connecting(let node, let attempt): return "connecting to \(node) (attempt \(attempt + 1))"
        case .connected(let node, let v): return "connected to \(node) (RESP\(v))"
        case .subscribed(let kind, let count, let node): return "subscribed \(count) \(kind)\(count == 1 ? "" : "s") on \(node)"
        case .unsubscribed(let kind, let count, let node): return "unsubscribed \(count) \(kind)\(count == 1 ? "" : "s") on \(node)"
        case .subscriptionFailed(let kind, let names, let error):
            return "\(kind) subscription refused: \(names.prefix(10).joined(separator: ", "))\(names.count > 10 ? ", … (\(names.count) names)" : ""): \(error)"
        case .subscriptionRestored(let kind, let name, let node): return "\(kind) subscription restored on \(node): \(name)"
        case .subscriptionLost(let kind, let name, let node): return "server \(node) dropped \(kind) \(name)"
        case .disconnected(let node, let reason): return "disconnected from \(node): \(reason)"
        case .reconnectScheduled(let node, let attempt, let delay): return "reconnecting to \(node) in \(delay.short) (attempt \(attempt + 1))"
        case .stateChanged(let node, let from, let to, let reason):
            return "link \(node): \(from.rawValue) -> \(to.rawValue)" + (reason.map { " (\($0))" } ?? "")
        case .resubscribed(let node, let c, let p, let s, let duration):
            return "resubscribed on \(node): \(c) channels, \(p) patterns, \(s) shard channels in \(duration.short)"
        case .gap(let gap):
            return "gap on \(gap.node) from \(RFC3339.format(gap.from)) to \(RFC3339.format(gap.to)) covering \(gap.subscriptionCount) subscriptions"
        case .topologyChanged(let masters, let covered): return "cluster topology: \(masters) masters serving \(covered) of 16384 slots"
        case .topologyRefreshFailed(let error): return "cluster topology refresh failed: \(error)"
        case .shardChannelsIgnored(let names, let slots):
            return "ignoring \(names.count) shard channel(s) outside slots \(slots): \(names.prefix(10).joined(separator: ", "))\(names.count > 10 ? ", …" : "")"
        case .masterChanged(let name, let from, let to):
            return from.map { "sentinel: master \(name) moved from \($0) to \(to)" } ?? "sentinel: master \(name) is \(to)"
        case .sentinelSkipped(let sentinel, let reason): return "sentinel \(sentinel) skipped: \(reason)"
        case .keyspaceEventsDisabled(let node, let configured, let missing):
            return "notify-keyspace-events is \"\(configured)\" on \(node): keyspace/keyevent subscriptions need the flags \"\(missing)\" too "
                + "(e.g. CONFIG SET notify-keyspace-events \(configured)\(missing))"
        case .splitChanged(let change): return change.description
        case .messagesDropped(let count): return "\(count) messages dropped: consumer too slow"
        case .shutdown: return "shut down"
        }
    }
}
