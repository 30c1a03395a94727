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
        let certificates = try TestCertificates.shared()
        let group = try RedisSentinelGroup(tls: certificates)
        defer { group.stop() }
        let resub = try ServiceProcess([
            "--url", Self.url("rediss+sentinel", group), "--tls-ca", certificates.caFile, "--channel", "c",
            "--reconnect-min", "0.05", "--reconnect-max", "1",
        ])
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

    @Test("rediss+sentinel:// without --tls-ca: every sentinel is skipped naming the untrusted certificate, nothing is subscribed")
    func untrustedCertificateNamed() async throws {
        let group = try RedisSentinelGroup(tls: try TestCertificates.shared())
        defer { group.stop() }
        let resub = try ServiceProcess([
            "--url", Self.url("rediss+sentinel", group), "--channel", "c", "--reconnect-min", "0.05", "--reconnect-max", "0.5",
        ])
        defer { resub.stop() }
        // The question to each sentinel (not only the +switch-master watch) says why it was refused.
        let named = await waitUntil(timeout: .seconds(5)) {
            group.sentinelAddresses.allSatisfy { address in
                resub.stderrText.split(separator: "\n").contains {
                    $0.contains("sentinel \(address) did not accept a connection (") && $0.contains("certificate not trusted")
                }
            }
        }
        #expect(named, "\(resub.diagnostics)")
        #expect(resub.isRunning, "\(resub.diagnostics)")
        let master = group.nodes[0]
        #expect(try await onThread { try master.command("PUBSUB", "NUMSUB", "c").value.elements?.last?.int } == 0)
    }

    @Test("redis+sentinel:// (plain) against TLS-only sentinels: each is skipped, resub keeps trying, nothing is delivered")
    func plainURLDoesNotConnect() async throws {
        let group = try RedisSentinelGroup(tls: try TestCertificates.shared())
        defer { group.stop() }
        let resub = try ServiceProcess([
            "--url", Self.url("redis+sentinel", group), "--channel", "c", "--reconnect-min", "0.05", "--reconnect-max", "0.5",
        ])
        defer { resub.stop() }
        let skipped = await waitUntil(timeout: .seconds(5)) {
            group.sentinelAddresses.allSatisfy { resub.stderrText.contains("sentinel \($0) skipped") }
        }
        #expect(skipped, "\(resub.diagnostics)")
        #expect(resub.isRunning, "a refused sentinel is retried, not an exit; \(resub.diagnostics)")
        let master = group.nodes[0]
        let receivers = try await onThread { try master.command("PUBLISH", "c", "must not arrive").int }
        #expect(receivers == 0)
        try await Task.sleep(for: .milliseconds(200))
        #expect(resub.stdoutLines.isEmpty, "\(resub.stdoutLines)")
    }
}
