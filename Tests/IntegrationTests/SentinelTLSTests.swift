import Foundation
import Testing
import TestSupport

/// `rediss+sentinel://` end to end: the `resub` executable against a master, a replica and three sentinels
/// that all listen only on TLS (``RedisSentinelGroup`` with the test PKI; replication and the sentinels' own
/// links are TLS too), so resub must speak TLS to the sentinels and to every master they name.
/// Serialized like the plain Sentinel suite: failovers are timed by the sentinels.
@Suite("Sentinel over TLS", .serialized, .timeLimit(.minutes(3)))
struct SentinelTLSTests {
    /// `scheme://h1:p1,h2:p2,h3:p3/mymaster` for the group's sentinels.
    static func url(_ scheme: String, _ group: RedisSentinelGroup) -> String {
        "\(scheme)://\(group.sentinelAddresses.joined(separator: ","))/\(group.masterName)"
    }

    /// A TLS-only group and the `resub` executable following it through a `scheme` URL, subscribed to `c` with
    /// fast reconnects and `arguments`. The caller stops both.
    static func started(_ scheme: String, _ arguments: [String] = []) throws -> (group: RedisSentinelGroup, resub: ServiceProcess) {
        let group = try RedisSentinelGroup(tls: try TestCertificates.shared())
        do {
            let resub = try ServiceProcess(
                ["--url", url(scheme, group), "--channel", "c", "--reconnect-min", "0.05", "--reconnect-max", "0.5"] + arguments)
            return (group, resub)
        } catch {
            group.stop()
            throw error
        }
    }

    /// Publishes `payload` on `c` at `node` (over TLS) every 200 ms until resub has written it (at most 15 s).
    static func delivered(_ payload: String, on node: RedisServer, to resub: ServiceProcess) async -> Bool {
        await waitUntil(timeout: .seconds(15)) {
            _ = try? await onThread { try node.command("PUBLISH", "c", payload).int }
            try? await Task.sleep(for: .milliseconds(200))
            return resub.stdoutLines.contains { (try? parseJSONObject(Array($0.utf8)))?["payload"] as? String == payload }
        }
    }

    @Test("rediss+sentinel:// with --tls-ca delivers from the master, then from the promoted replica after SIGKILL of the master")
    func failoverOverTLS() async throws {
        let (group, resub) = try Self.started("rediss+sentinel", ["--tls-ca", try TestCertificates.shared().caFile])
        defer { group.stop() }
        defer { resub.stop() }
        let (old, replica) = (group.nodes[0], group.nodes[1])
        #expect(await Self.delivered("before", on: old, to: resub), "\(resub.diagnostics)")
        let oldPort = old.port
        old.kill()
        let promoted = try group.waitForPromotion(from: oldPort)
        #expect(promoted === replica)
        #expect(await Self.delivered("after", on: promoted, to: resub), "\(resub.diagnostics)")
        #expect(resub.isRunning, "\(resub.diagnostics)")
    }

    @Test("rediss+sentinel:// without --tls-ca: every sentinel is skipped naming the untrusted certificate, nothing is delivered")
    func untrustedCertificateNamed() async throws {
        let (group, resub) = try Self.started("rediss+sentinel")
        defer { group.stop() }
        defer { resub.stop() }
        // The question to each sentinel (not only the +switch-master watch) says why it was refused.
        let named = await Self.loggedForEverySentinel(group, resub) { line, address in
            line.contains("sentinel \(address) did not accept a connection (") && line.contains("certificate not trusted")
        }
        #expect(named, "\(resub.diagnostics)")
        try await Self.expectNothingDelivered(group, resub)
    }

    @Test("redis+sentinel:// (plain) against TLS-only sentinels: each is skipped, resub keeps trying, nothing is delivered")
    func plainURLDoesNotConnect() async throws {
        let (group, resub) = try Self.started("redis+sentinel")
        defer { group.stop() }
        defer { resub.stop() }
        let skipped = await Self.loggedForEverySentinel(group, resub) { line, address in line.contains("sentinel \(address) skipped") }
        #expect(skipped, "\(resub.diagnostics)")
        try await Self.expectNothingDelivered(group, resub)
    }

    /// Waits (at most 5 s) until resub's log has, for every sentinel, a line that `matches` (line, `host:port`).
    static func loggedForEverySentinel(
        _ group: RedisSentinelGroup, _ resub: ServiceProcess, _ matches: @escaping (Substring, String) -> Bool
    ) async -> Bool {
        await waitUntil(timeout: .seconds(5)) {
            let lines = resub.stderrText.split(separator: "\n")
            return group.sentinelAddresses.allSatisfy { address in lines.contains { matches($0, address) } }
        }
    }

    /// resub still runs (a refused sentinel is retried, not an exit), nobody on the master receives `c`, and
    /// nothing was written.
    static func expectNothingDelivered(_ group: RedisSentinelGroup, _ resub: ServiceProcess) async throws {
        #expect(resub.isRunning, "\(resub.diagnostics)")
        let master = group.nodes[0]
        #expect(try await onThread { try master.command("PUBLISH", "c", "must not arrive").int } == 0)
        try await Task.sleep(for: .milliseconds(200))
        #expect(resub.stdoutLines.isEmpty, "\(resub.stdoutLines)")
    }
}
