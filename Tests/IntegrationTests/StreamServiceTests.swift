import Foundation
import LibeventLoop
import RESP
import Synchronization
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

// The `resub` executable reading streams, as a child process against real redis-server processes: SIGTERM
// on an idle stream, plain XREAD resuming from --state-dir, and consumer groups across `kill -9` with the
// stdout sink and with a webhook that refuses requests (XACK only after the sink accepted the entries).
//
// Serialized, with BlockingReadTests, under StreamIntegrationTests: the children and servers of one test at a
// time on a 2-core machine.

/// The built `resub` executable: next to the test bundle, else under a scratch path of this package.
private func resubExecutablePath() throws -> String {
    var candidates: [String] = []
    let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    candidates.append(me.deletingLastPathComponent().appendingPathComponent("resub").path)
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    for scratch in [".build-streams", ".build"] {
        candidates.append(packageRoot.appendingPathComponent("\(scratch)/debug/resub").path)
    }
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw FixtureError("resub executable not found (swift build --build-tests builds it); looked at \(candidates)")
    }
    return found
}

/// A scratch directory, removed by ``remove()``.
private struct ScratchDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("resub-stream-svc-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A `resub` child process; stdout goes to a file, or to a pipe nobody reads (to stall the stdout sink).
/// Stopped by pid.
private final class StreamServiceProcess: @unchecked Sendable {
    let process = Process()
    let stdoutPath: String
    let stderrPath: String
    private var stalledPipe: Pipe?

    init(arguments: [String], directory: String, name: String, stalledStdout: Bool = false) throws {
        stdoutPath = directory + "/\(name).out"
        stderrPath = directory + "/\(name).err"
        for path in [stdoutPath, stderrPath] {
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw FixtureError("cannot create \(path)") }
        }
        process.executableURL = URL(fileURLWithPath: try resubExecutablePath())
        process.arguments = arguments
        if stalledStdout {
            let pipe = Pipe()
            stalledPipe = pipe
            process.standardOutput = pipe
        } else {
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        }
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var isRunning: Bool { process.isRunning }

    /// Sends SIGTERM and waits at most `timeout` for the exit; how long it took, nil if still running.
    func terminate(waiting timeout: Duration) -> Duration? {
        guard process.isRunning else { return .zero }
        let sent = ContinuousClock.now
        kill(process.processIdentifier, SIGTERM)
        let deadline = sent + timeout
        while process.isRunning, ContinuousClock.now < deadline { usleep(2_000) }
        return process.isRunning ? nil : sent.duration(to: .now)
    }

    /// `kill -9` and wait for the exit.
    func kill9() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? stalledPipe?.fileHandleForReading.close()
        stalledPipe = nil
    }

    /// SIGTERM, then SIGKILL if it has not exited within 5 s; waits for the exit. Idempotent.
    func stop() {
        if process.isRunning, terminate(waiting: .seconds(5)) == nil { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? stalledPipe?.fileHandleForReading.close()
        stalledPipe = nil
    }

    /// Exited normally (not by a signal) with status 0.
    var exitedCleanly: Bool {
        !process.isRunning && process.terminationReason == .exit && process.terminationStatus == 0
    }

    /// The stdout lines written so far (complete lines only).
    func lines() -> [String] {
        let text = (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? ""
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeLast()  // the text after the last newline: empty, or a line still being written
        return lines
    }

    /// The stream records written so far.
    func records() -> [StreamJSONRecord] { lines().compactMap(StreamJSONRecord.init(line:)) }

    /// The end of its log, for failure messages.
    var logTail: String { String(((try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "").suffix(1500)) }
}

/// A `{"type":"stream",…}` JSON line, parsed.
private struct StreamJSONRecord: Equatable {
    var line: String
    var stream: String
    var id: String
    var fields: [String: String]
    var base64Fields: [String: String]

    init?(line: String) {
        self.init(object: (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any], line: line)
    }

    init?(object: [String: Any]?, line: String) {
        guard let object, object["type"] as? String == "stream", let stream = object["stream"] as? String,
              let id = object["id"] as? String, let fields = object["fields"] as? [String: String] else { return nil }
        self.line = line
        self.stream = stream
        self.id = id
        self.fields = fields
        base64Fields = object["fields_base64"] as? [String: String] ?? [:]
    }
}

/// The common flags: a short health check so a test never waits on the defaults.
private func serviceArguments(port: Int, clientName: String, _ extra: [String]) -> [String] {
    ["--url", "redis://127.0.0.1:\(port)", "--client-name", clientName, "--ping-interval", "1", "--ping-timeout", "1",
     "--reconnect-min", "0.05", "--reconnect-max", "0.5"] + extra
}

// MARK: - A webhook receiver

/// A minimal HTTP/1.1 server on 127.0.0.1 (keep-alive, Content-Length bodies) on one thread of its own,
/// answering 503 while it refuses and 200 once it accepts; it records every request with its answer.
/// Ends on ``stop()`` or after two minutes.
private final class RefusingWebhookReceiver: @unchecked Sendable {
    struct Request: Sendable {
        var status: Int
        var body: [UInt8]
        var at: ContinuousClock.Instant
    }

    private struct State {
        var requests: [Request] = []
        var accepting = false
        var refuseNext = 0
        var stopped = false
        var running = true
    }

    let port: Int
    private let listener: Int32
    private let state = Mutex(State())

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FixtureError("socket: \(errno)") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw FixtureError("bind/listen: \(errno)")
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
        ThreadStarter.detach(name: "webhook-receiver") { [self] in run() }
    }

    var url: String { "http://127.0.0.1:\(port)/hook" }

    /// Every request so far.
    var requests: [Request] { state.withLock { $0.requests } }

    /// The requests answered 200.
    var accepted: [Request] { requests.filter { $0.status == 200 } }

    /// Accept from now on, after refusing `refusingFirst` more requests.
    func startAccepting(refusingFirst: Int = 0) {
        state.withLock {
            $0.refuseNext = refusingFirst
            $0.accepting = true
        }
    }

    /// Stops the thread (it closes every socket) and waits at most 2 s for it. Idempotent.
    func stop() {
        state.withLock { $0.stopped = true }
        let deadline = Date().addingTimeInterval(2)
        while state.withLock({ $0.running }), Date() < deadline { usleep(2_000) }
    }

    private func status() -> Int {
        state.withLock { s in
            if !s.accepting { return 503 }
            if s.refuseNext > 0 {
                s.refuseNext -= 1
                return 503
            }
            return 200
        }
    }

    private func run() {
        var buffers: [Int32: [UInt8]] = [:]
        defer {
            for fd in buffers.keys { close(fd) }
            close(listener)
            state.withLock { $0.running = false }
        }
        let deadline = Date().addingTimeInterval(120)
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while Date() < deadline, !state.withLock({ $0.stopped }) {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
            fds += buffers.keys.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), 20) > 0 else { continue }
            for entry in fds where entry.revents != 0 {
                if entry.fd == listener {
                    let fd = accept(listener, nil, nil)
                    if fd >= 0 { buffers[fd] = [] }
                    continue
                }
                let n = chunk.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                guard n > 0 else {
                    close(entry.fd)
                    buffers[entry.fd] = nil
                    continue
                }
                buffers[entry.fd, default: []] += chunk[0..<n]
                while let (body, consumed) = Self.completeRequest(in: buffers[entry.fd] ?? []) {
                    buffers[entry.fd]?.removeFirst(consumed)
                    let code = status()
                    state.withLock { $0.requests.append(Request(status: code, body: body, at: .now)) }
                    let response = Array("HTTP/1.1 \(code) \(code == 200 ? "OK" : "Service Unavailable")\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n".utf8)
                    _ = response.withUnsafeBytes { write(entry.fd, $0.baseAddress, $0.count) }
                }
            }
        }
    }

    /// The body of the first complete request in `buffer` and the bytes it takes, nil while incomplete.
    private static func completeRequest(in buffer: [UInt8]) -> (body: [UInt8], consumed: Int)? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard buffer.count >= 4, let end = (0...(buffer.count - 4)).first(where: { Array(buffer[$0..<$0 + 4]) == separator }) else { return nil }
        let head = String(decoding: buffer[0..<end], as: UTF8.self)
        var length = 0
        for line in head.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" {
                length = Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0
            }
        }
        let total = end + 4 + length
        guard buffer.count >= total else { return nil }
        return (Array(buffer[(end + 4)..<total]), total)
    }
}

