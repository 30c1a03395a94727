import Foundation
import LibeventLoop
import Resub
import Testing
import TestSupport

/// Sentinel mode against real processes: a master, a replica and three sentinels per test (RedisSentinelGroup).
/// Serialized: failovers are timed by the sentinels (`down-after-milliseconds` 1000), and parallel groups on a
/// small machine would make their elections slow.
@Suite("Sentinel", .serialized)
struct SentinelIntegrationTests {
    /// A subscriber to `news` through `sentinels` (the group's by default), with fast reconnects.
    static func configuration(
        _ group: RedisSentinelGroup, sentinels: [SocketAddress]? = nil, password: String? = nil,
        pingInterval: Duration = .seconds(2), pingTimeout: Duration = .seconds(2)
    ) -> SubscriberConfiguration {
        var configuration = SubscriberConfiguration(
            endpoint: RedisEndpoint(address: .tcp(host: "127.0.0.1", port: 1)),
            initialSubscriptions: SubscriptionSet(channels: ["news"]),
            backoff: BackoffConfiguration(minimum: .milliseconds(50), maximum: .seconds(1)),
            pingInterval: pingInterval, pingTimeout: pingTimeout)
        configuration.sentinel = SentinelConfiguration(
            sentinels: sentinels ?? group.sentinels.map { .tcp(host: "127.0.0.1", port: $0.port) },
            masterName: group.masterName, password: password)
        return configuration
    }

    /// Publishes `payload` on `node` every 100 ms until `messages` holds it (at most `timeout`).
    static func deliver(_ payload: String, on node: RedisServer, to messages: Collector<Message>, timeout: Duration = .seconds(10)) async -> Bool {
        guard let client = try? node.client() else { return false }
        return await waitUntil(timeout: timeout) {
            _ = try? client.publish("news", payload)
            try? await Task.sleep(for: .milliseconds(100))
            return messages.all.contains { $0.payloadString == payload }
        }
    }

    static func numsub(_ node: RedisServer) -> Int {
        guard let client = try? node.client(), let reply = try? client.command(["PUBSUB", "NUMSUB", "news"]) else { return -1 }
        return Int(reply.elements?.last?.int ?? -1)
    }

    @Test("the first listed sentinel down: it is skipped with a log event and the next one names the master")
    func firstSentinelDown() async throws {
        let group = try RedisSentinelGroup()
        defer { group.stop() }
        group.sentinels[0].kill()
        try await withSubscriber(Self.configuration(group)) { subscriber in
            let messages = Collector(subscriber.messages)
            let events = Collector(subscriber.events)
            #expect(await Self.deliver("hello", on: group.nodes[0], to: messages))
            let skipped = events.all.contains { if case .sentinelSkipped(let s, _) = $0 { s == "127.0.0.1:\(group.sentinels[0].port)" } else { false } }
            #expect(skipped)
            #expect(events.all.contains(.masterChanged(name: "mymaster", from: nil, to: "127.0.0.1:\(group.nodes[0].port)")))
        }
    }

    @Test("SIGKILL of the master: after the promotion, messages published on the new master arrive")
    func masterKilled() async throws {
        let group = try RedisSentinelGroup()
        defer { group.stop() }
        try await withSubscriber(Self.configuration(group)) { subscriber in
            let messages = Collector(subscriber.messages)
            let events = Collector(subscriber.events)
            let (old, replica) = (group.nodes[0], group.nodes[1])
            #expect(await Self.deliver("before", on: old, to: messages))
            let oldPort = old.port
            old.kill()
            let promoted = try group.waitForPromotion(from: oldPort)
            #expect(promoted === replica)
            #expect(await Self.deliver("after", on: promoted, to: messages))
            let moved = await events.wait { $0.contains(.masterChanged(name: "mymaster", from: "127.0.0.1:\(oldPort)", to: "127.0.0.1:\(promoted.port)")) }
            #expect(moved.contains(.masterChanged(name: "mymaster", from: "127.0.0.1:\(oldPort)", to: "127.0.0.1:\(promoted.port)")))
        }
    }

