/// What a ``Subscriber`` drives: one standalone ``NodeLink``, or the cluster's ``ShardedManager``. Loop-only.
package protocol LinkManager: AnyObject {
    /// Starts connecting.
    func start()
    /// Adds names to the desired set (see ``NodeLink/add(_:_:completion:)``).
    func add(_ kind: SubscriptionKind, _ names: [String], completion: @escaping (Result<Void, ResubError>) -> Void)
    /// Removes names from the desired set.
    func remove(_ kind: SubscriptionKind, _ names: [String], completion: @escaping (Result<Void, ResubError>) -> Void)
    /// Closes every connection at once and stops reconnecting.
    func stop()
    /// Flow control toward a slow consumer.
    var isReadingPaused: Bool { get set }
    /// The desired subscriptions.
    var desired: SubscriptionSet { get }
    /// The subscriptions the servers confirmed.
    var confirmed: SubscriptionSet { get }
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
