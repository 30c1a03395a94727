import Foundation
import LibeventLoop
import Resub
import RESP
import Synchronization
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

// Integration tests of the health monitor and reconnection against real redis-server processes on free
// loopback ports (plus a garbage server, a blackhole proxy and a closed port). Small intervals keep them
// short: PING after 0.5 s idle, dead 0.5 s later, reconnect after 50 ms … 500 ms.
//
// Serialized: they measure detection times and CPU time, which parallel tests on a 2-core machine would
// distort. Blocking work (killing and restarting servers, admin queries, the publisher) runs on threads of
// its own, never on the cooperative pool that consumes the subscriber's streams.

private let pingInterval = Duration.milliseconds(500)
private let pingTimeout = Duration.milliseconds(500)
private let backoff = BackoffConfiguration(minimum: .milliseconds(50), maximum: .milliseconds(500))
/// Allowed on top of pingInterval + pingTimeout for timer and scheduling slop.
private let detectionMargin = Duration.seconds(1)

private func configuration(port: Int, _ subscriptions: SubscriptionSet = .init(), replayBatchSize: Int = 1000) throws -> SubscriberConfiguration {
    var c = try SubscriberConfiguration(url: "redis://127.0.0.1:\(port)")
    c.initialSubscriptions = subscriptions
    c.replayBatchSize = replayBatchSize
    c.health = HealthConfiguration(pingInterval: pingInterval, pingTimeout: pingTimeout, backoff: backoff)
    c.connectTimeout = .seconds(2)
    return c
}

// MARK: - Tests

@Suite("Reconnection against real servers", .serialized)
struct ReconnectIntegrationTests {
    @Test("five kills and restarts lose nothing published after each restoration, duplicate nothing, and report a resubscription and a gap per outage", .timeLimit(.minutes(1)))
    func killAndRestart() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let streams = SubscriptionSet(channels: ["seq.chan"], patterns: ["seqp.*"], shardChannels: ["seq.shard"])
        let recorder = SubscriberRecorder(configuration: try configuration(port: server.port, streams))
        let publisher = ReconnectPublisher(port: server.port, channel: "seq.chan", patternChannel: "seqp.a", shardChannel: "seq.shard")
        defer { publisher.stop() }
        let outages = 5
        var windows: [Range<Int>] = []  // sequence numbers that must all arrive
        var kills: [(killed: Double, restarted: Double)] = []
        do {
            publisher.start()
            for round in 0...outages {
                let restored = try await eventually(timeout: .seconds(10)) { try await offPool { try Self.restored(server) } }
                try #require(restored, "subscriptions not restored in round \(round)")
                let from = publisher.next
                try await Task.sleep(for: .milliseconds(300))
                // The window ends at a pause long enough for its last messages to reach the subscriber: a
                // PUBLISH acknowledged just before a SIGKILL may never have been written to the subscriber.
                let until = try #require(await publisher.pause(), "the publisher did not pause")
                try await Task.sleep(for: .milliseconds(200))
                windows.append(from..<until)
                publisher.resume()
                guard round < outages else { break }
                // Killed and restarted while the publisher keeps going (its failures and reconnects included).
                try await Task.sleep(for: .milliseconds(50))
                let killed = Date().timeIntervalSince1970
                try await offPool { try server.restart() }
                kills.append((killed, Date().timeIntervalSince1970))
            }
            publisher.stop()
            let required = windows.reduce(0) { $0 + $1.count }
            try #require(required > 6 * 10, "the publisher published too little: \(windows)")
            // Bounded wait until every required message arrived on every stream.
            _ = try await eventually(timeout: .seconds(5)) {
                let delivered = recorder.sequences()
                return [MessageKind.message, .pmessage, .smessage].allSatisfy { kind in
                    let got = Set(delivered[kind] ?? [])
                    return windows.allSatisfy { $0.allSatisfy(got.contains) }
                }
            }
        } catch {
            await recorder.finish()
            throw error
        }
        await recorder.finish()

