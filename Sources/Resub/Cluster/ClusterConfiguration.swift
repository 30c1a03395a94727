/// Cluster mode settings of a ``Subscriber``.
public struct ClusterConfiguration: Sendable, Hashable {
    /// Nodes to ask for the topology first (credentials and TLS of the first one apply to every node).
    public var seeds: [RedisEndpoint]
    /// Serve only shard channels whose hash slot is in these ranges (`--slots`), to split the work across
    /// instances; the others are logged once and ignored.
    public var slots: SlotRanges
    /// `--slots auto`: share the slots with the other live members of this split group (`slots` is then
    /// ignored).
    public var split: SplitConfiguration?
    /// How often the topology is refreshed when everything is healthy.
    public var refreshInterval: Duration
    /// How often it is refreshed while some link is down or some channel has no known owner.
    public var degradedRefreshInterval: Duration
    /// How often it is refreshed, at the most, while keyspace/keyevent names are wanted: nothing tells a
    /// subscriber that a master gained slots (a resharding, a new master), and that master's keys' events
    /// reach it only once it is subscribed there. Shard channels need no such poll (the server drops them
    /// and answers MOVED).
    public var nodeLocalRefreshInterval: Duration = .seconds(5)

    /// The delay before the next periodic refresh.
    package func refreshDelay(degraded: Bool, nodeLocal: Bool) -> Duration {
        if degraded { return degradedRefreshInterval }
        return nodeLocal ? min(refreshInterval, nodeLocalRefreshInterval) : refreshInterval
    }

    /// Creates a cluster configuration.
    public init(seeds: [RedisEndpoint], slots: SlotRanges = .all, refreshInterval: Duration = .seconds(30), degradedRefreshInterval: Duration = .seconds(1)) {
        self.seeds = seeds
        self.slots = slots
        self.refreshInterval = refreshInterval
        self.degradedRefreshInterval = degradedRefreshInterval
    }
}
