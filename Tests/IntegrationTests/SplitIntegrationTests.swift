import Foundation
import Resub
import Synchronization
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The instances of one split group (`--cluster --slots auto`), each a real `resub` executable, all on one
/// 3-master + 3-replica cluster, subscribed to the same shard channels (spread over every master).
private final class SplitGroup: Sendable {
    static let ttl = 2.0
    let cluster: RedisCluster
    let channels: [String]
    let group: String
    /// More options for every member (e.g. a keyspace pattern).
    let extra: [String]
    private let members = Mutex<[(process: ServiceProcess, admin: Int)]>([])

    init(cluster: RedisCluster, channels: [String], group: String, extra: [String] = []) {
        self.cluster = cluster
        self.channels = channels
        self.group = group
        self.extra = extra
    }

    var instances: [(process: ServiceProcess, admin: Int)] { members.withLock { $0 } }
    var running: [(process: ServiceProcess, admin: Int)] { instances.filter { $0.process.isRunning } }

    /// Starts one more member and waits for its admin port.
    @discardableResult
    func start() async throws -> ServiceProcess {
        let seeds = try cluster.masters().flatMap { ["--url", cluster.url($0)] }
        let process = try ServiceProcess(
            seeds + ["--cluster", "--slots", "auto", "--split-group", group, "--member-ttl", String(Self.ttl),
                     "--ping-interval", "0.5", "--ping-timeout", "0.5", "--reconnect-min", "0.05", "--reconnect-max", "0.3",
                     "--admin", "127.0.0.1:0"] + channels.flatMap { ["--shard-channel", $0] } + extra)
        let admin = try await process.adminPort()
        members.withLock { $0.append((process, admin)) }
        return process
    }

    func stopAll() { for member in instances { member.process.stop() } }

    /// The `split` object of a member's /readyz.
    func status(_ admin: Int) -> [String: Any]? {
        guard let response = try? TestHTTP.request(port: admin, path: "/readyz", timeout: 1),
              let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else { return nil }
        return object["split"] as? [String: Any]
    }

    /// The slots a member reports serving.
    func slots(_ admin: Int) -> Set<Int>? {
        guard let ranges = status(admin)?["ranges"] as? String else { return nil }
        if ranges.isEmpty { return [] }
        guard let parsed = try? SlotRanges(parsing: ranges) else { return nil }
        return Set(parsed.ranges.flatMap { Array($0) })
    }

    /// The slots a member serves and has confirmed (nil while it is still subscribing some).
    func confirmedSlots(_ admin: Int) -> Set<Int>? {
        guard status(admin)?["acquiring_blocks"] as? Int == 0 else { return nil }
        return slots(admin)
    }

    /// Settled: every running member holds its lease with no handoff under way, sees them all, and their
    /// ranges cover every slot exactly once; one of them serves the plain channels.
    func isSettled() -> Bool {
        let live = running
        var covered = 0
        var union = Set<Int>()
        var broadcasters = 0
        for member in live {
            guard let status = status(member.admin), status["settled"] as? Bool == true,
                  status["members"] as? Int == live.count, let mine = slots(member.admin) else { return false }
            covered += mine.count
            union.formUnion(mine)
            if status["broadcast"] as? Bool == true { broadcasters += 1 }
        }
        return covered == HashSlot.count && union.count == HashSlot.count && broadcasters == 1
    }

    func waitSettled(within seconds: Double) async -> Bool {
        await waitUntil(timeout: .milliseconds(Int64(seconds * 1000))) { isSettled() }
    }

    /// How many times each payload was written, over every member (the dead ones' output included).
    func deliveries() -> [String: Int] {
        var counts: [String: Int] = [:]
        for member in instances {
            for line in member.process.stdoutLines {
                guard let start = line.range(of: "\"payload\":\"") else { continue }
                let payload = line[start.upperBound...].prefix { $0 != "\"" }
                counts[String(payload), default: 0] += 1
            }
        }
        return counts
    }

    /// SPUBLISHes `payload-channel` on every channel; returns the payloads.
    func publishRound(_ tag: String) throws -> [String] {
        try channels.map { channel in
            let payload = "\(tag)-\(channel)"
            _ = try cluster.spublish(channel, payload)
            return payload
        }
    }

