/// One change of the desired subscriptions, as every caller (the async API, the admin API, SIGHUP reload)
/// hands it to a link manager's `apply(_:completion:)`.
public struct SubscriptionChange: Sendable, Hashable {
    /// The kind of every name.
    public var kind: SubscriptionKind
    /// The names to add or remove.
    public var names: [String]
    /// Add (true) or remove (false).
    public var subscribe: Bool
    /// Whether a name the server refuses stays desired and is retried on its own backoff (configured
    /// subscriptions), rather than leaving the desired set (a live request whose caller is told it failed).
    public var keepsRefused: Bool

    /// Creates a change.
    public init(_ kind: SubscriptionKind, _ names: [String], subscribe: Bool, keepsRefused: Bool = false) {
        self.kind = kind
        self.names = names
        self.subscribe = subscribe
        self.keepsRefused = keepsRefused
    }
}