    @Test("SENTINEL FAILOVER with both nodes alive: resub leaves the demoted node and follows the new master")
    func manualFailover() async throws {
        let group = try RedisSentinelGroup()
        defer { group.stop() }
        try await withSubscriber(Self.configuration(group)) { subscriber in
            let messages = Collector(subscriber.messages)
            let (old, replica) = (group.nodes[0], group.nodes[1])
            #expect(await Self.deliver("before", on: old, to: messages))
            try group.sentinels[1].command(["SENTINEL", "FAILOVER", "mymaster"])
            let promoted = try group.waitForPromotion(from: old.port)
            #expect(promoted === replica)
            #expect(await Self.deliver("after", on: promoted, to: messages))
            #expect(await waitUntil(timeout: .seconds(5)) { Self.numsub(old) == 0 })
            #expect(Self.numsub(promoted) == 1)
        }
    }

    @Test("the old master frozen (SIGSTOP): +switch-master moves resub long before its health check would")
    func masterFrozen() async throws {
        let group = try RedisSentinelGroup()
        defer { group.stop() }
        let old = group.nodes[0]
        defer { old.thaw() }
        // A health check this slow cannot be what moves the link within the bound below.
        try await withSubscriber(Self.configuration(group, pingInterval: .seconds(20), pingTimeout: .seconds(10))) { subscriber in
            let messages = Collector(subscriber.messages)
            #expect(await Self.deliver("before", on: old, to: messages))
            let frozenAt = ContinuousClock.now
            old.freeze()
            let promoted = try group.waitForPromotion(from: old.port)
            #expect(await Self.deliver("after", on: promoted, to: messages, timeout: .seconds(5)))
            #expect(frozenAt.duration(to: .now) < .seconds(20))
        }
    }

    @Test("sentinels that require a password are asked with --sentinel-password")
    func sentinelPassword() async throws {
        let group = try RedisSentinelGroup(sentinelPassword: "s3cret")
        defer { group.stop() }
        try await withSubscriber(Self.configuration(group, password: "s3cret")) { subscriber in
            let messages = Collector(subscriber.messages)
            #expect(await Self.deliver("authenticated", on: group.nodes[0], to: messages))
        }
        // Without it every sentinel is skipped as refusing the login, and nothing is subscribed.
        try await withSubscriber(Self.configuration(group)) { subscriber in
            let events = Collector(subscriber.events)
            let skipped = await events.wait(timeout: .seconds(5)) { list in
                list.contains { if case .sentinelSkipped(_, let reason) = $0 { reason.code == .connectionFailed || reason.code == .authenticationFailed } else { false } }
            }
            #expect(!skipped.isEmpty)
            #expect(Self.numsub(group.nodes[0]) == 0)
        }
    }

    @Test("a stale sentinel naming the replica: ROLE refuses it, the next sentinel names the master")
    func roleRefusal() async throws {
        let group = try RedisSentinelGroup()
        defer { group.stop() }
        let (master, replica) = (group.nodes[0], group.nodes[1])
        let (stale, sentinels) = try group.staleSentinelFirst()
        defer { stale.stop() }
        try await withSubscriber(Self.configuration(group, sentinels: sentinels)) { subscriber in
            let messages = Collector(subscriber.messages)
            let events = Collector(subscriber.events)
            #expect(await Self.deliver("from the master", on: master, to: messages))
            #expect(stale.masterQueries >= 1)
            #expect(Self.numsub(replica) == 0)
            let refused = events.all.contains { event in
                if case .sentinelSkipped(let s, let reason) = event { s == "127.0.0.1:\(stale.port)" && reason.message.contains("ROLE slave") } else { false }
            }
            #expect(refused)
        }
    }