    var diagnostics: String { instances.map { $0.process.diagnostics.suffix(1500) }.joined(separator: "\n----\n") }
}

/// Publishes on every channel every 50 ms from a thread of its own, recording when each payload went out.
private final class Publisher: Sendable {
    private let sent = Mutex<[(payload: String, at: ContinuousClock.Instant)]>([])
    private let running = Mutex(true)
    private let done = Mutex(false)

    init(_ group: SplitGroup, tag: String) {
        let owners = Dictionary(uniqueKeysWithValues: group.channels.map { ($0, (try? group.cluster.owner(of: $0)) ?? 0) })
        Thread { [self] in
            var n = 0
            while running.withLock({ $0 }) {
                for channel in group.channels {
                    let payload = "\(tag)\(n)-\(channel)"
                    let at = ContinuousClock.now
                    if (try? group.cluster.spublish(channel, payload, on: owners[channel]!)) != nil { sent.withLock { $0.append((payload, at)) } }
                }
                n += 1
                usleep(50_000)
            }
            done.withLock { $0 = true }
        }.start()
    }

    func stop() async -> [(payload: String, at: ContinuousClock.Instant)] {
        running.withLock { $0 = false }
        _ = await waitUntil(timeout: .seconds(5)) { done.withLock { $0 } }
        return sent.withLock { $0 }
    }
}

/// Channels named so that every master has several.
private func splitChannels(_ count: Int) -> [String] { (0..<count).map { "split-\($0)" } }

