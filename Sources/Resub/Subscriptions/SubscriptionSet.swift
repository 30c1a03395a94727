/// Channels, patterns and shard channels: a desired or confirmed subscription state.
public struct SubscriptionSet: Sendable, Hashable {
    /// `SUBSCRIBE` channels.
    public var channels: Set<String>
    /// `PSUBSCRIBE` patterns.
    public var patterns: Set<String>
    /// `SSUBSCRIBE` shard channels.
    public var shardChannels: Set<String>

    /// Creates a set.
    public init(channels: Set<String> = [], patterns: Set<String> = [], shardChannels: Set<String> = []) {
        self.channels = channels
        self.patterns = patterns
        self.shardChannels = shardChannels
    }

    /// The names of one kind. Mutating through it (`set[.channel].insert(x)`) changes the set in place: no
    /// copy of the whole set per change (that would make 100,000 confirmations quadratic).
    public subscript(kind: SubscriptionKind) -> Set<String> {
        get {
            switch kind {
            case .channel: return channels
            case .pattern: return patterns
            case .shardChannel: return shardChannels
            }
        }
        _modify {
            switch kind {
            case .channel: yield &channels
            case .pattern: yield &patterns
            case .shardChannel: yield &shardChannels
            }
        }
        set {
            switch kind {
            case .channel: channels = newValue
            case .pattern: patterns = newValue
            case .shardChannel: shardChannels = newValue
            }
        }
    }

    /// The number of names of all kinds.
    public var count: Int { channels.count + patterns.count + shardChannels.count }

    /// Whether no name of any kind is in the set.
    public var isEmpty: Bool { count == 0 }
}
