import Foundation
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// A master, a replica and three sentinels (quorum 2, `down-after-milliseconds` 1000, `failover-timeout`
/// 3000) on free loopback ports; everything stopped by pid in ``stop()``.
public final class RedisSentinelGroup: @unchecked Sendable {
    /// The name the sentinels monitor.
    public let masterName = "mymaster"
    /// The first master and the first replica (their roles swap on a failover).
    public let nodes: [RedisServer]
    /// The sentinels, in the order resub is given them.
    public let sentinels: [RedisSentinel]

    /// Starts the group and waits (at most 20 s) until every sentinel knows the replica and the two other
    /// sentinels, so a failover can be voted at once. `password` makes every sentinel require it; `tls` runs
    /// every process TLS-only with this PKI (replication and the sentinels' own links over TLS too).
    public init(sentinelPassword password: String? = nil, tls: TestCertificates? = nil) throws {
        let master = try RedisServer(tls: tls)
        let replica = try RedisServer(arguments: ["--replicaof", "127.0.0.1", String(master.port)], tls: tls)
        nodes = [master, replica]
        var sentinels: [RedisSentinel] = []
        for _ in 0..<3 {
            sentinels.append(try RedisSentinel(masterName: "mymaster", masterPort: master.port, quorum: 2, password: password, tls: tls))
        }
        self.sentinels = sentinels
        try waitUntil(seconds: 20, "the sentinels to discover the replica and each other") {
            let linked = try replica.command("ROLE").value.elements?[3].string == "connected"
            return try linked && sentinels.allSatisfy { s in
                try s.command(["SENTINEL", "REPLICAS", "mymaster"]).value.elements?.count == 1
                    && s.command(["SENTINEL", "SENTINELS", "mymaster"]).value.elements?.count == 2
            }
        }
    }

    deinit { stop() }

    /// `host:port` of every sentinel, in order.
    public var sentinelAddresses: [String] { sentinels.map { "127.0.0.1:\($0.port)" } }

    /// The master's port as the sentinels report it now (the first sentinel that answers).
    public func masterPort() throws -> Int {
        for sentinel in sentinels {
            if let reply = try? sentinel.command(["SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName]),
               let port = reply.value.elements?.last?.string.flatMap({ Int($0) }) {
                return port
            }
        }
        throw FixtureError("no sentinel named the master")
    }

    /// The node that is master now (as the sentinels report it).
    public func master() throws -> RedisServer {
        let port = try masterPort()
        guard let node = nodes.first(where: { $0.port == port }) else { throw FixtureError("master port \(port) is not ours") }
        return node
    }

    /// Waits (at most `seconds`) until the sentinels name a master other than `oldPort` and that node answers
    /// ROLE master; returns it.
    @discardableResult
    public func waitForPromotion(from oldPort: Int, seconds: Double = 20) throws -> RedisServer {
        var promoted: RedisServer?
        try waitUntil(seconds: seconds, "a replica to be promoted") {
            guard let port = try? masterPort(), port != oldPort, let node = nodes.first(where: { $0.port == port }),
                  (try? node.command("ROLE"))?.value.elements?.first?.string == "master" else { return false }
            promoted = node
            return true
        }
        return promoted!
    }

    /// Stops every process by pid (thawing frozen ones first) and removes their directories. Idempotent.
    public func stop() {
        for sentinel in sentinels { sentinel.stop() }
        for node in nodes { node.stop() }
    }

    private func waitUntil(seconds: Double, _ what: String, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if (try? condition()) == true { return }
            usleep(50_000)
        }
        throw FixtureError("timed out after \(seconds) s waiting for \(what)")
    }
}
