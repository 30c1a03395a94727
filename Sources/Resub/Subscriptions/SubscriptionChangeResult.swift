/// How a ``SubscriptionChange`` ended, name by name.
public struct SubscriptionChangeResult: Sendable, Hashable {
    /// The server confirmed these names (for a removal: it no longer serves them).
    public var confirmed: [String] = []
    /// No connection was ready: the change is recorded and applied by the replay on connect.
    public var queued: [String] = []
    /// The server refused these names, with its error text (e.g. `NOPERM …`).
    public var refused: [Refusal] = []

    /// A name the server refused.
    public struct Refusal: Sendable, Hashable {
        /// The name.
        public var name: String
        /// The server's error text.
        public var error: String

        /// Creates a refusal.
        public init(name: String, error: String) {
            self.name = name
            self.error = error
        }
    }

    /// An empty result.
    public init() {}

    /// Adds another link's outcome of the same change (cluster mode).
    public mutating func merge(_ other: SubscriptionChangeResult) {
        confirmed += other.confirmed
        queued += other.queued
        refused += other.refused
    }
}
