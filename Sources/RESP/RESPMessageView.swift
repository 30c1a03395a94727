/// The parts of one pub/sub message frame, pointing into the parser's buffer.
///
/// Valid only inside the closure it is passed to: copy what you keep.
public struct RESPMessageView {
    /// The frame's kind.
    public let kind: MessageKind
    /// The pattern that matched (`pmessage` only; empty otherwise).
    public let pattern: UnsafeRawBufferPointer
    /// The channel the message was published to.
    public let channel: UnsafeRawBufferPointer
    /// The message payload.
    public let payload: UnsafeRawBufferPointer

    /// Creates a view over bytes the caller keeps alive for the view's lifetime.
    public init(kind: MessageKind, pattern: UnsafeRawBufferPointer, channel: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
        self.kind = kind
        self.pattern = pattern
        self.channel = channel
        self.payload = payload
    }
}
