import LibeventLoop

/// Settings of a ``BlockingReader``.
public struct StreamReaderConfiguration: Sendable {
    /// A consumer group to read as (XREADGROUP) instead of plain XREAD.
    public struct Group: Sendable, Hashable {
        /// The group name.
        public var name: String
        /// This reader's consumer name in the group.
        public var consumer: String
        /// Create the group (with MKSTREAM) when it does not exist; it starts at `$` (new entries).
        public var create: Bool
        /// Also claim entries pending longer than this for other (dead) consumers, with XAUTOCLAIM.
        public var claimIdle: Duration?

        /// Creates a group setting.
        public init(name: String, consumer: String, create: Bool = true, claimIdle: Duration? = nil) {
            self.name = name
            self.consumer = consumer
            self.create = create
            self.claimIdle = claimIdle
        }
    }

    /// The server and credentials.
    public var endpoint: RedisEndpoint
    /// `CLIENT SETNAME` on both connections.
    public var clientName: String?
    /// The streams and where to start: `$` (only new entries), `0` (everything) or an ID. With a group the
    /// position is the group's; this is ignored.
    public var streams: [(key: String, start: String)]
    /// Read as a consumer group.
    public var group: Group?
    /// Entries per read (COUNT).
    public var count: Int
    /// The longest a read blocks (BLOCK). It is capped at the health check's ping interval so a healthy
    /// blocked read always answers before the liveness check would call it dead (see ``health``).
    public var block: Duration
    /// Liveness and reconnect backoff, as for subscribers.
    public var health: HealthConfiguration
    /// Connect timeout.
    public var connectTimeout: Duration
    /// TLS for a `rediss://` endpoint (nil: the system CA bundle).
    public var tls: TLSContext?
    /// Sentinel mode: read from the master the sentinels name, and follow it (``endpoint`` gives only the
    /// credentials).
    public var sentinel: SentinelConfiguration?

    /// Creates a configuration.
    public init(
        endpoint: RedisEndpoint, streams: [(key: String, start: String)], group: Group? = nil,
        clientName: String? = "resub", count: Int = 1000, block: Duration = .seconds(5),
        health: HealthConfiguration = .init(), connectTimeout: Duration = .seconds(5)
    ) {
        self.endpoint = endpoint
        self.streams = streams
        self.group = group
        self.clientName = clientName
        self.count = count
        self.block = block
        self.health = health
        self.connectTimeout = connectTimeout
    }

    /// The BLOCK actually used: at most the ping interval, at least 1 ms.
    public var effectiveBlock: Duration { max(.milliseconds(1), min(block, health.pingInterval)) }
}
