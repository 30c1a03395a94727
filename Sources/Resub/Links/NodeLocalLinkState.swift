/// One node's share of the keyspace/keyevent subscriptions (for `/readyz` and `/metrics`): in cluster mode
/// every master that owns a slot carries them on its own link.
package struct NodeLocalLinkState: Sendable, Hashable {
    /// `host:port`.
    package var node: String
    /// The link's health.
    package var state: LinkState
    /// Node-local channels and patterns the link should hold.
    package var desired: Int
    /// Of those, how many the node confirmed.
    package var confirmed: Int

    /// Creates a state.
    package init(node: String, state: LinkState, desired: Int, confirmed: Int) {
        self.node = node
        self.state = state
        self.desired = desired
        self.confirmed = confirmed
    }
}
