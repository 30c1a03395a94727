import Foundation
import LibeventLoop
import RESP
import Resub
import Synchronization
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

// Blocking stream reads and disconnect semantics against real redis-server processes on free loopback
// ports: BlockingConnection (disconnect / unblock / quit), ResubClient.shutdown(deadline:), and
// BlockingReader (plain XREAD across server restarts, consumer groups, liveness of a blocked read).
//
// Serialized, with StreamServiceTests, under StreamIntegrationTests: several tests measure latencies and count
// the process's threads and file descriptors, which tests running at the same time would disturb. Blocking
// work (admin queries, killing and restarting servers, the publisher) runs on threads of its own, never on the
// cooperative pool.
//
// Three tests guard fixed bugs: a side connection's waiter dropped by disconnect() (BlockingConnection.unblock
// and BlockingReader.acknowledge hung), and claimIdle claiming only once per connection.

private let readerPingInterval = Duration.milliseconds(500)
private let readerPingTimeout = Duration.milliseconds(500)
private let readerBackoff = BackoffConfiguration(minimum: .milliseconds(50), maximum: .milliseconds(500))

private func endpoint(_ port: Int) throws -> RedisEndpoint {
    try RedisEndpoint(url: "redis://127.0.0.1:\(port)")
}

private func readerConfiguration(
    port: Int, streams: [(key: String, start: String)], group: StreamReaderConfiguration.Group? = nil,
    clientName: String, block: Duration = .seconds(10)
) throws -> StreamReaderConfiguration {
    StreamReaderConfiguration(
        endpoint: try endpoint(port), streams: streams, group: group, clientName: clientName, count: 100, block: block,
        health: HealthConfiguration(pingInterval: readerPingInterval, pingTimeout: readerPingTimeout, backoff: readerBackoff),
        connectTimeout: .seconds(2))
}

private func fieldsOf(_ pairs: [(String, String)]) -> [StreamEntry.Field] {
    pairs.map { StreamEntry.Field(name: $0.0, value: Array($0.1.utf8)) }
}

// MARK: - Process-wide resources