    @Test("stream reading with a consumer group across a failover: every entry delivered, nothing left pending")
    func streamGroupFailover() async throws {
        let group = try RedisSentinelGroup()
        defer { group.stop() }
        let resub = try ServiceProcess([
            "--sentinel", group.sentinelAddresses[0], "--sentinel", group.sentinelAddresses[1], "--sentinel-master", "mymaster",
            "--stream", "events", "--group", "g", "--consumer", "c1", "--reconnect-min", "0.05", "--reconnect-max", "1",
            "--admin", "127.0.0.1:0",
        ])
        defer { resub.stop() }
        let old = group.nodes[0]
        let admin = try await resub.adminPort()
        // The group exists once resub set the stream up on the master.
        #expect(await waitUntil(timeout: .seconds(10)) { (try? old.command("XINFO", "GROUPS", "events"))?.value.elements?.count == 1 })
        let client = try old.client()
        for i in 1...5 { try client.command(["XADD", "events", "*", "n", String(i)]) }
        #expect(await waitUntil(timeout: .seconds(10)) { resub.stdoutLines.count >= 5 })
        let readyz = try TestHTTP.request(port: admin, path: "/readyz")
        #expect(readyz.text.contains("\"master\":\"127.0.0.1:\(old.port)\""))
        // Everything the sink took is acknowledged, and the replica has it before the failover.
        #expect(await waitUntil(timeout: .seconds(5)) { (try? old.command("XPENDING", "events", "g"))?.value.elements?.first?.int == 0 })
        try client.command(["WAIT", "1", "2000"])
        try group.sentinels[0].command(["SENTINEL", "FAILOVER", "mymaster"])
        let promoted = try group.waitForPromotion(from: old.port)
        let newClient = try promoted.client()
        for i in 6...10 { try newClient.command(["XADD", "events", "*", "n", String(i)]) }
        #expect(await waitUntil(timeout: .seconds(10)) { Set(resub.stdoutLines).count >= 10 }, "\(resub.diagnostics)")
        let numbers = Set(resub.stdoutLines.compactMap { line -> String? in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]).flatMap { ($0?["fields"] as? [String: String])?["n"] }
        })
        #expect(numbers == Set((1...10).map(String.init)))
        #expect(await waitUntil(timeout: .seconds(5)) { (try? promoted.command("XPENDING", "events", "g"))?.value.elements?.first?.int == 0 })
        let after = try TestHTTP.request(port: admin, path: "/readyz")
        #expect(after.text.contains("\"master\":\"127.0.0.1:\(promoted.port)\""), "\(after.text)")
    }

    @Test("--emit-gaps across a SENTINEL FAILOVER: one gap record names the new master, between the messages before and after")
    func gapRecordAcrossFailover() async throws {
        let group = try RedisSentinelGroup()
        defer { group.stop() }
        let resub = try ServiceProcess([
            "--sentinel", group.sentinelAddresses[0], "--sentinel", group.sentinelAddresses[1], "--sentinel-master", "mymaster",
            "--channel", "news", "--emit-gaps", "--reconnect-min", "0.05", "--reconnect-max", "1",
        ])
        defer { resub.stop() }
        let old = group.nodes[0]
        func published(_ payload: String, on node: RedisServer) async -> Bool {
            guard let client = try? node.client() else { return false }
            return await waitUntil(timeout: .seconds(10)) {
                _ = try? client.publish("news", payload)
                try? await Task.sleep(for: .milliseconds(100))
                return resub.stdoutLines.contains { $0.contains("\"\(payload)\"") }
            }
        }
        #expect(await published("before", on: old), "\(resub.diagnostics)")
        try group.sentinels[0].command(["SENTINEL", "FAILOVER", "mymaster"])
        let promoted = try group.waitForPromotion(from: old.port)
        #expect(await published("after", on: promoted), "\(resub.diagnostics)")
        let lines = resub.stdoutLines
        let gaps = lines.enumerated().filter { $0.element.contains("\"type\":\"gap\"") }
        #expect(gaps.count == 1, "\(lines)")
        let gap = try #require(gaps.first)
        #expect(gap.element.contains("\"node\":\"127.0.0.1:\(promoted.port)\""), "\(gap.element)")
        #expect(gap.element.contains("\"channels\":[\"news\"]"), "\(gap.element)")
        let before = try #require(lines.firstIndex { $0.contains("\"before\"") })
        let after = try #require(lines.firstIndex { $0.contains("\"after\"") })
        #expect(before < gap.offset && gap.offset < after)
    }
}
