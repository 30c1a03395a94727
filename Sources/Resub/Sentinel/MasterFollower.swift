/// Something that talks to the master and moves when Sentinel names another one: the subscription link and
/// the stream reader's link (through their ``LinkSupervisor``), and the ``BlockingConnection``. The monitor
/// gives it a ``MasterSource`` once (``use(_:)``: where to connect, the ROLE check before anything else runs
/// on a connection, where to report a failure) and calls ``follow(_:)`` on every resolution. Loop-only.
package protocol MasterFollower: AnyObject {
    /// Takes the master from `source` from now on. Called once, by ``SentinelMonitor/attach(_:)``.
    func use(_ source: MasterSource)
    /// Start at `endpoint`, or leave the current node for it at once.
    func follow(_ endpoint: RedisEndpoint)
}

extension NodeLink: MasterFollower {
    /// The supervisor takes the hooks: see ``LinkSupervisor/use(_:)``.
    package func use(_ source: MasterSource) { supervisor.use(source) }
}

extension StreamLink: MasterFollower {
    /// The supervisor takes the hooks: see ``LinkSupervisor/use(_:)``.
    package func use(_ source: MasterSource) { supervisor.use(source) }
}
