import Foundation
import Testing
import TestSupport

// A subscription the server refuses (ACL): reported once, isolated from the allowed names, retried on its
// own backoff without reconnecting, and picked up when the permission is granted; through the `resub`
// executable against a real redis-server with an ACL user.

@Suite("Service: refused subscriptions (ACL)", .serialized)
struct ACLRefusalTests {
    /// The `limited` user's client id and the count of its connections (CLIENT LIST).
    private static func limitedClients(_ admin: SyncRedisClient) throws -> [String] {
        let text = try admin.command(["CLIENT", "LIST"]).string ?? ""
        return text.split(separator: "\n").filter { $0.contains(" user=limited ") }
            .compactMap { $0.split(separator: " ").first.map(String.init) }
    }

    private static func readyz(_ port: Int) throws -> TestHTTP.Response {
        try TestHTTP.request(port: port, path: "/readyz")
    }

    private static func messages(_ resub: ServiceProcess) -> [[String: String]] {
        resub.stdoutLines.compactMap { try? parseMessageObject(JSONSerialization.jsonObject(with: Data($0.utf8))) }
    }

    @Test("an ACL allowing &orders.* serves orders.a, reports payments once, does not reconnect, and picks up restored permissions without a restart", .timeLimit(.minutes(1)))
    func aclRefusal() async throws {
        let redis = try startRedis()
        defer { redis.stop() }
        let admin = try redis.client()
        _ = try admin.command(["ACL", "SETUSER", "limited", "on", ">secret", "~*", "+@all", "resetchannels", "&orders.*"])
        let resub = try ServiceProcess([
            "--url", "redis://limited:secret@127.0.0.1:\(redis.port)", "--channel", "orders.a", "--channel", "payments",
            "--ping-interval", "0.5", "--ping-timeout", "0.5", "--reconnect-min", "0.05", "--reconnect-max", "0.5",
            "--admin", "127.0.0.1:0",
        ])
        defer { resub.stop() }
        let port = try await resub.adminPort()

        // The allowed name is served although Redis refuses any SUBSCRIBE that names payments.
        let served = try await pollUntil(timeout: .seconds(10)) { try redis.numsub("orders.a") == 1 }
        try #require(served, "orders.a not subscribed; \(resub.diagnostics)")
        try redis.publishAll([("orders.a", "first")])
        #expect(await pollUntil(timeout: .seconds(5)) { Self.messages(resub).contains { $0["payload"] == "first" } })

        // Two seconds later: one link (no reconnect loop), payments named once, /readyz names it.
        let clients = try Self.limitedClients(admin)
        #expect(clients.count == 1)
        try await Task.sleep(for: .seconds(2))
        #expect(try Self.limitedClients(admin) == clients, "the link reconnected; \(resub.diagnostics)")
        let refusedLines = resub.stderrText.split(separator: "\n").filter { $0.contains("refused") && $0.contains("payments") }
        #expect(refusedLines.count == 1, "\(refusedLines)")
        #expect(try redis.numsub("payments") == 0)
        let ready = try Self.readyz(port)
        #expect(ready.status == 503)
        #expect(ready.text.contains("payments") && ready.text.contains("NOPERM"), "\(ready.text)")

        // Revoke every channel (Redis disconnects the client), then restore orders.* and grant payments.
        _ = try admin.command(["ACL", "SETUSER", "limited", "resetchannels"])
        let dropped = try await pollUntil(timeout: .seconds(5)) { try redis.numsub("orders.a") == 0 }
        #expect(dropped)
        try await Task.sleep(for: .seconds(1))
        _ = try admin.command(["ACL", "SETUSER", "limited", "&orders.*", "&payments"])
        let restored = try await pollUntil(timeout: .seconds(10)) {
            try redis.numsub("orders.a") == 1 && redis.numsub("payments") == 1
        }
        try #require(restored, "permissions restored but not picked up; \(resub.diagnostics)")
        try redis.publishAll([("orders.a", "second"), ("payments", "third")])
        let received = await pollUntil(timeout: .seconds(5)) {
            let payloads = Set(Self.messages(resub).compactMap { $0["payload"] })
            return payloads.isSuperset(of: ["first", "second", "third"])
        }
        #expect(received, "\(resub.stdoutText)")
        #expect(try await pollUntil(timeout: .seconds(5)) { try Self.readyz(port).status == 200 })
        #expect(resub.isRunning, "no restart")
    }
}
