/// A subscriber's readiness as the service's /readyz reports it.
package struct SubscriberStatus: Sendable {
    /// Every link's node and health state.
    package var links: [(node: String, state: LinkState)]
    /// Why each link that is down went down last (node to reason).
    package var lastErrors: [String: ResubError]
    /// The desired subscriptions the servers refuse.
    package var refusals: [SubscriptionRefusal]

    /// Creates a status.
    package init(links: [(node: String, state: LinkState)], lastErrors: [String: ResubError], refusals: [SubscriptionRefusal]) {
        self.links = links
        self.lastErrors = lastErrors
        self.refusals = refusals
    }

    /// Ready: at least one link, every link healthy, and no subscription refused.
    package var isReady: Bool {
        !links.isEmpty && links.allSatisfy { $0.state == .healthy } && refusals.isEmpty
    }
}
