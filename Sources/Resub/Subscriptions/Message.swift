import RESP

/// One pub/sub message.
public struct Message: Sendable, Hashable {
    /// Which subscription kind delivered it.
    public var kind: MessageKind
    /// The pattern that matched, for a `pmessage`.
    public var pattern: String?
    /// The channel it was published to.
    public var channel: String
    /// The payload bytes, exactly as published.
    public var payload: [UInt8]

    /// Creates a message.
    public init(kind: MessageKind, pattern: String? = nil, channel: String, payload: [UInt8]) {
        self.kind = kind
        self.pattern = pattern
        self.channel = channel
        self.payload = payload
    }

    /// The payload as a string when it is valid UTF-8, else nil.
    public var payloadString: String? {
        String(validating: payload, as: UTF8.self)
    }
}
