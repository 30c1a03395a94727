/// A subscriber's readiness as the service's /readyz reports it.
package struct SubscriberStatus: Sendable {
    /// Every link's node and health state.
    package var links: [(node: String, state: LinkState)]
    /// Why each link that is down went down last (node to reason).
    package var lastErrors: [String: ResubError]
    /// The desired subscriptions the servers refuse.
    package var refusals: [SubscriptionRefusal]
    /// Each link carrying keyspace/keyevent names (every master in cluster mode).
    package var nodeLocal: [NodeLocalLinkState]
    /// The split group membership, when this process is a member of one.
    package var split: SplitStatus?
    /// Sentinel mode: the monitor that resolves the master (read on the loop thread only).
    package var sentinel: SentinelMonitor?

    /// Creates a status.
    package init(
        links: [(node: String, state: LinkState)], lastErrors: [String: ResubError], refusals: [SubscriptionRefusal],
        nodeLocal: [NodeLocalLinkState] = [], split: SplitStatus? = nil, sentinel: SentinelMonitor? = nil
    ) {
        self.sentinel = sentinel
        self.links = links
        self.lastErrors = lastErrors
        self.refusals = refusals
        self.nodeLocal = nodeLocal
        self.split = split
    }

    /// Ready: every link healthy, no subscription refused, and at least one link (a split member may own
    /// no channel at all, so no link: it is ready once it holds its lease).
    package var isReady: Bool {
        (split.map(\.leaseHeld) ?? !links.isEmpty) && links.allSatisfy { $0.state == .healthy } && refusals.isEmpty
    }
}
