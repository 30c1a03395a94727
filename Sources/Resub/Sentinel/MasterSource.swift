/// What a ``MasterFollower`` gets from the ``SentinelMonitor`` it is attached to: where the master is, the
/// ROLE check, and the way to send the resolution back to the sentinels. How a follower uses them (the
/// hooks of a ``LinkSupervisor``, or the ``BlockingConnection``'s own state machine) is its business.
/// Loop-only.
package struct MasterSource {
    /// The master's endpoint (the data nodes' credentials and TLS), nil while the sentinels have named none.
    package var endpoint: () -> RedisEndpoint?
    /// Sends `ROLE` on a new connection to the master and calls back with nil when the node is the master
    /// (or ROLE cannot be checked), or with the error to fail the connection with.
    package var verifyRole: (_ connection: Connection, _ done: @escaping (ResubError?) -> Void) -> Void
    /// A connection to the master failed: asks the sentinels again (coalesced with a resolution in flight).
    package var failed: () -> Void

    /// Creates a source from its three parts (tests pass fakes).
    package init(
        endpoint: @escaping () -> RedisEndpoint?,
        verifyRole: @escaping (_ connection: Connection, _ done: @escaping (ResubError?) -> Void) -> Void,
        failed: @escaping () -> Void
    ) {
        self.endpoint = endpoint
        self.verifyRole = verifyRole
        self.failed = failed
    }
}