/// The stream records of webhook request bodies (JSON arrays of the stdout objects).
private func webhookRecords(_ requests: [RefusingWebhookReceiver.Request]) -> [StreamJSONRecord] {
    requests.flatMap { request -> [StreamJSONRecord] in
        let array = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [[String: Any]] ?? []
        return array.compactMap { StreamJSONRecord(object: $0, line: "") }
    }
}

// MARK: - Tests

extension StreamIntegrationTests {
    @Suite("resub reading streams", .serialized)
    struct StreamServiceTests {
        @Test("resub --stream on an empty stream exits 0 within 1 s of SIGTERM", .timeLimit(.minutes(1)))
        func sigtermOnEmptyStream() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            let scratch = try ScratchDirectory()
            defer { scratch.remove() }
            let resub = try StreamServiceProcess(
                arguments: serviceArguments(port: server.port, clientName: "svc-empty", ["--stream", "svc.empty"]),
                directory: scratch.path, name: "resub")
            defer { resub.stop() }
            let blocked = try await eventually(timeout: .seconds(10)) { try await StreamProbe.isBlockedInRead("svc-empty", port: server.port) }
            try #require(blocked, "resub never blocked in XREAD; log: \(resub.logTail)")
            try await Task.sleep(for: .milliseconds(300))  // well inside a blocked read
            let took = try await offPool { resub.terminate(waiting: .seconds(5)) }
            let elapsed = try #require(took, "still running 5 s after SIGTERM; log: \(resub.logTail)")
            #expect(elapsed < .seconds(1), "exited \(elapsed) after SIGTERM")
            #expect(resub.exitedCleanly, "reason \(resub.process.terminationReason.rawValue), status \(resub.process.terminationStatus); log: \(resub.logTail)")
            #expect(resub.lines().isEmpty)
            let gone = try await eventually(timeout: .seconds(2)) { try await StreamProbe.clients(named: "svc-empty", port: server.port).isEmpty }
            #expect(gone, "connections named svc-empty remain")
        }

