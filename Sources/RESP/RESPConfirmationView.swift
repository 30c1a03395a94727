/// The parts of one (un)subscribe confirmation frame, pointing into the parser's buffer. Valid only inside
/// the closure it is passed to.
public struct RESPConfirmationView {
    /// The kind of message the (un)subscribed name delivers: `subscribe`/`unsubscribe` confirm `.message`,
    /// `psubscribe`/`punsubscribe` `.pmessage`, `ssubscribe`/`sunsubscribe` `.smessage`.
    public let kind: MessageKind
    /// True for `subscribe`, `psubscribe`, `ssubscribe`; false for the three unsubscribes.
    public let subscribe: Bool
    /// The channel or pattern.
    public let name: UnsafeRawBufferPointer
    /// The connection's subscription count after this change.
    public let count: Int64

    /// Creates a view over bytes the caller keeps alive for the view's lifetime.
    public init(kind: MessageKind, subscribe: Bool, name: UnsafeRawBufferPointer, count: Int64) {
        self.kind = kind
        self.subscribe = subscribe
        self.name = name
        self.count = count
    }
}
