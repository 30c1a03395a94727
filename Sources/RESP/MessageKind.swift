/// The kind of a pub/sub message, and of the subscription that delivers it: the one kind enum of pub/sub
/// framing, used by the parser's views, ``PubSubFrame`` (whose confirmations name the kind they subscribe
/// to) and the library's messages and batches.
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
