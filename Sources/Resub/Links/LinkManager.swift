/// What a ``Subscriber`` drives: one standalone ``NodeLink``, or the cluster's ``ShardedManager``. Loop-only.
package protocol LinkManager: AnyObject {
    /// Starts connecting.
    func start()
    /// The one way to change subscriptions (async API, admin API, SIGHUP reload): adds or removes names and
    /// answers, name by name, confirmed, queued (no link ready: replayed on connect) or refused with the
    /// server's error text (see ``NodeLink/apply(_:completion:)``).
    func apply(_ change: SubscriptionChange, completion: @escaping (SubscriptionChangeResult) -> Void)
    /// Closes every connection at once and stops reconnecting.
    func stop()
    /// Flow control toward a slow consumer.
    var isReadingPaused: Bool { get set }
    /// The desired subscriptions (a view built on demand).
    var desired: SubscriptionSet { get }
    /// The subscriptions the servers confirmed (a view built on demand).
    var confirmed: SubscriptionSet { get }
    /// How many names of a kind are desired.
    func desiredCount(_ kind: SubscriptionKind) -> Int
    /// The desired names the servers refuse, retried on their own backoff.
    var refusals: [SubscriptionRefusal] { get }
    /// Every link's node and state.
    var linkStates: [(node: String, state: LinkState)] { get }
    /// Why each link that is down went down last (node to reason).
    var lastErrors: [String: ResubError] { get }
    /// Each link that holds keyspace/keyevent names, with how many it holds and how many are confirmed.
    var nodeLocalLinks: [NodeLocalLinkState] { get }
}

extension NodeLink: LinkManager {
    package var linkStates: [(node: String, state: LinkState)] { [(node, state)] }
    package var lastErrors: [String: ResubError] { lastError.map { [node: $0] } ?? [:] }
    package var nodeLocalLinks: [NodeLocalLinkState] {
        let desired = self.desired.channels.union(self.desired.patterns).filter(KeyspaceEvents.isNodeLocal)
        guard !desired.isEmpty else { return [] }
        let confirmed = self.confirmed.channels.union(self.confirmed.patterns).filter(desired.contains)
        return [NodeLocalLinkState(node: node, state: state, desired: desired.count, confirmed: confirmed.count)]
    }
}