        @Test("plain XREAD writes one JSON line per entry, field by field, and with --state-dir a restart resumes after the last written ID: nothing twice, nothing lost", .timeLimit(.minutes(1)))
        func plainReadResumesFromStateDirectory() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            let scratch = try ScratchDirectory()
            defer { scratch.remove() }
            let stateDirectory = scratch.path + "/state"
            let port = server.port
            let arguments = { (name: String) in
                serviceArguments(port: port, clientName: name, ["--stream", "sv.s", "--stream-start", "0", "--state-dir", stateDirectory])
            }
            var expected: [(id: String, line: String?, fields: [String: String], base64: [String: String])] = []
            func add(_ fields: [(String, String)]) async throws {
                let id = try await StreamProbe.xadd(port, "sv.s", fields)
                let json = fields.map { "\"\($0.0)\":\"\($0.1)\"" }.joined(separator: ",")
                expected.append((id, "{\"type\":\"stream\",\"stream\":\"sv.s\",\"id\":\"\(id)\",\"fields\":{\(json)}}", Dictionary(fields, uniquingKeysWith: { $1 }), [:]))
            }
            for i in 0..<3 { try await add([("n", String(i)), ("kind", "before start")]) }

            let first = try StreamServiceProcess(arguments: arguments("svc-plain-1"), directory: scratch.path, name: "run1")
            defer { first.stop() }
            try #require(try await eventually(timeout: .seconds(10)) { first.records().count >= 3 }, "log: \(first.logTail)")
            for i in 3..<6 { try await add([("n", String(i)), ("kind", "while running"), ("empty", "")]) }
            // Values that need escaping, and one that is not UTF-8 (written base64-encoded).
            let escaped = try await StreamProbe.xadd(port, "sv.s", [("text", "quote \" backslash \\ newline \n tab \t é ✓")])
            expected.append((escaped, nil, ["text": "quote \" backslash \\ newline \n tab \t é ✓"], [:]))
            let binary = try #require(try await StreamProbe.commandBytes(port, [Array("XADD".utf8), Array("sv.s".utf8), Array("*".utf8), Array("ok".utf8), Array("yes".utf8), Array("bin".utf8), [0xFF, 0x00, 0xFE]]).string)
            expected.append((binary, nil, ["ok": "yes"], ["bin": Data([0xFF, 0x00, 0xFE]).base64EncodedString()]))
            try #require(try await eventually(timeout: .seconds(5)) { first.records().count >= expected.count }, "\(first.records().count) of \(expected.count); log: \(first.logTail)")
            let took = try await offPool { first.terminate(waiting: .seconds(5)) }
            #expect(took != nil && first.exitedCleanly, "log: \(first.logTail)")

