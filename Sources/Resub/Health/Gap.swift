/// An outage of one link: messages published to its subscriptions between ``from`` and ``to`` may have
/// been missed (Redis pub/sub is at-most-once; nothing published while a link is down is kept for it).
public struct Gap: Sendable, Hashable {
    /// When the link stopped receiving, seconds since 1970 (for a timeout: the last byte received).
    public var from: Double
    /// When every subscription was confirmed again, seconds since 1970.
    public var to: Double
    /// The node (`host:port`).
    public var node: String
    /// The subscriptions the outage covered: the desired rows of ``names``. A link hands over its own table
    /// as it was (shared until the link next changes it), not a string per name: an outage of a million
    /// subscriptions is reported without building a million strings on the loop thread.
    package var names: SubscriptionTable

    /// The subscriptions the outage covered (a view, built when read).
    public var subscriptions: SubscriptionSet {
        get { names.set(.desired) }
        set { names = SubscriptionTable(configured: newValue) }
    }

    /// How many subscriptions the outage covered (no view built).
    public var subscriptionCount: Int {
        SubscriptionKind.allCases.reduce(0) { $0 + names.count($1, .desired) }
    }

    /// Creates a gap record.
    public init(from: Double, to: Double, node: String, subscriptions: SubscriptionSet) {
        self.init(from: from, to: to, node: node, names: SubscriptionTable(configured: subscriptions))
    }

    /// A gap covering the desired rows of `names`.
    package init(from: Double, to: Double, node: String, names: SubscriptionTable) {
        self.from = from
        self.to = to
        self.node = node
        self.names = names
    }

    public static func == (a: Gap, b: Gap) -> Bool {
        a.from == b.from && a.to == b.to && a.node == b.node && a.subscriptionCount == b.subscriptionCount
            && a.subscriptions == b.subscriptions
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(from)
        hasher.combine(to)
        hasher.combine(node)
        hasher.combine(subscriptionCount)
    }
}
