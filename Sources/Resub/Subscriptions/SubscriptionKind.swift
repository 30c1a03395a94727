import RESP

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

    /// The kind whose messages a confirmation of `kind` (see ``PubSubFrame``) subscribes to: `.message`
    /// for `subscribe`, `.pmessage` for `psubscribe`, `.smessage` for `ssubscribe`.
    package init(_ kind: MessageKind) {
        switch kind {
        case .message: self = .channel
        case .pmessage: self = .pattern
        case .smessage: self = .shardChannel
        }
    }
}