        let delivered = recorder.sequences()
        for kind in [MessageKind.message, .pmessage, .smessage] {
            let seqs = delivered[kind] ?? []
            let got = Set(seqs)
            #expect(got.count == seqs.count, "\(kind.name): \(seqs.count - got.count) duplicates")
            #expect(zip(seqs, seqs.dropFirst()).allSatisfy { $0 < $1 }, "\(kind.name): out of order")
            for (round, window) in windows.enumerated() {
                let missing = window.filter { !got.contains($0) }
                #expect(missing.isEmpty, "\(kind.name), after restoration \(round): \(missing.count) of \(window.count) missing, first \(missing.prefix(5))")
            }
        }
        let events = recorder.events()
        let resubscribed = events.filter { if case .resubscribed = $0.event { true } else { false } }
        let gaps = events.compactMap { if case .gap(let gap) = $0.event { gap } else { nil } }
        #expect(resubscribed.count == outages + 1, "one resubscription for the first connection and one per outage")
        #expect(gaps.count == outages)
        for (gap, kill) in zip(gaps, kills) {
            // A kill is seen at once (EOF or reset): the gap starts at the kill and ends after the restart.
            #expect(gap.from >= kill.killed - 0.05 && gap.from <= kill.killed + 0.5, "gap from \(gap.from), killed at \(kill.killed)")
            // It ends once the replay on the restarted server is confirmed: after the kill, and soon after the
            // restart. (Not compared with `restarted` itself: that is taken when `restart()` has returned to this
            // task, which on a loaded machine can be after resub already reconnected and replayed.)
            #expect(gap.to > kill.killed && gap.to <= kill.restarted + 2, "gap to \(gap.to), killed at \(kill.killed), restarted at \(kill.restarted)")
            #expect(gap.subscriptions == streams)
        }
        for event in resubscribed {
            if case .resubscribed(_, let c, let p, let s, _) = event.event { #expect(c == 1 && p == 1 && s == 1) }
        }
    }

