import LibeventLoop

extension RedisSentinelGroup {
    /// A stale sentinel listed first: a ``FakeSentinel`` that names the replica as the master, followed by the
    /// group's real sentinels. The caller stops the fake one.
    public func staleSentinelFirst() throws -> (stale: FakeSentinel, sentinels: [SocketAddress]) {
        let stale = try FakeSentinel(answering: nodes[1].port)
        return (stale, [.tcp(host: "127.0.0.1", port: stale.port)] + sentinels.map { .tcp(host: "127.0.0.1", port: $0.port) })
    }
}
