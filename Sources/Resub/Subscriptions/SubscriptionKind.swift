/// The three kinds of Redis pub/sub subscription.
public enum SubscriptionKind: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// `SUBSCRIBE channel`: messages published with PUBLISH to exactly this channel.
    case channel = 0
    /// `PSUBSCRIBE glob`: messages to every channel matching the pattern.
    case pattern = 1
    /// `SSUBSCRIBE channel` (Redis 7+): messages published with SPUBLISH; in a cluster, served by the node
    /// owning the channel's hash slot.
    case shardChannel = 2

    /// The command that subscribes.
    public var subscribeCommand: String {
        switch self {
        case .channel: return "SUBSCRIBE"
        case .pattern: return "PSUBSCRIBE"
        case .shardChannel: return "SSUBSCRIBE"
        }
    }

    /// The command that unsubscribes.
    public var unsubscribeCommand: String {
        switch self {
        case .channel: return "UNSUBSCRIBE"
        case .pattern: return "PUNSUBSCRIBE"
        case .shardChannel: return "SUNSUBSCRIBE"
        }
    }

    /// `channels`, `patterns`, `shard_channels`: the JSON key used by the service.
    public var jsonKey: String {
        switch self {
        case .channel: return "channels"
        case .pattern: return "patterns"
        case .shardChannel: return "shard_channels"
        }
    }

    /// `channel`, `pattern` or `shard channel`.
    public var description: String {
        switch self {
        case .channel: return "channel"
        case .pattern: return "pattern"
        case .shardChannel: return "shard channel"
        }
    }

    /// Recognises the first element of a confirmation frame (`subscribe`, `punsubscribe`, …).
    /// - Returns: the kind and whether it confirms a subscribe (true) or an unsubscribe (false).
    package static func confirmation(_ bytes: [UInt8]) -> (SubscriptionKind, Bool)? {
        switch bytes.count {
        case 9:
            if bytes == Self.subscribe { return (.channel, true) }
        case 10:
            if bytes == Self.psubscribe { return (.pattern, true) }
            if bytes == Self.ssubscribe { return (.shardChannel, true) }
        case 11:
            if bytes == Self.unsubscribe { return (.channel, false) }
        case 12:
            if bytes == Self.punsubscribe { return (.pattern, false) }
            if bytes == Self.sunsubscribe { return (.shardChannel, false) }
        default:
            break
        }
        return nil
    }

    /// Recognises the verb of a confirmation frame from the parser's fast path (already known to be one of
    /// the six confirmation verbs).
    package static func confirmation(verb: UnsafeRawBufferPointer) -> (SubscriptionKind, Bool)? {
        guard let first = verb.first else { return nil }
        switch verb.count {
        case 9: return (.channel, true)
        case 10: return first == UInt8(ascii: "p") ? (.pattern, true) : (.shardChannel, true)
        case 11: return (.channel, false)
        case 12: return first == UInt8(ascii: "p") ? (.pattern, false) : (.shardChannel, false)
        default: return nil
        }
    }

    private static let subscribe = Array("subscribe".utf8)
    private static let psubscribe = Array("psubscribe".utf8)
    private static let ssubscribe = Array("ssubscribe".utf8)
    private static let unsubscribe = Array("unsubscribe".utf8)
    private static let punsubscribe = Array("punsubscribe".utf8)
    private static let sunsubscribe = Array("sunsubscribe".utf8)
}