    @Test("a frozen server is declared dead within ping interval plus ping timeout, attempts to it time out in the handshake, and traffic resumes after it thaws", .timeLimit(.minutes(1)))
    func frozenServer() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let recorder = SubscriberRecorder(configuration: try configuration(port: server.port, .init(channels: ["frozen"])))
        do {
            try #require(await recorder.waitForEvent(timeout: .seconds(5), where: Self.isResubscribed) != nil)
            try await offPool { _ = try server.command("PUBLISH", "frozen", "before") }
            try #require(await recorder.waitForMessage(timeout: .seconds(3)) { $0.payloadString == "before" })

            let frozenAt = ContinuousClock.now
            server.freeze()
            let dead = await recorder.waitForEvent(timeout: .seconds(5)) { event in
                if case .stateChanged(_, .healthy, .waitingToReconnect, let reason) = event { reason?.code == .timeout } else { false }
            }
            guard let declared = dead else {
                server.thaw()
                Issue.record("never declared dead")
                await recorder.finish()
                return
            }
            let detection = frozenAt.duration(to: declared.at)
            #expect(detection <= pingInterval + pingTimeout + detectionMargin, "declared dead after \(detection)")

            // The kernel still accepts connections for the frozen server; they must die in the handshake.
            try await Task.sleep(until: frozenAt + .milliseconds(3_500))
            server.thaw()
            let handshakeTimeouts = recorder.events().filter { seen in
                if case .stateChanged(_, .handshaking, .waitingToReconnect, let reason) = seen.event { reason?.code == .timeout } else { false }
            }
            #expect(handshakeTimeouts.count >= 1, "\(Self.summary(recorder.events().map(\.event)))")

            try #require(await recorder.waitForEvent(after: declared.index, timeout: .seconds(5), where: Self.isResubscribed) != nil, "no resubscription after the thaw")
            try await offPool { _ = try server.command("PUBLISH", "frozen", "after") }
            #expect(await recorder.waitForMessage(timeout: .seconds(3)) { $0.payloadString == "after" })
            let gaps = recorder.events().compactMap { if case .gap(let gap) = $0.event { gap } else { nil } }
            #expect(gaps.count == 1)
            #expect(gaps.first.map { $0.to - $0.from >= 3 } == true, "the gap covers the freeze: \(gaps)")
        } catch {
            server.thaw()
            await recorder.finish()
            throw error
        }
        await recorder.finish()
    }

    @Test("a half-open network (a proxy that silently stops forwarding) is declared dead in time, then the link reconnects through the proxy", .timeLimit(.minutes(1)))
    func halfOpenNetwork() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let proxy = try BlackholeProxy(targetPort: server.port)
        defer { proxy.stop() }
        let recorder = SubscriberRecorder(configuration: try configuration(port: proxy.port, .init(channels: ["half"])))
        do {
            try #require(await recorder.waitForEvent(timeout: .seconds(5), where: Self.isResubscribed) != nil)
            try await offPool { _ = try server.command("PUBLISH", "half", "through the proxy") }
            try #require(await recorder.waitForMessage(timeout: .seconds(3)) { $0.payloadString == "through the proxy" })
            #expect(proxy.acceptedCount == 1)

            let blackholedAt = ContinuousClock.now
            proxy.blackhole()
            let declared = try #require(await recorder.waitForEvent(timeout: .seconds(5)) { event in
                if case .stateChanged(_, _, .waitingToReconnect, let reason) = event { reason?.code == .timeout } else { false }
            }, "never declared dead")
            let detection = blackholedAt.duration(to: declared.at)
            #expect(detection <= pingInterval + pingTimeout + detectionMargin, "declared dead after \(detection)")

            try #require(await recorder.waitForEvent(after: declared.index, timeout: .seconds(5), where: Self.isResubscribed) != nil, "no resubscription through the proxy")
            #expect(proxy.acceptedCount >= 2)
            #expect(proxy.forwardingCount >= 1)
            try await offPool { _ = try server.command("PUBLISH", "half", "after the blackhole") }
            #expect(await recorder.waitForMessage(timeout: .seconds(3)) { $0.payloadString == "after the blackhole" })
        } catch {
            await recorder.finish()
            throw error
        }
        await recorder.finish()
    }

    @Test("100,000 channels, 1,000 patterns and 1,000 shard channels are all confirmed again after a kill and restart", .timeLimit(.minutes(1)))
    func largeReplay() async throws {
        let started = ContinuousClock.now
        let server = try RedisServer()
        defer { server.stop() }
        let desired = SubscriptionSet(
            channels: Set((0..<100_000).map { "ch:\($0)" }),
            patterns: Set((0..<1_000).map { "pat:\($0):*" }),
            shardChannels: Set((0..<1_000).map { "sh:\($0)" }))
        let recorder = SubscriberRecorder(configuration: try configuration(port: server.port, desired, replayBatchSize: 1_000))
        do {
            for round in 0..<2 {
                let replayed = try await eventually(timeout: .seconds(8)) {
                    recorder.events().filter { Self.isResubscribed($0.event) }.count > round
                }
                try #require(replayed, "replay \(round) did not complete; events: \(Self.summary(recorder.events().map(\.event)))")
                let resubscribed = recorder.events().filter { Self.isResubscribed($0.event) }
                if case .resubscribed(_, let c, let p, let s, let duration) = resubscribed[round].event {
                    #expect(c == 100_000 && p == 1_000 && s == 1_000, "\(c) \(p) \(s)")
                    #expect(duration < .seconds(5), "replay \(round) took \(duration)")
                }
                let counts = try await offPool { try Self.serverCounts(server) }
                #expect(counts.channels == 100_000)
                #expect(counts.patterns == 1_000)
                #expect(counts.shardChannels == 1_000)
                #expect(counts.clientSub == 100_000 && counts.clientPsub == 1_000 && counts.clientSsub == 1_000, "CLIENT LIST: \(counts)")
                #expect(counts.sampleSubscribers.allSatisfy { $0 == 1 }, "PUBSUB NUMSUB / SHARDNUMSUB on a sample: \(counts.sampleSubscribers)")
                if round == 0 { try await offPool { try server.restart() } }
            }
        } catch {
            await recorder.finish()
            throw error
        }
        await recorder.finish()
        let elapsed = started.duration(to: .now)
        #expect(elapsed < .seconds(20), "took \(elapsed)")
    }

    @Test("a server that answers garbage makes the link fail with protocol errors and retry, without crashing, and shutdown returns promptly", .timeLimit(.minutes(1)))
    func garbageServer() async throws {
        let garbage = try GarbageServer()
        defer { garbage.stop() }
        let recorder = SubscriberRecorder(configuration: try configuration(port: garbage.port, .init(channels: ["never"])))
        let retried = (try? await eventually(timeout: .seconds(5)) { garbage.acceptedCount >= 3 }) ?? false
        let shutdownStarted = ContinuousClock.now
        await recorder.finish()
        let shutdownTook = shutdownStarted.duration(to: .now)
        #expect(retried, "accepted \(garbage.acceptedCount) connections")
        #expect(shutdownTook < .seconds(1), "shutdown took \(shutdownTook)")

        let events = recorder.events().map(\.event)
        let reasons = events.compactMap { if case .disconnected(_, let reason) = $0 { reason } else { nil } }
        #expect(reasons.count >= 2)
        #expect(reasons.allSatisfy { $0.code == .protocolError }, "\(reasons.map(\.code))")
        #expect(!events.contains { if case .connected = $0 { true } else { false } })
        #expect(events.last == .shutdown)
    }

    @Test("a port nobody listens on is retried with growing delays and little CPU", .timeLimit(.minutes(1)))
    func unreachablePort() async throws {
        let port = try RedisServer.freePort()
        let recorder = SubscriberRecorder(configuration: try configuration(port: port, .init(channels: ["nobody"])))
        // The CPU is measured on a resub process of its own: this test process runs other suites at the same
        // time, so its own CPU time says nothing about this subscriber.
        let service = try ServiceProcess(["--url", "redis://127.0.0.1:\(port)", "--channel", "nobody", "--reconnect-max", "1"])
        defer { service.stop() }
        try? await Task.sleep(for: .seconds(3))
        let cpu = try Self.cpuSeconds(pid: service.pid)
        await recorder.finish()

        let events = recorder.events().map(\.event)
        let attempts = events.filter { if case .connecting = $0 { true } else { false } }.count
        let scheduled = events.compactMap { if case .reconnectScheduled(_, let n, let delay) = $0 { (attempt: n, delay: delay) } else { nil } }
        #expect(attempts >= 3 && attempts < 30, "\(attempts) connection attempts in 3 s")
        #expect(scheduled.map(\.attempt) == Array(0..<scheduled.count), "attempt numbers count up")
        for (n, delay) in scheduled {
            let ceiling = Backoff.ceiling(attempt: n, configuration: backoff)
            #expect(delay >= backoff.minimum - .microseconds(1) && delay <= ceiling + .microseconds(1), "attempt \(n): \(delay) outside \(backoff.minimum)…\(ceiling)")
        }
        if let first = scheduled.first, let last = scheduled.last {
            #expect(Backoff.ceiling(attempt: last.attempt, configuration: backoff) > Backoff.ceiling(attempt: first.attempt, configuration: backoff))
        }
        let failures = events.compactMap { if case .disconnected(_, let reason) = $0 { reason.code } else { nil } }
        #expect(failures.allSatisfy { $0 == .connectionFailed }, "\(failures)")
        #expect(cpu < 0.5, "\(cpu) s of CPU in 3 s")
    }

    // MARK: Helpers

    /// The events other than `subscribed`, and how many `subscribed` there were, for failure messages.
    static func summary(_ events: [SubscriberEvent]) -> String {
        let subscribed = events.filter { if case .subscribed = $0 { true } else { false } }.count
        let others = events.filter { if case .subscribed = $0 { false } else { true } }.map(\.description)
        return "\(subscribed) subscribed; " + others.suffix(30).joined(separator: " | ")
    }

    static func isResubscribed(_ event: SubscriberEvent) -> Bool {
        if case .resubscribed = event { true } else { false }
    }

    /// Whether the server holds the three subscriptions of the kill test again.
    static func restored(_ server: RedisServer) throws -> Bool {
        let client = try SyncRedisClient(port: server.port, timeout: 1)
        let replies = try client.pipeline([
            ["PUBSUB", "NUMSUB", "seq.chan"], ["PUBSUB", "NUMPAT"], ["PUBSUB", "SHARDNUMSUB", "seq.shard"],
        ])
        return replies[0].elements?.last?.int == 1 && replies[1].int == 1 && replies[2].elements?.last?.int == 1
    }

    struct ServerCounts: Sendable, CustomStringConvertible {
        var channels = -1, patterns = -1, shardChannels = -1
        var clientSub = -1, clientPsub = -1, clientSsub = -1
        var sampleSubscribers: [Int] = []
        var description: String { "sub=\(clientSub) psub=\(clientPsub) ssub=\(clientSsub)" }
    }

    /// INFO stats, CLIENT LIST TYPE pubsub, and NUMSUB / SHARDNUMSUB on 100 channels and 20 shard channels.
    static func serverCounts(_ server: RedisServer) throws -> ServerCounts {
        let client = try SyncRedisClient(port: server.port, timeout: 5)
        var counts = ServerCounts()
        let info = try client.command("INFO", "stats").string ?? ""
        func field(_ text: String, _ name: String, separator: Character) -> Int {
            // `isNewline`, not "\r" or "\n": Swift reads "\r\n" as one Character.
            for part in text.split(whereSeparator: { $0 == separator || $0.isNewline }) where part.hasPrefix(name + "=") || part.hasPrefix(name + ":") {
                return Int(part.dropFirst(name.count + 1)) ?? -1
            }
            return -1
        }
        counts.channels = field(info, "pubsub_channels", separator: "\n")
        counts.patterns = field(info, "pubsub_patterns", separator: "\n")
        counts.shardChannels = field(info, "pubsubshard_channels", separator: "\n")
        let clients = try client.command("CLIENT", "LIST", "TYPE", "pubsub").string ?? ""
        counts.clientSub = field(clients, "sub", separator: " ")
        counts.clientPsub = field(clients, "psub", separator: " ")
        counts.clientSsub = field(clients, "ssub", separator: " ")
        let channels = stride(from: 0, to: 100_000, by: 1_000).map { "ch:\($0)" }
        let shards = stride(from: 0, to: 1_000, by: 50).map { "sh:\($0)" }
        for (command, names) in [("NUMSUB", channels), ("SHARDNUMSUB", shards)] {
            let reply = try client.command(["PUBSUB", command] + names).elements ?? []
            counts.sampleSubscribers += stride(from: 1, to: reply.count, by: 2).map { Int(reply[$0].int ?? -1) }
            if reply.count != names.count * 2 { counts.sampleSubscribers.append(-1) }
        }
        return counts
    }

    /// User plus system CPU time of this process so far.
    /// User + system CPU seconds of process `pid`, from /proc/PID/stat (fields 14 and 15, in clock ticks).
    static func cpuSeconds(pid: Int32) throws -> Double {
        let text = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = text[text.index(after: try #require(text.lastIndex(of: ")")))...].split(separator: " ")
        // After the command's closing parenthesis: state is field 3, so utime (14) and stime (15) are at 11 and 12.
        let ticks = try #require(Double(fields[11])) + #require(Double(fields[12]))
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

// MARK: - Support

/// A subscriber whose events and messages are consumed by two tasks and kept, with the time each event
/// arrived. ``finish()`` shuts the subscriber down and waits for both tasks.
final class SubscriberRecorder: Sendable {
    let subscriber: Subscriber
    private let seenEvents = Mutex<[(at: ContinuousClock.Instant, event: SubscriberEvent)]>([])
    private let seenMessages = Mutex<[Message]>([])
    private let consumers = Mutex<[Task<Void, Never>]>([])

    init(configuration: SubscriberConfiguration) {
        let subscriber = Subscriber(configuration: configuration)
        self.subscriber = subscriber
        let events = Task { [self] in
            for await event in subscriber.events {
                seenEvents.withLock { $0.append((.now, event)) }
            }
        }
        let messages = Task { [self] in
            for await batch in subscriber.batches {
                seenMessages.withLock { $0 += Array(batch) }
            }
        }
        consumers.withLock { $0 = [events, messages] }
    }

    /// Every event so far, with its arrival time.
    func events() -> [(at: ContinuousClock.Instant, event: SubscriberEvent)] { seenEvents.withLock { $0 } }

    /// Every message so far.
    func messages() -> [Message] { seenMessages.withLock { $0 } }

    /// The integer payloads per message kind, in arrival order.
    func sequences() -> [MessageKind: [Int]] {
        var result: [MessageKind: [Int]] = [:]
        for message in messages() {
            if let n = message.payloadString.flatMap({ Int($0) }) { result[message.kind, default: []].append(n) }
        }
        return result
    }

    /// Waits (polling every 5 ms, at most `timeout`) for an event at an index ≥ `after` + 1 (any event when
    /// `after` is nil) that matches `predicate`; returns its index and arrival time.
    func waitForEvent(
        after: Int? = nil, timeout: Duration, where predicate: (SubscriberEvent) -> Bool
    ) async -> (index: Int, at: ContinuousClock.Instant, event: SubscriberEvent)? {
        let deadline = ContinuousClock.now + timeout
        let start = (after ?? -1) + 1
        for _ in 0..<100_000 {
            let events = self.events()
            if start < events.count, let i = events[start...].firstIndex(where: { predicate($0.event) }) {
                return (i, events[i].at, events[i].event)
            }
            guard ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    /// Waits (at most `timeout`) for a message matching `predicate`.
    func waitForMessage(timeout: Duration, where predicate: @escaping (Message) -> Bool) async -> Bool {
        (try? await eventually(timeout: timeout) { self.messages().contains(where: predicate) }) ?? false
    }

    /// Shuts the subscriber down and waits for the consumers (they end when its streams finish).
    func finish() async {
        await subscriber.shutdown()
        let tasks = consumers.withLock { $0 }
        for task in tasks { await task.value }
    }
}

/// Publishes the same increasing sequence number to a channel, a pattern-matched channel and a shard
/// channel (one pipelined write each round, about every 2 ms), on a thread of its own, reconnecting after
/// failures. It can be paused, which it acknowledges between rounds so that every number below ``next``
/// has been published (or failed) by then. It ends on ``stop()`` or after two minutes.
final class ReconnectPublisher: Sendable {
    private struct State {
        var next = 0
        var paused = false
        var idle = false
        var stopped = false
        var running = false
    }

    private let state = Mutex(State())
    private let port: Int
    private let commands: @Sendable (Int) -> [[String]]

    init(port: Int, channel: String, patternChannel: String, shardChannel: String) {
        self.port = port
        commands = { n in
            [["PUBLISH", channel, String(n)], ["PUBLISH", patternChannel, String(n)], ["SPUBLISH", shardChannel, String(n)]]
        }
    }

    /// The next number to be published.
    var next: Int { state.withLock { $0.next } }

    func start() {
        state.withLock { $0.running = true }
        ThreadStarter.detach(name: "sequence-publisher") { [self] in run() }
    }

    /// Pauses; returns ``next`` once the thread is idle (every smaller number was sent), nil if it did not
    /// acknowledge within 2 s.
    func pause() async -> Int? {
        state.withLock {
            $0.paused = true
            $0.idle = false
        }
        let idle = (try? await eventually(timeout: .seconds(2)) { self.state.withLock { $0.idle || !$0.running } }) ?? false
        return idle ? next : nil
    }

    func resume() {
        state.withLock { $0.paused = false }
    }

    /// Stops the thread and waits (at most 2 s) for it to end. Idempotent.
    func stop() {
        state.withLock { $0.stopped = true }
        let deadline = Date().addingTimeInterval(2)
        while state.withLock({ $0.running }) && Date() < deadline { usleep(2_000) }
    }

    private func run() {
        defer { state.withLock { $0.running = false } }
        let deadline = Date().addingTimeInterval(120)
        var client: SyncRedisClient?
        while Date() < deadline {
            let (stopped, paused) = state.withLock { s in
                if s.paused { s.idle = true }
                return (s.stopped, s.paused)
            }
            if stopped { return }
            if paused {
                usleep(1_000)
                continue
            }
            let n = state.withLock { s in
                defer { s.next += 1 }
                return s.next
            }
            do {
                if client == nil { client = try SyncRedisClient(port: port, timeout: 1) }
                _ = try client?.pipeline(commands(n))
                usleep(2_000)
            } catch {
                client = nil
                usleep(10_000)
            }
        }
    }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passed; whether it held.
func eventually(timeout: Duration, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    for _ in 0..<100_000 {
        if try await condition() { return true }
        guard ContinuousClock.now < deadline else { return false }
        try await Task.sleep(for: .milliseconds(10))
    }
    return false
}

/// Runs blocking work on a thread of its own, off the cooperative pool.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        ThreadStarter.detach(name: "test-off-pool") { continuation.resume(with: Result { try body() }) }
    }
}