@Suite("Automatic split (--slots auto) on a real cluster", .serialized)
struct SplitIntegrationTests {
    @Test("three members share the slots, each message is delivered once; SIGTERM and SIGKILL hand over without loss; a fourth joins")
    func shareLeaveDieJoin() async throws {
        let cluster = try await offPool { try RedisCluster() }
        defer { cluster.stop() }
        let group = SplitGroup(cluster: cluster, channels: splitChannels(30), group: "it-\(getpid())")
        defer { group.stopAll() }
        for _ in 0..<3 { try await group.start() }
        try #require(await group.waitSettled(within: 10), "never settled:\n\(group.diagnostics)")

        // Settled: every SPUBLISH is delivered by exactly one member.
        let first = try group.publishRound("settled")
        #expect(await waitUntil(timeout: .seconds(5)) { first.allSatisfy { group.deliveries()[$0] != nil } })
        try? await Task.sleep(for: .milliseconds(300))
        let counts = group.deliveries()
        #expect(first.allSatisfy { counts[$0] == 1 }, "not exactly once: \(first.filter { counts[$0] != 1 }.map { "\($0)=\(counts[$0] ?? 0)" })")

        // SIGTERM one: its slots are served by the others within 2 s, and nothing published meanwhile is lost.
        let leaver = group.instances[0]
        let leaverSlots = try #require(group.slots(leaver.admin))
        let publisher = Publisher(group, tag: "term")
        try? await Task.sleep(for: .milliseconds(300))
        let termAt = ContinuousClock.now
        leaver.process.send(SIGTERM)
        let takeover = await waitUntil(timeout: .seconds(2)) {
            let others = group.running.filter { $0.process !== leaver.process }
            let served = others.reduce(into: Set<Int>()) { $0.formUnion(group.confirmedSlots($1.admin) ?? []) }
            return leaverSlots.isSubset(of: served)
        }
        let takeoverTime = ContinuousClock.now - termAt
        #expect(takeover, "the leaver's slots not served by the others within 2 s:\n\(group.diagnostics)")
        #expect(await leaver.process.waitForExit(timeout: .seconds(10)) == .exited(0))
        try? await Task.sleep(for: .milliseconds(500))
        var sent = await publisher.stop()
        try? await Task.sleep(for: .milliseconds(500))
        var delivered = group.deliveries()
        let lostOnTerm = sent.filter { delivered[$0.payload] == nil }
        #expect(lostOnTerm.isEmpty, "lost on SIGTERM: \(lostOnTerm.prefix(5).map(\.payload))")
        let duplicatedOnTerm = sent.filter { (delivered[$0.payload] ?? 0) > 1 }.count
        print("split figures: SIGTERM takeover \(takeoverTime), duplicated \(duplicatedOnTerm) of \(sent.count)")
        #expect(await group.waitSettled(within: 5), "two members never settled:\n\(group.diagnostics)")

        // A fourth (third now) member joins: it gets its share within TTL + 1 s, and nothing is lost.
        let joinPublisher = Publisher(group, tag: "join")
        let joinAt = ContinuousClock.now
        let joiner = try await group.start()
        let joined = await waitUntil(timeout: .seconds(SplitGroup.ttl + 1 + 2)) { group.isSettled() }
        #expect(joined, "the joiner did not get its share:\n\(group.diagnostics)")
        print("split figures: join settled after \(ContinuousClock.now - joinAt)")
        #expect(joiner.isRunning)
        sent = await joinPublisher.stop()
        try? await Task.sleep(for: .milliseconds(500))
        delivered = group.deliveries()
        #expect(sent.filter { delivered[$0.payload] == nil }.isEmpty, "lost during the join")

        // SIGKILL one: its slots are served within TTL + 1 s; what is published after that is not lost.
        let victim = group.running[0]
        let victimSlots = try #require(group.slots(victim.admin))
        let killPublisher = Publisher(group, tag: "kill")
        let killAt = ContinuousClock.now
        victim.process.send(SIGKILL)
        let killTakeover = await waitUntil(timeout: .seconds(SplitGroup.ttl + 1)) {
            let others = group.running.filter { $0.process !== victim.process }
            let served = others.reduce(into: Set<Int>()) { $0.formUnion(group.confirmedSlots($1.admin) ?? []) }
            return victimSlots.isSubset(of: served)
        }
        let killTime = ContinuousClock.now - killAt
        #expect(killTakeover, "the killed member's slots not served within TTL + 1 s:\n\(group.diagnostics)")
        try? await Task.sleep(for: .milliseconds(1000))
        sent = await killPublisher.stop()
        try? await Task.sleep(for: .milliseconds(500))
        delivered = group.deliveries()
        let bound = killAt + .milliseconds(Int64((SplitGroup.ttl + 1) * 1000))
        let lostAfter = sent.filter { $0.at > bound && delivered[$0.payload] == nil }
        #expect(lostAfter.isEmpty, "lost after the takeover: \(lostAfter.prefix(5).map(\.payload))")
        let lostInWindow = sent.filter { $0.at <= bound && delivered[$0.payload] == nil }.count
        print("split figures: SIGKILL takeover \(killTime), lost in the TTL window \(lostInWindow) of \(sent.count)")
        #expect(await group.waitSettled(within: 5), "never settled after the kill:\n\(group.diagnostics)")
    }