            let firstRecords = first.records()
            #expect(first.lines().count == firstRecords.count, "only stream records are written: \(first.lines())")
            #expect(firstRecords.map(\.id) == expected.map(\.id))
            for (record, entry) in zip(firstRecords, expected) {
                if let line = entry.line { #expect(record.line == line) }
                #expect(record.stream == "sv.s")
                #expect(record.fields == entry.fields, "\(record.id)")
                #expect(record.base64Fields == entry.base64, "\(record.id)")
            }
            let state = FileManager.default.contents(atPath: stateDirectory + "/streams.json").flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: String] }
            #expect(state == ["sv.s": expected.last!.id], "state file: \(String(describing: state))")

            // Added while resub is down: written once by the next run, after nothing already written.
            var whileDown: [String] = []
            for i in 0..<4 { whileDown.append(try await StreamProbe.xadd(port, "sv.s", [("n", "down-\(i)")])) }
            let second = try StreamServiceProcess(arguments: arguments("svc-plain-2"), directory: scratch.path, name: "run2")
            defer { second.stop() }
            try #require(try await eventually(timeout: .seconds(10)) { second.records().count >= 4 }, "log: \(second.logTail)")
            var afterRestart: [String] = []
            for i in 0..<2 { afterRestart.append(try await StreamProbe.xadd(port, "sv.s", [("n", "up-\(i)")])) }
            _ = try await eventually(timeout: .seconds(5)) { second.records().count >= 6 }
            try await Task.sleep(for: .milliseconds(300))  // nothing more may come
            #expect(try await offPool { second.terminate(waiting: .seconds(5)) } != nil && second.exitedCleanly, "log: \(second.logTail)")

            let secondIDs = second.records().map(\.id)
            #expect(secondIDs == whileDown + afterRestart, "second run wrote \(secondIDs)")
            #expect(second.records().first?.fields == ["n": "down-0"])
            let all = firstRecords.map(\.id) + secondIDs
            #expect(all == (try await StreamProbe.storedIDs("sv.s", port: port)), "every stored entry exactly once, in order")
        }

        @Test("consumer group across kill -9: entries read but never written to stdout stay pending and are written again after the restart (at-least-once)", .timeLimit(.minutes(1)))
        func groupRedeliversAfterKill() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            let scratch = try ScratchDirectory()
            defer { scratch.remove() }
            let port = server.port
            let group = ["--stream", "gk.s", "--group", "g", "--consumer", "c1"]
            // stdout is a pipe nobody reads: once its buffer (resub asks for 1 MiB) is full the sink's writes block
            // and nothing is acknowledged.
            let first = try StreamServiceProcess(
                arguments: serviceArguments(port: port, clientName: "svc-gk-1", group), directory: scratch.path, name: "run1", stalledStdout: true)
            defer { first.stop() }
            try #require(try await eventually(timeout: .seconds(10)) { try await StreamProbe.isBlockedInRead("svc-gk-1", port: port) }, "log: \(first.logTail)")
            #expect(try await StreamProbe.groupCount("gk.s", port: port) == 1, "the group was not created")

            // 32 entries of 64 KiB (2 MiB, more than the pipe holds) in one transaction: one read, one batch,
            // acknowledged only once all are written.
            let entryCount = 32
            let blob = String(repeating: "x", count: 64 << 10)
            let replies = try await StreamProbe.pipeline(port, [["MULTI"]] + (0..<entryCount).map { ["XADD", "gk.s", "*", "n", String($0), "blob", blob] } + [["EXEC"]])
            let ids = (replies.last?.elements ?? []).compactMap(\.string)
            try #require(ids.count == entryCount, "EXEC: \(String(describing: replies.last))")
            let allPending = try await eventually(timeout: .seconds(5)) { try await StreamProbe.pendingCount("gk.s", group: "g", port: port) == entryCount }
            try #require(allPending, "log: \(first.logTail)")
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await StreamProbe.pendingIDs("gk.s", group: "g", consumer: "c1", port: port) == ids, "acknowledged before stdout took them")
            try await offPool { first.kill9() }
            #expect(first.process.terminationReason == .uncaughtSignal)
            #expect(try await StreamProbe.pendingCount("gk.s", group: "g", port: port) == entryCount)

            let second = try StreamServiceProcess(arguments: serviceArguments(port: port, clientName: "svc-gk-2", group), directory: scratch.path, name: "run2")
            defer { second.stop() }
            let delivered = try await eventually(timeout: .seconds(10)) {
                let pending = try await StreamProbe.pendingCount("gk.s", group: "g", port: port)
                return second.records().count >= entryCount && pending == 0
            }
            let pendingAfter = try await StreamProbe.pendingCount("gk.s", group: "g", port: port)
            #expect(delivered, "\(second.records().count) records, \(pendingAfter) pending; log: \(second.logTail)")
            try await Task.sleep(for: .milliseconds(200))
            let records = second.records()
            #expect(records.map(\.id) == ids, "the pending entries, each once, in order")
            #expect(records.compactMap { $0.fields["n"] } == (0..<entryCount).map { String($0) })
            #expect(records.allSatisfy { $0.fields["blob"]?.utf8.count == 64 << 10 })
            #expect(try await offPool { second.terminate(waiting: .seconds(5)) } != nil && second.exitedCleanly, "log: \(second.logTail)")
        }

        @Test("a stream reader holds its reads back while stdout is not read: entries are not read without bound", .timeLimit(.minutes(1)))
        func readerBackpressure() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            let scratch = try ScratchDirectory()
            defer { scratch.remove() }
            let port = server.port
            // 20,000 entries of 1 KiB: about 20 MiB of JSON lines, far more than the pipe (1 MiB) and the sink's
            // high-water mark (4 MiB) hold.
            let blob = String(repeating: "y", count: 1024)
            for chunk in stride(from: 0, to: 20_000, by: 1000) {
                _ = try await StreamProbe.pipeline(port, (chunk..<chunk + 1000).map { ["XADD", "bp.s", "*", "n", String($0), "blob", blob] })
            }
            let reader = try StreamServiceProcess(
                arguments: serviceArguments(port: port, clientName: "svc-bp", ["--stream", "bp.s", "--group", "g", "--consumer", "c1"]),
                directory: scratch.path, name: "bp", stalledStdout: true)
            defer { reader.stop() }
            // A group created at $ sees nothing: start it at 0 so all 20,000 are there to read.
            _ = try await eventually(timeout: .seconds(10)) { try await StreamProbe.groupCount("bp.s", port: port) == 1 }
            _ = try await StreamProbe.command(port, "XGROUP", "SETID", "bp.s", "g", "0")
            try await Task.sleep(for: .seconds(2))
            let pending = try await StreamProbe.pendingCount("bp.s", group: "g", port: port)
            try await Task.sleep(for: .seconds(1))
            let later = try await StreamProbe.pendingCount("bp.s", group: "g", port: port)
            #expect(pending > 0, "nothing was read at all; log: \(reader.logTail)")
            #expect(pending < 20_000, "every entry was read although stdout took none: reads were not held back")
            #expect(later == pending, "reads went on while the sink was full: \(pending) then \(later)")
        }

        @Test("consumer group with a webhook answering 503: entries stay pending (also across kill -9) until the receiver answers 200, then XPENDING is 0", .timeLimit(.minutes(1)))
        func groupWebhookAcknowledgesOnlyAccepted() async throws {
            let server = try RedisServer()
            defer { server.stop() }
            let receiver = try RefusingWebhookReceiver()
            defer { receiver.stop() }
            let scratch = try ScratchDirectory()
            defer { scratch.remove() }
            let port = server.port
            let flags = ["--stream", "wh.s", "--group", "g", "--consumer", "c1", "--webhook", receiver.url]
            let first = try StreamServiceProcess(arguments: serviceArguments(port: port, clientName: "svc-wh-1", flags), directory: scratch.path, name: "run1")
            defer { first.stop() }
            try #require(try await eventually(timeout: .seconds(10)) { try await StreamProbe.isBlockedInRead("svc-wh-1", port: port) }, "log: \(first.logTail)")
            var ids: [String] = []
            for i in 0..<6 { ids.append(try await StreamProbe.xadd(port, "wh.s", [("n", String(i))])) }

            let refused = try await eventually(timeout: .seconds(10)) { receiver.requests.count >= 2 }
            try #require(refused, "the webhook was not called; log: \(first.logTail)")
            #expect(receiver.accepted.isEmpty)
            #expect(try await StreamProbe.pendingCount("wh.s", group: "g", port: port) == 6, "acknowledged although the receiver refused")
            try await offPool { first.kill9() }
            #expect(try await StreamProbe.pendingIDs("wh.s", group: "g", consumer: "c1", port: port) == ids)
            let refusedBeforeKill = receiver.requests.count

            // The restarted service gets one more 503, then 200s.
            receiver.startAccepting(refusingFirst: 1)
            let second = try StreamServiceProcess(arguments: serviceArguments(port: port, clientName: "svc-wh-2", flags), directory: scratch.path, name: "run2")
            defer { second.stop() }
            var samples: [(pending: Int, acceptedSoFar: Int)] = []
            let deadline = ContinuousClock.now + .seconds(15)
            for _ in 0..<2_000 {
                // XPENDING first, then what the receiver had accepted by then: with nothing accepted yet, every
                // entry must still be pending.
                let pending = try await StreamProbe.pendingCount("wh.s", group: "g", port: port)
                samples.append((pending, receiver.accepted.count))
                if pending == 0 || ContinuousClock.now >= deadline { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(samples.last?.pending == 0, "still pending: \(samples.last?.pending ?? -1); requests: \(receiver.requests.map(\.status)); log: \(second.logTail)")
            let early = samples.filter { $0.acceptedSoFar == 0 && $0.pending != 6 }
            #expect(early.isEmpty, "XPENDING dropped before the receiver accepted anything: \(early.map(\.pending))")
            #expect(receiver.requests.count > refusedBeforeKill + 1, "the second run's first request was refused and retried")
            #expect(receiver.requests[refusedBeforeKill].status == 503)

            let accepted = webhookRecords(receiver.accepted)
            #expect(Set(accepted.map(\.id)) == Set(ids), "accepted \(accepted.map(\.id))")
            for record in accepted {
                #expect(record.stream == "wh.s")
                #expect(record.fields == ["n": String(ids.firstIndex(of: record.id) ?? -1)], "\(record.id)")
            }
            #expect(try await offPool { second.terminate(waiting: .seconds(5)) } != nil && second.exitedCleanly, "log: \(second.logTail)")
        }
    }
}
