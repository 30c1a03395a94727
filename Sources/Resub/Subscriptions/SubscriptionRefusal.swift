/// A desired subscription the server refuses (e.g. NOPERM from an ACL), retried on its own backoff.
public struct SubscriptionRefusal: Sendable, Hashable {
    /// The kind.
    public var kind: SubscriptionKind
    /// The name.
    public var name: String
    /// The server's error text.
    public var error: String

    /// Creates a refusal record.
    public init(kind: SubscriptionKind, name: String, error: String) {
        self.kind = kind
        self.name = name
        self.error = error
    }
}