/// The tids and names of this process's threads.
private func threads() -> [(tid: String, name: String)] {
    let tids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return tids.compactMap { tid in
        guard let comm = try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8) else { return nil }
        return (tid, comm.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// This process's threads named `resub-*`, as "tid:name".
private func resubThreads() -> Set<String> {
    Set(threads().filter { $0.name.hasPrefix("resub-") }.map { "\($0.tid):\($0.name)" })
}

/// This process's open file descriptors and what they point to.
private func openFDs() -> [Int: String] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    var result: [Int: String] = [:]
    for entry in entries {
        guard let fd = Int(entry) else { continue }
        var buffer = [CChar](repeating: 0, count: 256)
        let n = readlink("/proc/self/fd/\(entry)", &buffer, buffer.count - 1)
        // The directory listing's own fd is gone by now: readlink fails for it and it is not counted.
        guard n > 0 else { continue }
        result[fd] = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    return result
}

/// A /proc file read to its end (their size is 0 to stat, so reading "the file's size" gets only a part).
private func readWholeFile(_ path: String) -> String {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 << 10)
    for _ in 0..<1_000 {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { break }
        bytes += chunk[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// This process's TCP sockets connected to 127.0.0.1:`port` (their inodes): /proc/self/net/tcp lists the
/// whole network namespace, so only sockets whose inode is one of our descriptors count.
private func socketsConnected(toPort port: Int) -> [String] {
    let ours = Set(openFDs().values.compactMap { $0.hasPrefix("socket:[") ? String($0.dropFirst(8).dropLast()) : nil })
    let table = readWholeFile("/proc/self/net/tcp")
    return table.split(whereSeparator: \.isNewline).dropFirst().compactMap { line in
        let columns = line.split(separator: " ")
        guard columns.count > 9, let remotePort = columns[2].split(separator: ":").last.flatMap({ Int($0, radix: 16) }),
              remotePort == port, ours.contains(String(columns[9])) else { return nil }
        return String(columns[9])
    }
}

/// Three samples of the descriptor count 100 ms apart: whether they were all equal (nothing else in the
/// process was opening or closing descriptors).
private func descriptorsSteady() async -> Bool {
    var counts: Set<Int> = []
    for i in 0..<3 {
        if i > 0 { try? await Task.sleep(for: .milliseconds(100)) }
        counts.insert(openFDs().count)
    }
    return counts.count == 1
}

// MARK: - Waiting

/// Work started in a task whose result can be waited for with a bound (awaiting a task that never ends
/// would hang the test instead of failing it).
private final class Background<T: Sendable>: Sendable {
    private let slot = Mutex<T?>(nil)

    init(_ body: @escaping @Sendable () async -> T) {
        Task { [self] in
            let result = await body()
            slot.withLock { $0 = result }
        }
    }

    /// The result, once there is one.
    var current: T? { slot.withLock { $0 } }

    /// Waits (polling every 2 ms) at most `timeout` for the result.
    func value(within timeout: Duration) async -> T? {
        let deadline = ContinuousClock.now + timeout
        for _ in 0..<100_000 {
            if let result = current { return result }
            guard ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return nil
    }
}

/// The outcome of a command run in the background, and when it came back.
private struct Outcome: Sendable {
    var result: Result<RESPValue, ResubError>
    var at: ContinuousClock.Instant
}

/// Runs `arguments` on `connection` in the background, recording when the command came back.
private func start(_ arguments: [String], on connection: BlockingConnection) -> Background<Outcome> {
    Background {
        do throws(ResubError) {
            let reply = try await connection.command(arguments)
            return Outcome(result: .success(reply), at: .now)
        } catch {
            return Outcome(result: .failure(error), at: .now)
        }
    }
}

private func errorCode(_ outcome: Outcome?) -> ResubError.Code? {
    if case .failure(let error) = outcome?.result { error.code } else { nil }
}

// MARK: - Recorder

/// A BlockingReader (with a loop of its own) whose entries and events are consumed by two tasks and kept;
/// ``finish()`` shuts it down and waits for both tasks (they end when its sequences end).
private final class StreamReaderRecorder: Sendable {
    let reader: BlockingReader
    private let seenEntries = Mutex<[StreamEntry]>([])
    private let seenEvents = Mutex<[(at: ContinuousClock.Instant, event: SubscriberEvent)]>([])
    private let consumers = Mutex<[Task<Void, Never>]>([])

    init(_ configuration: StreamReaderConfiguration) {
        let reader = BlockingReader(configuration: configuration)
        self.reader = reader
        let entries = Task { [self] in
            for await entry in reader.entries { seenEntries.withLock { $0.append(entry) } }
        }
        let events = Task { [self] in
            for await event in reader.events { seenEvents.withLock { $0.append((.now, event)) } }
        }
        consumers.withLock { $0 = [entries, events] }
    }

    func entries() -> [StreamEntry] { seenEntries.withLock { $0 } }
    func events() -> [(at: ContinuousClock.Instant, event: SubscriberEvent)] { seenEvents.withLock { $0 } }

    /// Waits (at most `timeout`) until at least `count` entries arrived.
    func waitForEntries(_ count: Int, timeout: Duration) async -> Bool {
        (try? await eventually(timeout: timeout) { self.entries().count >= count }) ?? false
    }

    /// Waits (polling every 5 ms, at most `timeout`) for an event after index `after` matching `predicate`.
    func waitForEvent(
        after: Int? = nil, timeout: Duration, where predicate: (SubscriberEvent) -> Bool
    ) async -> (index: Int, at: ContinuousClock.Instant, event: SubscriberEvent)? {
        let deadline = ContinuousClock.now + timeout
        let first = (after ?? -1) + 1
        for _ in 0..<100_000 {
            let events = self.events()
            if first < events.count, let i = events[first...].firstIndex(where: { predicate($0.event) }) {
                return (i, events[i].at, events[i].event)
            }
            guard ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    /// Waits for the link to become healthy (after index `after`).
    func waitUntilHealthy(after: Int? = nil, timeout: Duration = .seconds(5)) async -> Int? {
        await waitForEvent(after: after, timeout: timeout) { event in
            if case .stateChanged(_, _, .healthy, _) = event { true } else { false }
        }?.index
    }

    /// The events other than entries, for failure messages.
    func summary() -> String {
        events().suffix(30).map(\.event.description).joined(separator: " | ")
    }

    func finish() async {
        await reader.shutdown()
        for task in consumers.withLock({ $0 }) { await task.value }
    }
}

/// XADDs an increasing sequence number (`seq`) to a stream about every 2 ms on a thread of its own,
/// reconnecting after failures; remembers the IDs the server acknowledged. Ends on ``stop()`` or after two
/// minutes.
private final class StreamSequencePublisher: Sendable {
    private struct State {
        var next = 0
        var acknowledged: [(seq: Int, id: String)] = []
        var stopped = false
        var running = false
    }

    private let state = Mutex(State())
    private let port: Int
    private let stream: String

    init(port: Int, stream: String) {
        self.port = port
        self.stream = stream
    }

    var acknowledged: [(seq: Int, id: String)] { state.withLock { $0.acknowledged } }

    func start() {
        state.withLock { $0.running = true }
        ThreadStarter.detach(name: "stream-publisher") { [self] in run() }
    }

    /// Stops the thread and waits (at most 3 s) for it to end. Idempotent.
    func stop() {
        state.withLock { $0.stopped = true }
        let deadline = Date().addingTimeInterval(3)
        while state.withLock({ $0.running }) && Date() < deadline { usleep(2_000) }
    }

    private func run() {
        defer { state.withLock { $0.running = false } }
        let deadline = Date().addingTimeInterval(120)
        var client: SyncRedisClient?
        while Date() < deadline {
            let (stopped, n) = state.withLock { s -> (Bool, Int) in
                defer { s.next += 1 }
                return (s.stopped, s.next)
            }
            if stopped { return }
            do {
                if client == nil { client = try SyncRedisClient(port: port, timeout: 1) }
                let reply = try client!.command(["XADD", stream, "*", "seq", String(n), "payload", "p\(n)"])
                if let id = reply.string, !reply.isError { state.withLock { $0.acknowledged.append((n, id)) } }
                usleep(2_000)
            } catch {
                client = nil
                usleep(10_000)
            }
        }
    }
}

// MARK: - Tests

extension StreamIntegrationTests {
    @Suite("Blocking stream reads and disconnects", .serialized)
    struct BlockingReadTests {
        // MARK: BlockingConnection

        @Test("disconnect() during XREAD BLOCK 0 fails it with .disconnected within 100 ms, later commands fail too, and the XREAD was sent once", .timeLimit(.minutes(1)))
        func disconnectDuringBlockedRead() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            let client = ResubClient()
            let connection = client.blockingConnection(try endpoint(server.port), clientName: "bc-disconnect")
            let read = start(["XREAD", "BLOCK", "0", "STREAMS", "bc.s", "$"], on: connection)
            do {
                let blocked = try await eventually(timeout: .seconds(5)) { try await StreamProbe.isBlockedInRead("bc-disconnect", port: server.port) }
                try #require(blocked, "the XREAD never blocked on the server")
                #expect(try await StreamProbe.commandCalls("xread", port: server.port) == 1)
                let pingsBefore = try await StreamProbe.commandCalls("ping", port: server.port)  // the fixture PINGs at start

                let disconnectedAt = ContinuousClock.now
                connection.disconnect()
                let outcome = await read.value(within: .seconds(2))
                #expect(errorCode(outcome) == .disconnected, "\(String(describing: outcome?.result))")
                if let outcome {
                    let latency = disconnectedAt.duration(to: outcome.at)
                    #expect(latency < .milliseconds(100), "the pending XREAD failed \(latency) after disconnect()")
                }

                // Later commands on the object fail the same way and are never sent.
                var later: ResubError?
                do {
                    _ = try await connection.command(["PING"])
                } catch {
                    later = error
                }
                #expect(later?.code == .disconnected)
                let again = await start(["XREAD", "BLOCK", "0", "STREAMS", "bc.s", "$"], on: connection).value(within: .seconds(2))
                #expect(errorCode(again) == .disconnected)
                connection.disconnect()  // idempotent

                // Give a wrongly re-sent command time to reach the server, then count.
                try await Task.sleep(for: .milliseconds(300))
                #expect(try await StreamProbe.commandCalls("xread", port: server.port) == 1, "XREAD reached the server more than once")
                #expect(try await StreamProbe.commandCalls("ping", port: server.port) == pingsBefore, "a PING reached the server")
                let gone = try await eventually(timeout: .seconds(2)) { try await StreamProbe.clients(named: "bc-disconnect", port: server.port).isEmpty }
                let stillOpen = try await StreamProbe.clients(named: "bc-disconnect", port: server.port)
                #expect(gone, "the connection is still open on the server: \(stillOpen)")
                #expect(try await StreamProbe.infoField("blocked_clients", section: "clients", port: server.port) == "0")
            } catch {
                connection.disconnect()
                await client.shutdown(deadline: .seconds(2))
                throw error
            }
            await client.shutdown(deadline: .seconds(2))
        }

        @Test("unblock() ends a blocked XREAD BLOCK 0 with a null reply on the same, still usable connection, and returns false when nothing is blocked", .timeLimit(.minutes(1)))
        func unblockBlockedRead() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            let client = ResubClient()
            let connection = client.blockingConnection(try endpoint(server.port), clientName: "bc-unblock")
            do {
                #expect(try await connection.unblock() == false, "never connected: nothing to unblock")
                let before = try await connection.command(["CLIENT", "ID"])
                let id = try #require(before.int)
                #expect(try await connection.unblock() == false, "connected and idle: nothing to unblock")

                let read = start(["XREAD", "BLOCK", "0", "STREAMS", "bu.s", "$"], on: connection)
                let blocked = try await eventually(timeout: .seconds(5)) { try await StreamProbe.isBlockedInRead("bc-unblock", port: server.port) }
                try #require(blocked, "the XREAD never blocked on the server")
                #expect(try await connection.unblock() == true)
                let outcome = await read.value(within: .seconds(2))
                if case .success(let reply) = outcome?.result {
                    #expect(reply == .null, "an unblocked XREAD answers null, got \(reply)")
                } else {
                    Issue.record("the unblocked XREAD did not return a reply: \(String(describing: outcome?.result))")
                }

                #expect(try await connection.command(["PING"]).string == "PONG")
                #expect(try await connection.command(["CLIENT", "ID"]).int == id, "the connection was replaced")
                #expect(try await connection.unblock() == false, "nothing is blocked any more")
                #expect(try await StreamProbe.commandCalls("xread", port: server.port) == 1)
                // The blocked command was ended, not the connection: one reading connection (plus the side one).
                let open = try await StreamProbe.clients(named: "bc-unblock", port: server.port)
                #expect(open.contains { $0["id"] == String(id) })
            } catch {
                await client.shutdown(deadline: .seconds(2))
                throw error
            }
            await client.shutdown(deadline: .seconds(2))
        }

        @Test("unblock() after disconnect() or after the client's shutdown returns false (or fails) and opens no connection", .timeLimit(.minutes(1)))
        func unblockAfterDisconnect() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            let client = ResubClient()
            let connection = client.blockingConnection(try endpoint(server.port), clientName: "bc-after")
            var shutDown = false
            do {
                #expect(try await connection.command(["PING"]).string == "PONG")
                connection.disconnect()
                let gone = try await eventually(timeout: .seconds(2)) { try await StreamProbe.clients(named: "bc-after", port: server.port).isEmpty }
                try #require(gone)
                let afterDisconnect: Result<Bool, ResubError>
                do {
                    afterDisconnect = .success(try await connection.unblock())
                } catch {
                    afterDisconnect = .failure(error)
                }
                #expect((try? afterDisconnect.get()) != true, "\(afterDisconnect)")
                try await Task.sleep(for: .milliseconds(200))
                let opened = try await StreamProbe.clients(named: "bc-after", port: server.port).map { "id=\($0["id"] ?? "") cmd=\($0["cmd"] ?? "")" }
                #expect(opened.isEmpty, "unblock() after disconnect() opened: \(opened)")

                await client.shutdown(deadline: .seconds(2))
                shutDown = true
                let afterShutdown: Result<Bool, ResubError>
                do {
                    afterShutdown = .success(try await connection.unblock())
                } catch {
                    afterShutdown = .failure(error)
                }
                #expect((try? afterShutdown.get()) != true, "\(afterShutdown)")
            } catch {
                if !shutDown { await client.shutdown(deadline: .seconds(2)) }
                throw error
            }
        }

        @Test("quit() on an idle connection sends QUIT and the server drops it; later commands fail with .disconnected", .timeLimit(.minutes(1)))
        func quitIdle() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            let client = ResubClient()
            let connection = client.blockingConnection(try endpoint(server.port), clientName: "bc-quit")
            do {
                #expect(try await connection.command(["PING"]).string == "PONG")
                #expect(try await StreamProbe.clients(named: "bc-quit", port: server.port).count == 1)
                #expect(socketsConnected(toPort: server.port).count == 1)
                await connection.quit()
                let gone = try await eventually(timeout: .seconds(2)) { try await StreamProbe.clients(named: "bc-quit", port: server.port).isEmpty }
                #expect(gone, "CLIENT LIST still shows the connection after quit()")
                #expect(try await StreamProbe.commandCalls("quit", port: server.port) == 1, "QUIT was not sent")
                var later: ResubError?
                do {
                    _ = try await connection.command(["PING"])
                } catch {
                    later = error
                }
                #expect(later?.code == .disconnected)
                // Our side of the socket is closed too (not left to the server's hang-up alone).
                let closed = try await eventually(timeout: .seconds(2)) { socketsConnected(toPort: server.port).isEmpty }
                #expect(closed, "the socket is still open in this process: \(socketsConnected(toPort: server.port))")
            } catch {
                await client.shutdown(deadline: .seconds(2))
                throw error
            }
            await client.shutdown(deadline: .seconds(2))
        }

        @Test("quit() with a command pending is disconnect(): the command fails with .disconnected at once and no QUIT is sent", .timeLimit(.minutes(1)))
        func quitWhilePending() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            let client = ResubClient()
            let connection = client.blockingConnection(try endpoint(server.port), clientName: "bc-quit-pending")
            let read = start(["XREAD", "BLOCK", "0", "STREAMS", "bq.s", "$"], on: connection)
            do {
                let blocked = try await eventually(timeout: .seconds(5)) { try await StreamProbe.isBlockedInRead("bc-quit-pending", port: server.port) }
                try #require(blocked, "the XREAD never blocked on the server")
                let quitAt = ContinuousClock.now
                await connection.quit()
                let quitTook = quitAt.duration(to: .now)
                let outcome = await read.value(within: .seconds(2))
                #expect(errorCode(outcome) == .disconnected, "\(String(describing: outcome?.result))")
                if let outcome { #expect(quitAt.duration(to: outcome.at) < .milliseconds(100)) }
                #expect(quitTook < .milliseconds(100), "quit() with a pending command took \(quitTook)")
                let gone = try await eventually(timeout: .seconds(2)) { try await StreamProbe.clients(named: "bc-quit-pending", port: server.port).isEmpty }
                #expect(gone)
                #expect(try await StreamProbe.commandCalls("quit", port: server.port) == 0, "QUIT was queued behind the blocked read")
                #expect(try await StreamProbe.commandCalls("xread", port: server.port) == 1)
                var later: ResubError?
                do {
                    _ = try await connection.command(["PING"])
                } catch {
                    later = error
                }
                #expect(later?.code == .disconnected)
            } catch {
                connection.disconnect()
                await client.shutdown(deadline: .seconds(2))
                throw error
            }
            await client.shutdown(deadline: .seconds(2))
        }

        @Test("unblock() waiting for its side connection (server frozen) fails instead of hanging when disconnect() closes the connection", .timeLimit(.minutes(1)))
        func unblockDuringDisconnectNeverHangs() async throws {
            let server = try RedisServer()
            defer {
                server.thaw()
                server.stop()
            }
            let client = ResubClient()
            let connection = client.blockingConnection(try endpoint(server.port), clientName: "bh-conn")
            let read = start(["XREAD", "BLOCK", "0", "STREAMS", "bh.s", "$"], on: connection)
            do {
                let blocked = try await eventually(timeout: .seconds(5)) { try await StreamProbe.isBlockedInRead("bh-conn", port: server.port) }
                try #require(blocked)
                // Frozen, the server's kernel still accepts the side connection, whose handshake then never ends.
                server.freeze()
                let unblock = Background { () -> Result<Bool, ResubError> in
                    do throws(ResubError) {
                        return .success(try await connection.unblock())
                    } catch {
                        return .failure(error)
                    }
                }
                try await Task.sleep(for: .milliseconds(200))
                #expect(unblock.current == nil, "unblock() answered although the server is frozen: \(String(describing: unblock.current))")
                connection.disconnect()
                #expect(errorCode(await read.value(within: .seconds(1))) == .disconnected)
                let outcome = await unblock.value(within: .seconds(1))
                #expect(outcome != nil, "unblock() still waits 1 s after disconnect(): its side connection's waiter was dropped")
                if case .success(true) = outcome { Issue.record("unblock() reported success") }
                server.thaw()
            } catch {
                server.thaw()
                connection.disconnect()
                await client.shutdown(deadline: .seconds(2))
                throw error
            }
            await client.shutdown(deadline: .seconds(2))
        }

        // MARK: ResubClient.shutdown

        @Test("ResubClient.shutdown(deadline:) with a subscriber, a blocked reader and a blocked connection returns at once, ends every sequence, and leaves no thread, connection or fd behind", .timeLimit(.minutes(1)))
        func clientShutdown() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            // Settle: anything the fixture or earlier tests opened and are still closing.
            try await Task.sleep(for: .milliseconds(200))
            let steadyBefore = await descriptorsSteady()
            let fdsBefore = openFDs()
            let threadsBefore = resubThreads()

            let client = ResubClient()
            var subscriberConfiguration = try SubscriberConfiguration(url: server.url)
            subscriberConfiguration.clientName = "rc-sub"
            subscriberConfiguration.initialSubscriptions = SubscriptionSet(channels: ["rc.chan"])
            let subscriber = client.subscriber(subscriberConfiguration)
            let reader = client.streamReader(StreamReaderConfiguration(
                endpoint: try endpoint(server.port), streams: [("rc.empty", "$")], clientName: "rc-reader", block: .seconds(5)))
            let connection = client.blockingConnection(try endpoint(server.port), clientName: "rc-conn")
            let read = start(["XREAD", "BLOCK", "0", "STREAMS", "rc.other", "$"], on: connection)
            let messagesEnded = Background { () -> Int in
                var n = 0
                for await _ in subscriber.messages { n += 1 }
                return n
            }
            let entriesEnded = Background { () -> Int in
                var n = 0
                for await _ in reader.entries { n += 1 }
                return n
            }
            var shutDown = false
            do {
                let ready = try await eventually(timeout: .seconds(5)) {
                    let numsub = try await StreamProbe.command(server.port, "PUBSUB", "NUMSUB", "rc.chan").elements?.last?.int
                    let readerBlocked = try await StreamProbe.isBlockedInRead("rc-reader", port: server.port)
                    let connectionBlocked = try await StreamProbe.isBlockedInRead("rc-conn", port: server.port)
                    return numsub == 1 && readerBlocked && connectionBlocked
                }
                let seen = try await StreamProbe.clientList(server.port).map { "\($0["name"] ?? "") \($0["cmd"] ?? "") \($0["flags"] ?? "")" }
                try #require(ready, "not everything subscribed and blocked: \(seen)")
                // Only the client's own thread counts: other suites running at the same time start and stop
                // resub-loop threads of their own.
                let threadsDuring = resubThreads().subtracting(threadsBefore).filter { $0.hasSuffix(":resub-client") }
                #expect(threadsDuring.count == 1, "the client's loop thread: \(threadsDuring)")
                #expect(socketsConnected(toPort: server.port).count == 3, "one socket each for the subscriber, the reader and the connection")

                let started = ContinuousClock.now
                await client.shutdown(deadline: .seconds(2))
                shutDown = true
                let took = started.duration(to: .now)
                #expect(took < .milliseconds(500), "shutdown took \(took) of its 2 s deadline")

                let outcome = await read.value(within: .seconds(1))
                #expect(errorCode(outcome) == .disconnected, "\(String(describing: outcome?.result))")
                #expect(await messagesEnded.value(within: .seconds(1)) != nil, "subscriber.messages did not end")
                #expect(await entriesEnded.value(within: .seconds(1)) != nil, "reader.entries did not end")

                // The loop thread is joined by shutdown. pthread_join returns when the kernel clears the thread's
                // id, a moment before /proc/self/task drops the entry, so the listing is given 500 ms.
                let gone = try await eventually(timeout: .milliseconds(500)) {
                    resubThreads().intersection(threadsDuring).isEmpty && !resubThreads().contains { $0.hasSuffix(":resub-client") }
                }
                #expect(gone, "threads left: \(resubThreads().intersection(threadsDuring))")
                // Every socket to the server is closed on our side at once, and the server sees them go.
                #expect(socketsConnected(toPort: server.port).isEmpty, "sockets to the server left: \(socketsConnected(toPort: server.port))")
                let names: Set = ["rc-sub", "rc-reader", "rc-conn"]
                let closed = try await eventually(timeout: .seconds(2)) {
                    try await StreamProbe.clientList(server.port).allSatisfy { !names.contains($0["name"] ?? "") }
                }
                let still = try await StreamProbe.clientList(server.port).filter { names.contains($0["name"] ?? "") }
                #expect(closed, "still connected: \(still)")

                // Process-wide: exactly as many descriptors as before (sockets, epoll, eventfd, DNS all closed) and
                // no resub-* thread that was not there before. Exact, with no tolerance, whenever nothing else in the
                // process opened descriptors or ran resub loops meanwhile: always when this suite runs alone
                // (swift test --filter). An unfiltered `swift test` runs other suites in parallel, whose sockets and
                // loops come and go at the same time; the attributable checks above hold then too.
                let fdsBack = try await eventually(timeout: .seconds(2)) { openFDs().count == fdsBefore.count }
                let fdsAfter = openFDs()
                let steadyAfter = await descriptorsSteady()
                let othersRunning = !steadyBefore || !steadyAfter
                    || resubThreads().union(threadsBefore).contains { !$0.hasSuffix(":resub-client") }
                if !othersRunning {
                    let changed = fdsAfter.filter { fdsBefore[$0.key] != $0.value }.map { "\($0.key)->\($0.value)" }.sorted()
                    #expect(fdsBack, "\(fdsAfter.count) fds after shutdown, \(fdsBefore.count) before; new or changed: \(changed)")
                    #expect(resubThreads().subtracting(threadsBefore).isEmpty)
                }
            } catch {
                if !shutDown { await client.shutdown(deadline: .seconds(2)) }
                throw error
            }
        }

        // MARK: BlockingReader, plain XREAD

        @Test("plain XREAD delivers every entry after $ (or after 0) in order with its exact fields, and lastDeliveredIDs is the last one per stream", .timeLimit(.minutes(1)))
        func plainReadInOrder() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            let old = try await StreamProbe.xadd(server.port, "pr.new", [("old", "before the reader")])
            var expected: [String: [StreamEntry]] = ["pr.new": [], "pr.all": []]
            for i in 0..<3 {
                let fields = [("pre", String(i))]
                let id = try await StreamProbe.xadd(server.port, "pr.all", fields)
                expected["pr.all", default: []].append(StreamEntry(stream: "pr.all", id: id, fields: fieldsOf(fields)))
            }
            let recorder = StreamReaderRecorder(try readerConfiguration(
                port: server.port, streams: [("pr.new", "$"), ("pr.all", "0")], clientName: "pr-reader"))
            do {
                try #require(await recorder.waitUntilHealthy() != nil, "\(recorder.summary())")
                for i in 0..<40 {
                    let stream = i % 3 == 0 ? "pr.all" : "pr.new"
                    let fields = [("seq", String(i)), ("text", "héllo \"\(i)\"\nline"), ("empty", ""), ("seq", "dup-name-\(i)")]
                    let id = try await StreamProbe.xadd(server.port, stream, fields)
                    expected[stream, default: []].append(StreamEntry(stream: stream, id: id, fields: fieldsOf(fields)))
                }
                let binary: [UInt8] = [0xFF, 0x00, 0x0D, 0x0A, 0xC3]
                let binaryID = try #require(try await StreamProbe.commandBytes(server.port, [Array("XADD".utf8), Array("pr.new".utf8), Array("*".utf8), Array("bin".utf8), binary]).string)
                expected["pr.new", default: []].append(StreamEntry(stream: "pr.new", id: binaryID, fields: [.init(name: "bin", value: binary)]))

                let total = expected.values.reduce(0) { $0 + $1.count }
                try #require(await recorder.waitForEntries(total, timeout: .seconds(5)), "\(recorder.entries().count) of \(total) entries")
                try await Task.sleep(for: .milliseconds(200))  // nothing more may come
                let delivered = recorder.entries()
                #expect(delivered.count == total)
                #expect(!delivered.contains { $0.id == old && $0.stream == "pr.new" }, "an entry from before $ was delivered")
                for (stream, list) in expected {
                    #expect(delivered.filter { $0.stream == stream } == list, "\(stream) differs")
                }
                #expect(await recorder.reader.lastDeliveredIDs() == ["pr.new": binaryID, "pr.all": expected["pr.all"]!.last!.id])
            } catch {
                await recorder.finish()
                throw error
            }
            await recorder.finish()
        }

        @Test("plain XREAD across three kills and restarts of an appendonly server: the reader resumes after its last delivered ID, with no gap and no duplicate", .timeLimit(.minutes(1)))
        func plainReadAcrossRestarts() async throws {
            let server = try RedisServer(arguments: ["--appendonly", "yes", "--appendfsync", "always"])
            defer { server.stop() }
            let recorder = StreamReaderRecorder(try readerConfiguration(port: server.port, streams: [("rr.s", "$")], clientName: "rr-reader"))
            let publisher = StreamSequencePublisher(port: server.port, stream: "rr.s")
            defer { publisher.stop() }
            do {
                var healthy = try #require(await recorder.waitUntilHealthy(), "\(recorder.summary())")
                publisher.start()
                for round in 0..<3 {
                    try await Task.sleep(for: .milliseconds(400))
                    let before = recorder.entries().count
                    try await offPool { try server.restart() }
                    healthy = try #require(await recorder.waitUntilHealthy(after: healthy, timeout: .seconds(5)), "round \(round): not healthy again; \(recorder.summary())")
                    let resumed = await recorder.waitForEntries(before + 20, timeout: .seconds(5))
                    #expect(resumed, "round \(round): no entries after the restart")
                }
                try await Task.sleep(for: .milliseconds(300))
                publisher.stop()

                let stored = try await StreamProbe.command(server.port, "XRANGE", "rr.s", "-", "+").elements ?? []
                let storedIDs = stored.compactMap { $0.elements?.first?.string }
                try #require(storedIDs.count > 200, "the publisher wrote too little: \(storedIDs.count)")
                _ = await recorder.waitForEntries(storedIDs.count, timeout: .seconds(5))
                try await Task.sleep(for: .milliseconds(200))
                let delivered = recorder.entries()
                let deliveredIDs = delivered.map(\.id)
                #expect(Set(deliveredIDs).count == deliveredIDs.count, "\(deliveredIDs.count - Set(deliveredIDs).count) duplicates")
                let missing = Set(storedIDs).subtracting(deliveredIDs)
                #expect(missing.isEmpty, "\(missing.count) stored entries never delivered, e.g. \(missing.sorted().prefix(5))")
                #expect(deliveredIDs == storedIDs, "delivered \(deliveredIDs.count), stored \(storedIDs.count)")
                let seqs = delivered.compactMap { $0.fields.first { $0.name == "seq" }.flatMap { Int(String(decoding: $0.value, as: UTF8.self)) } }
                #expect(zip(seqs, seqs.dropFirst()).allSatisfy { $0 < $1 }, "sequence numbers out of order")
                // Sanity of the fixture (appendfsync always): every acknowledged XADD survived the kills.
                let lost = Set(publisher.acknowledged.map(\.id)).subtracting(storedIDs)
                #expect(lost.isEmpty, "the server lost \(lost.count) acknowledged entries")
                let connects = recorder.events().filter { if case .connected = $0.event { true } else { false } }.count
                #expect(connects >= 4, "a connection per server life at least: \(recorder.summary())")
            } catch {
                publisher.stop()
                await recorder.finish()
                throw error
            }
            await recorder.finish()
        }

        @Test("BlockingReader.unblock() ends the blocked read, the reader reads again at once and stays healthy; with nothing blocked it returns false", .timeLimit(.minutes(1)))
        func readerUnblock() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            // Long blocks (5 s) so that a new read right after unblock() can only come from the unblock.
            var configuration = try readerConfiguration(port: server.port, streams: [("ru.s", "$")], clientName: "ru-reader", block: .seconds(5))
            configuration.health = HealthConfiguration(pingInterval: .seconds(5), pingTimeout: .seconds(2), backoff: readerBackoff)
            let recorder = StreamReaderRecorder(configuration)
            do {
                // Never connected (nobody listens there): nothing to unblock.
                let nowhere = BlockingReader(configuration: try readerConfiguration(port: try RedisServer.freePort(), streams: [("ru.s", "$")], clientName: "ru-nowhere"))
                let unblockedNowhere = try await nowhere.unblock()
                await nowhere.shutdown()
                #expect(unblockedNowhere == false)

                let healthy = try #require(await recorder.waitUntilHealthy(), "\(recorder.summary())")
                let blocked = try await eventually(timeout: .seconds(5)) { try await StreamProbe.isBlockedInRead("ru-reader", port: server.port) }
                try #require(blocked)
                let calls = try await StreamProbe.commandCalls("xread", port: server.port)
                #expect(try await recorder.reader.unblock() == true)
                let readAgain = try await eventually(timeout: .seconds(1)) {
                    let now = try await StreamProbe.commandCalls("xread", port: server.port)
                    let blocked = try await StreamProbe.isBlockedInRead("ru-reader", port: server.port)
                    return now == calls + 1 && blocked
                }
                #expect(readAgain, "no new blocked XREAD within 1 s of unblock()")
                let id = try await StreamProbe.xadd(server.port, "ru.s", [("after", "unblock")])
                #expect(await recorder.waitForEntries(1, timeout: .seconds(2)))
                #expect(recorder.entries().map(\.id) == [id])
                let down = recorder.events()[(healthy + 1)...].filter { if case .stateChanged = $0.event { true } else { false } }
                #expect(down.isEmpty, "\(down.map(\.event.description))")
            } catch {
                await recorder.finish()
                throw error
            }
            await recorder.finish()
        }

        @Test("BlockingReader.disconnect() during a blocked read closes both its connections at once, ends entries, and never reads again", .timeLimit(.minutes(1)))
        func readerDisconnect() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            let reader = BlockingReader(configuration: try readerConfiguration(
                port: server.port, streams: [("rd.s", "$")], group: .init(name: "g", consumer: "c"), clientName: "rd-reader", block: .seconds(5)))
            let ended = Background { () -> ContinuousClock.Instant in
                for await _ in reader.entries {}
                return .now
            }
            var shutDown = false
            do {
                let blocked = try await eventually(timeout: .seconds(5)) { try await StreamProbe.isBlockedInRead("rd-reader", port: server.port) }
                try #require(blocked)
                // An XACK opens the side connection: two connections named rd-reader.
                #expect(try await reader.acknowledge([StreamEntry(stream: "rd.s", id: "1-1", fields: [])]) == 0)
                #expect(try await StreamProbe.clients(named: "rd-reader", port: server.port).count == 2)
                let calls = try await StreamProbe.commandCalls("xreadgroup", port: server.port)

                let disconnectedAt = ContinuousClock.now
                reader.disconnect()
                let endedAt = await ended.value(within: .seconds(2))
                #expect(endedAt != nil, "entries did not end")
                if let endedAt { #expect(disconnectedAt.duration(to: endedAt) < .milliseconds(100), "entries ended \(disconnectedAt.duration(to: endedAt)) after disconnect()") }
                let gone = try await eventually(timeout: .seconds(2)) { try await StreamProbe.clients(named: "rd-reader", port: server.port).isEmpty }
                #expect(gone, "connections named rd-reader remain")
                reader.disconnect()  // idempotent

                // Nothing to unblock and nothing to acknowledge any more, and no connection opened for them.
                var unblocked: Result<Bool, ResubError>
                do {
                    unblocked = .success(try await reader.unblock())
                } catch {
                    unblocked = .failure(error)
                }
                #expect((try? unblocked.get()) != true, "unblock() after disconnect(): \(unblocked)")
                var acknowledged: Result<Int, ResubError>
                do {
                    acknowledged = .success(try await reader.acknowledge([StreamEntry(stream: "rd.s", id: "1-1", fields: [])]))
                } catch {
                    acknowledged = .failure(error)
                }
                #expect((try? acknowledged.get()) == nil, "acknowledge() after disconnect() did not fail: \(acknowledged)")
                try await Task.sleep(for: .milliseconds(600))
                #expect(try await StreamProbe.commandCalls("xreadgroup", port: server.port) == calls, "a read was sent after disconnect()")
                let reopened = try await StreamProbe.clients(named: "rd-reader", port: server.port).map { "id=\($0["id"] ?? "") cmd=\($0["cmd"] ?? "")" }
                #expect(reopened.isEmpty, "connections opened after disconnect(): \(reopened)")
                await reader.shutdown()
                shutDown = true
            } catch {
                if !shutDown { await reader.shutdown() }
                throw error
            }
        }

        @Test("acknowledge() and unblock() after shutdown() fail with .disconnected and open nothing", .timeLimit(.minutes(1)))
        func readerCallsAfterShutdown() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            let reader = BlockingReader(configuration: try readerConfiguration(
                port: server.port, streams: [("as.s", "$")], group: .init(name: "g", consumer: "c"), clientName: "as-reader"))
            let blocked = try await eventually(timeout: .seconds(5)) { try await StreamProbe.isBlockedInRead("as-reader", port: server.port) }
            await reader.shutdown()
            try #require(blocked)
            var acknowledgeError: ResubError?
            do {
                _ = try await reader.acknowledge([StreamEntry(stream: "as.s", id: "1-1", fields: [])])
            } catch {
                acknowledgeError = error
            }
            #expect(acknowledgeError?.code == .disconnected)
            var unblockError: ResubError?
            do {
                _ = try await reader.unblock()
            } catch {
                unblockError = error
            }
            #expect(unblockError?.code == .disconnected)
            let gone = try await eventually(timeout: .seconds(2)) { try await StreamProbe.clients(named: "as-reader", port: server.port).isEmpty }
            #expect(gone)
        }

        @Test("acknowledge() waiting for its side connection (server frozen) fails instead of hanging when disconnect() closes the reader", .timeLimit(.minutes(1)))
        func acknowledgeDuringDisconnectNeverHangs() async throws {
            let server = try RedisServer()
            defer {
                server.thaw()
                server.stop()
            }
            var configuration = try readerConfiguration(
                port: server.port, streams: [("ah.s", "$")], group: .init(name: "g", consumer: "c"), clientName: "ah-reader", block: .seconds(5))
            configuration.health = HealthConfiguration(pingInterval: .seconds(5), pingTimeout: .seconds(2), backoff: readerBackoff)
            let reader = BlockingReader(configuration: configuration)
            do {
                let blocked = try await eventually(timeout: .seconds(5)) { try await StreamProbe.isBlockedInRead("ah-reader", port: server.port) }
                try #require(blocked)
                server.freeze()
                let acknowledge = Background { () -> Result<Int, ResubError> in
                    do throws(ResubError) {
                        return .success(try await reader.acknowledge([StreamEntry(stream: "ah.s", id: "1-1", fields: [])]))
                    } catch {
                        return .failure(error)
                    }
                }
                try await Task.sleep(for: .milliseconds(200))
                #expect(acknowledge.current == nil, "acknowledge() answered although the server is frozen")
                reader.disconnect()
                let outcome = await acknowledge.value(within: .seconds(1))
                #expect(outcome != nil, "acknowledge() still waits 1 s after disconnect(): its side connection's waiter was dropped")
                if case .failure(let error) = outcome { #expect(error.code == .disconnected || error.code == .connectionFailed, "\(error)") }
                if case .success = outcome { Issue.record("acknowledge() succeeded against a frozen server") }
                server.thaw()
            } catch {
                server.thaw()
                await reader.shutdown()
                throw error
            }
            await reader.shutdown()
        }

        // MARK: BlockingReader, consumer groups

        @Test("a consumer group is created with MKSTREAM, its entries are delivered, and acknowledge() XACKs them", .timeLimit(.minutes(1)))
        func groupAcknowledge() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            let recorder = StreamReaderRecorder(try readerConfiguration(
                port: server.port, streams: [("ga.s", "$")], group: .init(name: "g1", consumer: "c1"), clientName: "ga-reader"))
            do {
                try #require(await recorder.waitUntilHealthy() != nil, "\(recorder.summary())")
                #expect(try await StreamProbe.command(server.port, "EXISTS", "ga.s").int == 1, "MKSTREAM did not create the stream")
                let groups = try await StreamProbe.command(server.port, "XINFO", "GROUPS", "ga.s").elements ?? []
                #expect(groups.count == 1)
                var ids: [String] = []
                for i in 0..<10 { ids.append(try await StreamProbe.xadd(server.port, "ga.s", [("n", String(i))])) }
                try #require(await recorder.waitForEntries(10, timeout: .seconds(5)))
                let delivered = recorder.entries()
                #expect(delivered.map(\.id) == ids)
                #expect(delivered.map(\.fields) == (0..<10).map { fieldsOf([("n", String($0))]) })
                #expect(try await StreamProbe.pendingCount("ga.s", group: "g1", port: server.port) == 10, "read entries are pending until acknowledged")
                #expect(try await recorder.reader.acknowledge(Array(delivered.prefix(4))) == 4)
                #expect(try await StreamProbe.pendingCount("ga.s", group: "g1", port: server.port) == 6)
                #expect(try await recorder.reader.acknowledge(delivered) == 6, "only the 6 still pending are acknowledged again")
                #expect(try await StreamProbe.pendingCount("ga.s", group: "g1", port: server.port) == 0)
            } catch {
                await recorder.finish()
                throw error
            }
            await recorder.finish()
        }

        @Test("entries a reader did not acknowledge before shutting down go again, first, to a new reader with the same consumer name", .timeLimit(.minutes(1)))
        func groupRedeliversPending() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            let group = StreamReaderConfiguration.Group(name: "g", consumer: "worker-1")
            let first = StreamReaderRecorder(try readerConfiguration(port: server.port, streams: [("gr.s", "$")], group: group, clientName: "gr-first"))
            var ids: [String] = []
            do {
                try #require(await first.waitUntilHealthy() != nil, "\(first.summary())")
                for i in 0..<5 { ids.append(try await StreamProbe.xadd(server.port, "gr.s", [("n", String(i))])) }
                try #require(await first.waitForEntries(5, timeout: .seconds(5)))
                #expect(try await first.reader.acknowledge([first.entries()[0]]) == 1, "one of them is acknowledged")
            } catch {
                await first.finish()
                throw error
            }
            await first.finish()
            #expect(try await StreamProbe.pendingIDs("gr.s", group: "g", consumer: "worker-1", port: server.port) == Array(ids[1...]))

            // New entries exist before the second reader starts: its pending entries still come first.
            for i in 5..<8 { ids.append(try await StreamProbe.xadd(server.port, "gr.s", [("n", String(i))])) }
            let second = StreamReaderRecorder(try readerConfiguration(port: server.port, streams: [("gr.s", "$")], group: group, clientName: "gr-second"))
            do {
                try #require(await second.waitForEntries(7, timeout: .seconds(5)), "\(second.entries().map(\.id)); \(second.summary())")
                try await Task.sleep(for: .milliseconds(200))
                let delivered = second.entries()
                #expect(delivered.map(\.id) == Array(ids[1...]), "pending 1…4 first, then new 5…7, each once")
                #expect(delivered.map(\.fields) == (1..<8).map { fieldsOf([("n", String($0))]) })
                #expect(try await second.reader.acknowledge(delivered) == 7)
                #expect(try await StreamProbe.pendingCount("gr.s", group: "g", port: server.port) == 0)
            } catch {
                await second.finish()
                throw error
            }
            await second.finish()
        }

        @Test("a pending entry deleted from the stream is not delivered again but acknowledged away", .timeLimit(.minutes(1)))
        func groupDeletedPending() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            let group = StreamReaderConfiguration.Group(name: "g", consumer: "c")
            let first = StreamReaderRecorder(try readerConfiguration(port: server.port, streams: [("gd.s", "$")], group: group, clientName: "gd-first"))
            var ids: [String] = []
            do {
                try #require(await first.waitUntilHealthy() != nil, "\(first.summary())")
                for i in 0..<3 { ids.append(try await StreamProbe.xadd(server.port, "gd.s", [("n", String(i))])) }
                try #require(await first.waitForEntries(3, timeout: .seconds(5)))
            } catch {
                await first.finish()
                throw error
            }
            await first.finish()
            #expect(try await StreamProbe.command(server.port, "XDEL", "gd.s", ids[1]).int == 1)
            let second = StreamReaderRecorder(try readerConfiguration(port: server.port, streams: [("gd.s", "$")], group: group, clientName: "gd-second"))
            do {
                try #require(await second.waitForEntries(2, timeout: .seconds(5)))
                let pendingGone = try await eventually(timeout: .seconds(2)) {
                    try await StreamProbe.pendingIDs("gd.s", group: "g", consumer: "c", port: server.port) == [ids[0], ids[2]]
                }
                let pending = try await StreamProbe.pendingIDs("gd.s", group: "g", consumer: "c", port: server.port)
                #expect(pendingGone, "the deleted entry is still pending: \(pending)")
                #expect(second.entries().map(\.id) == [ids[0], ids[2]])
            } catch {
                await second.finish()
                throw error
            }
            await second.finish()
        }

        @Test("with claimIdle a second consumer claims a dead consumer's stale entries (XAUTOCLAIM); without it they stay with the dead one", .timeLimit(.minutes(1)))
        func groupClaimsStaleEntries() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            let dead = StreamReaderRecorder(try readerConfiguration(
                port: server.port, streams: [("gc.s", "$")], group: .init(name: "g", consumer: "dead"), clientName: "gc-dead"))
            var ids: [String] = []
            do {
                try #require(await dead.waitUntilHealthy() != nil, "\(dead.summary())")
                for i in 0..<4 { ids.append(try await StreamProbe.xadd(server.port, "gc.s", [("n", String(i))])) }
                try #require(await dead.waitForEntries(4, timeout: .seconds(5)))
            } catch {
                await dead.finish()
                throw error
            }
            await dead.finish()  // never acknowledged

            let bystander = StreamReaderRecorder(try readerConfiguration(
                port: server.port, streams: [("gc.s", "$")], group: .init(name: "g", consumer: "bystander"), clientName: "gc-bystander"))
            do {
                try #require(await bystander.waitUntilHealthy() != nil, "\(bystander.summary())")
                try await Task.sleep(for: .milliseconds(500))
                #expect(bystander.entries().isEmpty, "a consumer without claimIdle took \(bystander.entries().map(\.id))")
            } catch {
                await bystander.finish()
                throw error
            }
            await bystander.finish()
            #expect(try await StreamProbe.pendingIDs("gc.s", group: "g", consumer: "dead", port: server.port) == ids)

            // The entries have now been idle for more than 200 ms.
            let alive = StreamReaderRecorder(try readerConfiguration(
                port: server.port, streams: [("gc.s", "$")],
                group: .init(name: "g", consumer: "alive", claimIdle: .milliseconds(200)), clientName: "gc-alive"))
            do {
                try #require(await alive.waitForEntries(4, timeout: .seconds(5)), "\(alive.summary())")
                let claimed = alive.entries()
                #expect(claimed.map(\.id) == ids)
                #expect(claimed.map(\.fields) == (0..<4).map { fieldsOf([("n", String($0))]) })
                #expect(try await StreamProbe.pendingIDs("gc.s", group: "g", consumer: "alive", port: server.port) == ids)
                #expect(try await StreamProbe.pendingIDs("gc.s", group: "g", consumer: "dead", port: server.port).isEmpty)
                // New entries still arrive after the claim.
                let next = try await StreamProbe.xadd(server.port, "gc.s", [("n", "4")])
                #expect(await alive.waitForEntries(5, timeout: .seconds(5)))
                #expect(alive.entries().last?.id == next)
                #expect(try await alive.reader.acknowledge(alive.entries()) == 5)
                #expect(try await StreamProbe.pendingCount("gc.s", group: "g", port: server.port) == 0)
            } catch {
                await alive.finish()
                throw error
            }
            await alive.finish()
        }

        @Test("a running consumer with claimIdle also claims entries that go stale after it started (a consumer that died later)", .timeLimit(.minutes(1)))
        func groupClaimsEntriesThatGoStaleLater() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            let alive = StreamReaderRecorder(try readerConfiguration(
                port: server.port, streams: [("gl.s", "$")],
                group: .init(name: "g", consumer: "alive", claimIdle: .milliseconds(300)), clientName: "gl-alive"))
            do {
                try #require(await alive.waitUntilHealthy() != nil, "\(alive.summary())")
                let blocked = try await eventually(timeout: .seconds(5)) { try await StreamProbe.isBlockedInRead("gl-alive", port: server.port) }
                try #require(blocked)
                // Another consumer ("dead") reads four new entries and then never acknowledges them: the XADDs and its
                // read run in one transaction, so "alive"'s blocked read is not served them.
                let replies = try await StreamProbe.pipeline(server.port, [["MULTI"]] + (0..<4).map { ["XADD", "gl.s", "*", "n", String($0)] }
                    + [["XREADGROUP", "GROUP", "g", "dead", "COUNT", "10", "STREAMS", "gl.s", ">"], ["EXEC"]])
                let exec = replies.last?.elements ?? []
                let ids = exec.prefix(4).compactMap(\.string)
                try #require(ids.count == 4, "EXEC: \(String(describing: replies.last))")
                #expect(try await StreamProbe.pendingIDs("gl.s", group: "g", consumer: "dead", port: server.port) == ids)
                #expect(alive.entries().isEmpty)

                // Idle for 300 ms, the entries are "alive"'s to claim; give it ten times that.
                let claimed = await alive.waitForEntries(4, timeout: .seconds(3))
                let pendingDead = try await StreamProbe.pendingIDs("gl.s", group: "g", consumer: "dead", port: server.port)
                #expect(claimed, "a dead consumer's entries, idle for 3 s, were never claimed by the running consumer (still pending for dead: \(pendingDead))")
                if claimed { #expect(alive.entries().map(\.id) == ids) }
            } catch {
                await alive.finish()
                throw error
            }
            await alive.finish()
        }

        // MARK: Liveness

        @Test("a healthy blocked read on an idle stream is never declared dead (BLOCK capped at the ping interval), and a frozen server is detected within ping interval plus timeout", .timeLimit(.minutes(1)))
        func livenessOfBlockedRead() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            let recorder = StreamReaderRecorder(try readerConfiguration(
                port: server.port, streams: [("lv.s", "$")], clientName: "lv-reader", block: .seconds(10)))
            do {
                let healthy = try #require(await recorder.waitUntilHealthy(), "\(recorder.summary())")
                let callsBefore = try await StreamProbe.commandCalls("xread", port: server.port)
                try await Task.sleep(for: .seconds(3))
                let calls = try await StreamProbe.commandCalls("xread", port: server.port) - callsBefore
                let down = recorder.events()[(healthy + 1)...].filter { seen in
                    switch seen.event {
                    case .stateChanged(_, _, .waitingToReconnect, _), .disconnected: true
                    default: false
                    }
                }
                #expect(down.isEmpty, "an idle blocked read was declared dead: \(down.map(\.event.description))")
                // BLOCK 10 s capped at 0.5 s: about 6 reads in 3 s, each answered (null) before the check.
                #expect((3...12).contains(calls), "\(calls) XREADs in 3 s")

                let id = try await StreamProbe.xadd(server.port, "lv.s", [("k", "v")])
                #expect(await recorder.waitForEntries(1, timeout: .seconds(2)))
                #expect(recorder.entries().map(\.id) == [id])

                let frozenAt = ContinuousClock.now
                server.freeze()
                let declared = await recorder.waitForEvent(after: healthy, timeout: .seconds(5)) { event in
                    if case .stateChanged(_, .healthy, .waitingToReconnect, let reason) = event { reason?.code == .timeout } else { false }
                }
                guard let declared else {
                    server.thaw()
                    Issue.record("a frozen server was never declared dead: \(recorder.summary())")
                    await recorder.finish()
                    return
                }
                let detection = frozenAt.duration(to: declared.at)
                #expect(detection <= readerPingInterval + readerPingTimeout + .milliseconds(500), "declared dead \(detection) after the freeze")
                server.thaw()
                #expect(await recorder.waitUntilHealthy(after: declared.index, timeout: .seconds(5)) != nil, "not healthy after the thaw")
                let after = try await StreamProbe.xadd(server.port, "lv.s", [("k", "after")])
                #expect(await recorder.waitForEntries(2, timeout: .seconds(3)))
                #expect(recorder.entries().map(\.id) == [id, after])
            } catch {
                server.thaw()
                await recorder.finish()
                throw error
            }
            await recorder.finish()
        }
    }
}
