/// An outage of one link: messages published to its subscriptions between ``from`` and ``to`` may have
/// been missed (Redis pub/sub is at-most-once; nothing published while a link is down is kept for it).
public struct Gap: Sendable, Hashable {
    /// When the link stopped receiving, seconds since 1970 (for a timeout: the last byte received).
    public var from: Double
    /// When every subscription was confirmed again, seconds since 1970.
    public var to: Double
    /// The node (`host:port`).
    public var node: String
    /// The subscriptions the outage covered.
    public var subscriptions: SubscriptionSet

    /// Creates a gap record.
    public init(from: Double, to: Double, node: String, subscriptions: SubscriptionSet) {
        self.from = from
        self.to = to
        self.node = node
        self.subscriptions = subscriptions
    }
}