    @Test("keyspace events with a split group: one member subscribes them on every master, so each key's event is delivered once; SIGTERM of that member hands them on")
    func keyspaceEventsOnce() async throws {
        let cluster = try await offPool { try RedisCluster() }
        defer { cluster.stop() }
        let masters = try cluster.masters()
        for master in masters { _ = try cluster.command(master, ["CONFIG", "SET", "notify-keyspace-events", "E$"]) }
        let group = SplitGroup(
            cluster: cluster, channels: splitChannels(6), group: "ks-\(getpid())", extra: ["--channel", "__keyevent@0__:set"])
        defer { group.stopAll() }
        for _ in 0..<2 { try await group.start() }
        try #require(await group.waitSettled(within: 10), "never settled:\n\(group.diagnostics)")

        // Keys on every master: each SET is one keyevent message whose payload is the key.
        @Sendable func setKeys(_ tag: String) throws -> [String] {
            var keys: [String] = []
            var covered = Set<Int>()
            var n = 0
            while covered.count < masters.count || keys.count < 30 {
                let key = "\(tag)-\(n)"
                let owner = try cluster.owner(of: key)
                let reply = try cluster.command(owner, ["SET", key, "1"])
                guard !reply.isError else { throw FixtureError("SET \(key): \(reply)") }
                covered.insert(owner)
                keys.append(key)
                n += 1
            }
            return keys
        }
        @Sendable func delivered(_ keys: [String]) -> [String: Int] {
            let counts = group.deliveries()
            return Dictionary(uniqueKeysWithValues: keys.map { ($0, counts[$0] ?? 0) })
        }
        let keys = try await offPool { try setKeys("ks-split") }
        #expect(await waitUntil(timeout: .seconds(5)) { delivered(keys).values.allSatisfy { $0 >= 1 } }, "events missing:\n\(group.diagnostics)")
        try? await Task.sleep(for: .milliseconds(500))
        let counts = delivered(keys)
        #expect(counts.values.allSatisfy { $0 == 1 }, "not exactly once across the group: \(counts.filter { $0.value != 1 })")
        // Only the member that serves the plain channels holds keyevent subscriptions: one per master in all.
        for master in masters {
            #expect(try cluster.command(master, ["PUBSUB", "NUMSUB", "__keyevent@0__:set"]).elements?.last?.int == 1, "subscribers on \(master)")
        }

        // SIGTERM the member serving them: the other takes them over, and events keep arriving once.
        let holder = try #require(group.instances.first { group.status($0.admin)?["broadcast"] as? Bool == true })
        holder.process.send(SIGTERM)
        #expect(await holder.process.waitForExit(timeout: .seconds(10)) == .exited(0))
        try #require(await group.waitSettled(within: 5), "the survivor never settled:\n\(group.diagnostics)")
        let after = try await offPool { try setKeys("ks-after") }
        #expect(await waitUntil(timeout: .seconds(5)) { delivered(after).values.allSatisfy { $0 >= 1 } }, "events after the handoff missing")
        try? await Task.sleep(for: .milliseconds(300))
        #expect(delivered(after).values.allSatisfy { $0 == 1 }, "after the handoff: \(delivered(after).filter { $0.value != 1 })")
    }

    @Test("a member frozen longer than the TTL drops its slots when it wakes; a master fails over during a join; settled again with one owner per slot")
    func freezeAndFailover() async throws {
        let cluster = try await offPool { try RedisCluster() }
        defer { cluster.stop() }
        let group = SplitGroup(cluster: cluster, channels: splitChannels(30), group: "fz-\(getpid())")
        defer { group.stopAll() }
        for _ in 0..<3 { try await group.start() }
        try #require(await group.waitSettled(within: 10), "never settled:\n\(group.diagnostics)")

        let frozen = group.instances[1]
        frozen.process.send(SIGSTOP)
        // The others take its slots once its lease expired (they cannot ask it).
        let others = group.instances.filter { $0.process !== frozen.process }
        let covered = await waitUntil(timeout: .seconds(SplitGroup.ttl + 1)) {
            others.reduce(into: Set<Int>()) { $0.formUnion(group.confirmedSlots($1.admin) ?? []) }.count == HashSlot.count
        }
        #expect(covered, "the frozen member's slots were not taken over:\n\(group.diagnostics)")
        try? await Task.sleep(for: .milliseconds(Int64(SplitGroup.ttl * 1000)))
        frozen.process.send(SIGCONT)
        #expect(await frozen.process.waitForStderr("lease lost", timeout: .seconds(3)), "the woken member did not drop its slots:\n\(frozen.process.diagnostics)")
        #expect(await group.waitSettled(within: 6), "not settled after the wake-up (two owners?):\n\(group.diagnostics)")

        // A master fails over (maybe the one holding the group's keys) while a fourth member joins: the group
        // settles again, one owner per slot, and delivers once.
        let victim = try cluster.masters()[0]
        try cluster.kill(victim)
        let joiner = try await group.start()
        _ = try await offPool { try cluster.waitForFailover(of: victim, timeout: 30) }
        #expect(joiner.isRunning)
        #expect(await group.waitSettled(within: 15), "not settled after the failover:\n\(group.diagnostics)")
        let payloads = try group.publishRound("after-failover")
        #expect(await waitUntil(timeout: .seconds(5)) { payloads.allSatisfy { group.deliveries()[$0] != nil } }, "not delivered after the failover:\n\(group.diagnostics)")
        try? await Task.sleep(for: .milliseconds(300))
        let counts = group.deliveries()
        #expect(payloads.allSatisfy { counts[$0] == 1 }, "not exactly once after the failover")
    }
}
