/// The kind of a pub/sub message.
public enum MessageKind: UInt8, Sendable, Hashable {
    /// From a `SUBSCRIBE`d channel (`PUBLISH`).
    case message = 0
    /// From a `PSUBSCRIBE`d pattern.
    case pmessage = 1
    /// From an `SSUBSCRIBE`d shard channel (`SPUBLISH`).
    case smessage = 2

    /// `message`, `pmessage` or `smessage`, as on the wire and in the JSON output.
    public var name: String {
        switch self {
        case .message: return "message"
        case .pmessage: return "pmessage"
        case .smessage: return "smessage"
        }
    }
}

/// One pub/sub message.
public struct Message: Sendable, Hashable {
    /// Which subscription kind delivered it.
    public var kind: MessageKind
    /// The pattern that matched, for ``MessageKind/pmessage``.
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
