import Foundation
import LibeventLoop
import RESP
import ResubService
import Synchronization
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The built `resub` executable as a subprocess, against real `redis-server` processes: its stdout lines, exit
/// codes, environment, signals and logs (the contract in CLI.md).
@Suite("resub executable", .serialized, .timeLimit(.minutes(2)))
struct ExecutableTests {
    // MARK: stdout

    @Test("JSON lines carry type, channel, pattern and payload for message, pmessage and smessage, and base64 for non-UTF-8")
    func jsonLines() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        let resub = try ResubProcess([
            "--url", server.url, "--channel", "orders", "--pattern", "news.*", "--shard-channel", "user:{42}", "--count", "6",
        ])
        defer { resub.kill() }
        try await resub.whileRunning {
            try await server.awaitSubscribers(channel: "orders", client: client, timeout: .seconds(10))
            try await server.awaitPatterns(count: 1, client: client)
            try await server.awaitShardSubscribers(channel: "user:{42}", client: client)
        }
        let escaped = "q\"b\\s\nn\tt\u{01}c/"
        #expect(try client.publish("orders", "hello") == 1)
        #expect(try client.publish("news.eu", "bonjour") == 1)
        #expect(try client.command(["SPUBLISH", "user:{42}", "sharded"]).int == 1)
        #expect(try client.publish("orders", bytes: [0xff, 0xfe, 0x00, 0x80]) == 1)
        #expect(try client.publish("orders", "héllo ✓ 日本") == 1)
        #expect(try client.publish("orders", escaped) == 1)

        let status = await resub.waitForExit(timeout: .seconds(10))
        #expect(status == .exited(0), "stderr: \(resub.stderrText)")
        let objects = try resub.stdoutLines.map(parseJSONObject)
        try #require(objects.count == 6, "stdout: \(resub.stdoutText)")

        #expect(objects[0]["type"] as? String == "message")
        #expect(objects[0]["channel"] as? String == "orders")
        #expect(objects[0]["payload"] as? String == "hello")
        #expect(objects[0]["pattern"] == nil)
        #expect(objects[0]["payload_base64"] == nil)

        #expect(objects[1]["type"] as? String == "pmessage")
        #expect(objects[1]["pattern"] as? String == "news.*")
        #expect(objects[1]["channel"] as? String == "news.eu")
        #expect(objects[1]["payload"] as? String == "bonjour")

        #expect(objects[2]["type"] as? String == "smessage")
        #expect(objects[2]["channel"] as? String == "user:{42}")
        #expect(objects[2]["payload"] as? String == "sharded")
        #expect(objects[2]["pattern"] == nil)

        #expect(objects[3]["type"] as? String == "message")
        #expect(objects[3]["channel"] as? String == "orders")
        #expect(objects[3]["payload"] == nil, "a non-UTF-8 payload has no \"payload\" key")
        let base64 = try #require(objects[3]["payload_base64"] as? String)
        #expect(Data(base64Encoded: base64).map { [UInt8]($0) } == [0xff, 0xfe, 0x00, 0x80])

        #expect(objects[4]["payload"] as? String == "héllo ✓ 日本")
        #expect(objects[5]["payload"] as? String == escaped, "quotes, backslashes and control characters round-trip")
    }

    @Test("--count N exits 0 after exactly N lines")
    func countExits() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        let resub = try ResubProcess(["--url", server.url, "--channel", "c", "--count", "3"])
        defer { resub.kill() }
        try await resub.whileRunning { try await server.awaitSubscribers(channel: "c", client: client, timeout: .seconds(10)) }
        _ = try client.pipeline((0..<10).map { ["PUBLISH", "c", String($0)] })
        #expect(await resub.waitForExit(timeout: .seconds(10)) == .exited(0), "stderr: \(resub.stderrText)")
        let payloads = try resub.stdoutLines.map { try parseJSONObject($0)["payload"] as? String }
        #expect(payloads == ["0", "1", "2"])
    }

    @Test("--format raw prints each payload's bytes followed by a newline")
    func rawFormat() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        let resub = try ResubProcess(["--url", server.url, "--channel", "r", "--format", "raw", "--count", "4"])
        defer { resub.kill() }
        try await resub.whileRunning { try await server.awaitSubscribers(channel: "r", client: client, timeout: .seconds(10)) }
        let payloads: [[UInt8]] = [Array("one".utf8), [], Array("héllo ✓".utf8), [0xff, 0xfe, 0x00, 0x80]]
        for payload in payloads { try client.publish("r", bytes: payload) }
        #expect(await resub.waitForExit(timeout: .seconds(10)) == .exited(0), "stderr: \(resub.stderrText)")
        #expect(resub.stdout == payloads.flatMap { $0 + [0x0A] })
    }

    @Test("20,000 messages on each of two channels reach stdout in order, none lost")
    func manyMessagesInOrder() async throws {
        let perChannel = 20_000
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        let resub = try ResubProcess(["--url", server.url, "--channel", "s.a", "--channel", "s.b", "--count", String(2 * perChannel)])
        defer { resub.kill() }
        try await resub.whileRunning {
            try await server.awaitSubscribers(channel: "s.a", client: client, timeout: .seconds(10))
            try await server.awaitSubscribers(channel: "s.b", client: client)
        }
        _ = try await onThread {
            for start in stride(from: 0, to: perChannel, by: 500) {
                _ = try client.pipeline((start..<start + 500).flatMap { [["PUBLISH", "s.a", String($0)], ["PUBLISH", "s.b", String($0)]] })
            }
        }
        #expect(await resub.waitForExit(timeout: .seconds(60)) == .exited(0), "stderr: \(resub.stderrText)")
        let objects = try resub.stdoutLines.map(parseJSONObject)
        #expect(objects.count == 2 * perChannel)
        for channel in ["s.a", "s.b"] {
            let numbers = objects.filter { $0["channel"] as? String == channel }.map { Int($0["payload"] as? String ?? "") ?? -1 }
            #expect(numbers == Array(0..<perChannel), "\(channel) out of order or incomplete (\(numbers.count) lines)")
        }
    }

    // MARK: Usage errors

    struct UsageCase: Sendable, CustomTestStringConvertible {
        let arguments: [String]
        let environment: [String: String]
        let mentions: String
        var testDescription: String { (environment.map { "\($0)=\($1)" } + arguments).joined(separator: " ") }
        init(_ arguments: [String], env environment: [String: String] = [:], mentions: String) {
            self.arguments = arguments
            self.environment = environment
            self.mentions = mentions
        }
    }

    static let usageCases: [UsageCase] = [
        UsageCase(["--channel", "c", "--bogus"], mentions: "--bogus"),
        UsageCase(["--url", "http://x", "--channel", "c"], mentions: "--url"),
        UsageCase([], mentions: "--channel"),
        UsageCase(["--channel", "c", "--format", "xml"], mentions: "--format"),
        UsageCase(["--channel", "c", "--count", "0"], mentions: "--count"),
        UsageCase(["--channel", "c"], env: ["REDIS_URL": "http://x"], mentions: "REDIS_URL"),
    ]

    @Test("bad usage exits 64 with a message on stderr naming the option", arguments: usageCases)
    func usageErrors(usage: UsageCase) async throws {
        let resub = try ResubProcess(usage.arguments, environment: usage.environment)
        defer { resub.kill() }
        let status = await resub.waitForExit(timeout: .seconds(10))
        #expect(status == .exited(64), "stderr: \(resub.stderrText)")
        #expect(resub.stderrText.contains(usage.mentions), "stderr does not mention \(usage.mentions): \(resub.stderrText)")
        #expect(resub.stdout.isEmpty)
    }

    // MARK: Environment

    @Test("REDIS_URL is used when no --url is given")
    func redisURLFromEnvironment() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        let resub = try ResubProcess(["--channel", "envtest", "--count", "1"], environment: ["REDIS_URL": server.url])
        defer { resub.kill() }
        try await resub.whileRunning { try await server.awaitSubscribers(channel: "envtest", client: client, timeout: .seconds(10)) }
        try client.publish("envtest", "from env")
        #expect(await resub.waitForExit(timeout: .seconds(10)) == .exited(0), "stderr: \(resub.stderrText)")
        let objects = try resub.stdoutLines.map(parseJSONObject)
        #expect(objects.count == 1)
        #expect(objects.first?["channel"] as? String == "envtest")
        #expect(objects.first?["payload"] as? String == "from env")
    }

    // MARK: Signals

    @Test("SIGTERM and SIGINT make a running resub exit 0 within 2 seconds", arguments: [SIGTERM, SIGINT])
    func signalsExitCleanly(signal: Int32) async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        let resub = try ResubProcess(["--url", server.url, "--channel", "sig"])
        defer { resub.kill() }
        try await resub.whileRunning { try await server.awaitSubscribers(channel: "sig", client: client, timeout: .seconds(10)) }
        try client.publish("sig", "before")
        #expect(await resub.waitForStdoutLines(1) == 1)

        let start = ContinuousClock.now
        resub.send(signal)
        let status = await resub.waitForExit(timeout: .seconds(2))
        let took = ContinuousClock.now - start
        #expect(status == .exited(0), "after \(took); stderr: \(resub.stderrText)")
        #expect(took < .seconds(2))
        #expect(try resub.stdoutLines.map { try parseJSONObject($0)["payload"] as? String } == ["before"])
        let gone = try await waitUntil { try !server.clientNames(client: client).contains("resub") }
        #expect(gone, "the server still lists resub's connection")
    }

    @Test("SIGTERM exits 0 within the shutdown timeout (10 s by default) even when nobody reads stdout")
    func sigtermWithBlockedStdout() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        let resub = try ResubProcess(["--url", server.url, "--channel", "flood"], drainStdout: false)
        defer { resub.kill() }
        try await resub.whileRunning { try await server.awaitSubscribers(channel: "flood", client: client, timeout: .seconds(10)) }
        // 4 MiB of JSON lines: far more than the pipe buffer (resub asks for 1 MiB), so the writer thread blocks
        // in write(2).
        let payload = String(repeating: "x", count: 1000)
        let replies = try await onThread { try client.pipeline((0..<4096).map { _ in ["PUBLISH", "flood", payload] }) }
        #expect(replies.count == 4096)
        try await Task.sleep(for: .milliseconds(300))

        let start = ContinuousClock.now
        resub.send(SIGTERM)
        let status = await resub.waitForExit(timeout: .seconds(12))
        #expect(status == .exited(0), "no exit \(ContinuousClock.now - start) after SIGTERM with stdout full; stderr: \(resub.stderrText)")
    }

    @Test("when stdout is closed, resub stops instead of running on without output")
    func closedStdoutStops() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        let resub = try ResubProcess(["--url", server.url, "--channel", "pipe"], drainStdout: false)
        defer { resub.kill() }
        try await resub.whileRunning { try await server.awaitSubscribers(channel: "pipe", client: client, timeout: .seconds(10)) }
        resub.closeStdout()
        try client.publish("pipe", "into the void")
        let status = await resub.waitForExit(timeout: .seconds(5))
        #expect(status != nil, "resub still runs with a closed stdout; stderr: \(resub.stderrText)")
        #expect(status != .signaled(SIGPIPE), "killed by SIGPIPE instead of handling EPIPE")
    }

    @Test("a channel name that is not UTF-8 is written with U+FFFD and the line stays valid JSON")
    func nonUTF8ChannelName() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        let resub = try ResubProcess(["--url", server.url, "--pattern", "bin.*", "--count", "1"])
        defer { resub.kill() }
        try await resub.whileRunning { try await server.awaitPatterns(count: 1, client: client, timeout: .seconds(10)) }
        var command: [UInt8] = []
        RESPEncoder.appendCommand([Array("PUBLISH".utf8), Array("bin.".utf8) + [0xff, 0x41], Array("ok".utf8)], to: &command)
        try client.send(command)
        #expect(try client.readValue().int == 1)
        #expect(await resub.waitForExit(timeout: .seconds(10)) == .exited(0), "stderr: \(resub.stderrText)")
        let objects = try resub.stdoutLines.map(parseJSONObject)
        #expect(objects.count == 1)
        #expect(objects.first?["type"] as? String == "pmessage")
        #expect(objects.first?["pattern"] as? String == "bin.*")
        #expect(objects.first?["channel"] as? String == "bin.\u{FFFD}A")
        #expect(objects.first?["payload"] as? String == "ok")
    }

    @Test("SIGHUP without --config neither stops resub nor its delivery")
    func sighupIsHarmless() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        let resub = try ResubProcess(["--url", server.url, "--channel", "hup", "--count", "1"])
        defer { resub.kill() }
        try await resub.whileRunning { try await server.awaitSubscribers(channel: "hup", client: client, timeout: .seconds(10)) }
        resub.send(SIGHUP)
        try await Task.sleep(for: .milliseconds(200))
        #expect(resub.isRunning, "SIGHUP ended resub; stderr: \(resub.stderrText)")
        try client.publish("hup", "still here")
        #expect(await resub.waitForExit(timeout: .seconds(10)) == .exited(0))
        #expect(try resub.stdoutLines.map { try parseJSONObject($0)["payload"] as? String } == ["still here"])
    }

    // MARK: Logs

    @Test("--log-format json writes every stderr line as a JSON object with level and msg")
    func jsonLogs() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        let resub = try ResubProcess(["--url", server.url, "--channel", "logs", "--log-format", "json", "--count", "1"])
        defer { resub.kill() }
        try await resub.whileRunning { try await server.awaitSubscribers(channel: "logs", client: client, timeout: .seconds(10)) }
        try client.publish("logs", "x")
        #expect(await resub.waitForExit(timeout: .seconds(10)) == .exited(0), "stderr: \(resub.stderrText)")
        let lines = resub.stderrLines
        #expect(lines.count >= 2, "stderr: \(resub.stderrText)")
        for line in lines {
            let object = try? parseJSONObject(line)
            #expect(object != nil, "not a JSON object: \(String(decoding: line, as: UTF8.self))")
            #expect(object?["level"] is String, "no level: \(String(decoding: line, as: UTF8.self))")
            #expect(object?["msg"] is String, "no msg: \(String(decoding: line, as: UTF8.self))")
        }
    }

    @Test("a wrong password is logged without the password and the service keeps retrying instead of exiting")
    func wrongPasswordKeepsRunning() async throws {
        let server = try RedisServer(arguments: ["--user", "alice", "on", ">s3cret", "~*", "&*", "+@all", "--user", "default", "off"])
        defer { server.stop() }
        let resub = try ResubProcess(["--url", "redis://alice:not-the-pw@127.0.0.1:\(server.port)", "--channel", "c", "--reconnect-max", "0.2"])
        defer { resub.kill() }
        let logged = await waitUntil(timeout: .seconds(5)) { resub.stderrText.contains("authenticationFailed") }
        #expect(logged, "stderr: \(resub.stderrText)")
        try await Task.sleep(for: .milliseconds(500))
        #expect(resub.isRunning, "an authentication failure is not an exit")
        #expect(!resub.stderrText.contains("not-the-pw"), "the password leaked into the logs: \(resub.stderrText)")
        resub.send(SIGTERM)
        #expect(await resub.waitForExit(timeout: .seconds(2)) == .exited(0))
        #expect(!resub.stderrText.contains("not-the-pw"))
    }

    @Test("an unreachable server is not an exit: resub retries and receives once the server comes up")
    func unreachableServerIsRetried() async throws {
        let port = try RedisServer.freePort()
        let resub = try ResubProcess([
            "--url", "redis://127.0.0.1:\(port)", "--channel", "late", "--count", "1", "--reconnect-min", "0.05", "--reconnect-max", "0.2",
        ])
        defer { resub.kill() }
        try await Task.sleep(for: .seconds(1))
        #expect(resub.isRunning, "resub exited while the server was down; stderr: \(resub.stderrText)")
        #expect(!resub.stderrText.isEmpty, "the outage was not logged")

        let server = try RedisServer(port: port)
        defer { server.stop() }
        let client = try server.client()
        try await resub.whileRunning { try await server.awaitSubscribers(channel: "late", client: client, timeout: .seconds(10)) }
        try client.publish("late", "finally")
        #expect(await resub.waitForExit(timeout: .seconds(10)) == .exited(0), "stderr: \(resub.stderrText)")
        #expect(try resub.stdoutLines.map { try parseJSONObject($0)["payload"] as? String } == ["finally"])
    }

    // MARK: Command line as users expect it

    @Test("--version prints the version and exits 0, with nothing to subscribe")
    func version() async throws {
        let resub = try ResubProcess(["--version"])
        defer { resub.kill() }
        #expect(await resub.waitForExit(timeout: .seconds(10)) == .exited(0), "stderr: \(resub.stderrText)")
        #expect(String(decoding: resub.stdout, as: UTF8.self) == "\(ResubVersion.current)\n")
    }

    @Test("--url with a bad value is reported as --url, the option the user wrote")
    func badURLNamesTheFlag() async throws {
        let resub = try ResubProcess(["--url", "http://x", "--channel", "c"])
        defer { resub.kill() }
        #expect(await resub.waitForExit(timeout: .seconds(10)) == .exited(64))
        #expect(resub.stderrText.contains("--url:"), "stderr: \(resub.stderrText)")
        #expect(!resub.stderrText.contains("--urls"), "stderr: \(resub.stderrText)")
    }

    @Test("the completion scripts shipped in deploy/completions are what this build generates", arguments: ["bash", "zsh", "fish"])
    func completionScripts(shell: String) async throws {
        let resub = try ResubProcess(["--generate-completion-script", shell])
        defer { resub.kill() }
        #expect(await resub.waitForExit(timeout: .seconds(10)) == .exited(0), "stderr: \(resub.stderrText)")
        let generated = String(decoding: resub.stdout, as: UTF8.self)
        #expect(generated.contains("shard-channel"))
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shipped = try String(contentsOf: root.appendingPathComponent("deploy/completions/resub.\(shell)"), encoding: .utf8)
        #expect(shipped == generated, "deploy/completions/resub.\(shell) is stale: run scripts/generate-completions.sh")
    }
}

// MARK: - Subprocess

/// Parses one line as a JSON object.
func parseJSONObject(_ line: [UInt8]) throws -> [String: Any] {
    let parsed: Any
    do {
        parsed = try JSONSerialization.jsonObject(with: Data(line))
    } catch {
        throw FixtureError("not JSON (\(error)): \(String(decoding: line, as: UTF8.self)) bytes \(line.prefix(64))")
    }
    guard let object = parsed as? [String: Any] else {
        throw FixtureError("not a JSON object: \(String(decoding: line, as: UTF8.self))")
    }
    return object
}

/// How a child process ended.
enum ExitStatus: Equatable, CustomStringConvertible {
    /// It called exit with this code.
    case exited(Int32)
    /// A signal ended it.
    case signaled(Int32)

    var description: String {
        switch self {
        case .exited(let code): return "exit \(code)"
        case .signaled(let signal): return "signal \(signal)"
        }
    }
}

/// A running `resub` with its stdout and stderr drained into memory by two reader threads. Tests call
/// ``kill()`` in a `defer`, so no child outlives its test.
final class ResubProcess: Sendable {
    private final class Output: Sendable {
        let bytes = Mutex<[UInt8]>([])
        let ended = Mutex(false)
    }

    private let process = Process()
    private let out = Output()
    private let err = Output()

    private let stdoutPipe = Pipe()

    /// Starts `resub` with `arguments`; the environment is this process's without `REDIS_URL`, plus `environment`.
    /// With `drainStdout` false nobody reads stdout: once the pipe buffer (1 MiB, as resub asks) is full, resub's
    /// writes block.
    init(_ arguments: [String], environment: [String: String] = [:], drainStdout: Bool = true) throws {
        process.executableURL = try Self.binary()
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["REDIS_URL"] = nil
        env.merge(environment) { $1 }
        process.environment = env
        let stderr = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdoutPipe
        process.standardError = stderr
        try process.run()
        if drainStdout { Self.drain(stdoutPipe.fileHandleForReading, into: out) } else { out.ended.withLock { $0 = true } }
        Self.drain(stderr.fileHandleForReading, into: err)
    }

    /// Closes our (never drained) read end of stdout: resub's next write fails with EPIPE.
    func closeStdout() {
        try? stdoutPipe.fileHandleForReading.close()
    }

    private static func drain(_ handle: FileHandle, into output: Output) {
        ThreadStarter.detach(name: "test-drain") {
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                output.bytes.withLock { $0.append(contentsOf: data) }
            }
            output.ended.withLock { $0 = true }
        }
    }

    /// The `resub` executable next to the test bundle (`<scratch>/debug/resub`), or `RESUB_BINARY`.
    static func binary() throws -> URL {
        let fm = FileManager.default
        func isExecutableFile(_ url: URL) -> Bool {
            var isDirectory: ObjCBool = false
            return fm.fileExists(atPath: url.path, isDirectory: &isDirectory) && !isDirectory.boolValue && fm.isExecutableFile(atPath: url.path)
        }
        if let override = ProcessInfo.processInfo.environment["RESUB_BINARY"] {
            let url = URL(fileURLWithPath: override)
            guard isExecutableFile(url) else { throw FixtureError("RESUB_BINARY=\(override) is not an executable file") }
            return url
        }
        var starts: [URL] = []
        if let main = Bundle.main.executableURL { starts.append(main) }
        if let first = CommandLine.arguments.first { starts.append(URL(fileURLWithPath: first).standardizedFileURL) }
        var looked: [String] = []
        for start in starts {
            var directory = start.deletingLastPathComponent()
            for _ in 0..<4 {
                for candidate in [directory.appendingPathComponent("resub"), directory.appendingPathComponent("debug/resub")] {
                    looked.append(candidate.path)
                    if isExecutableFile(candidate) { return candidate }
                }
                directory = directory.deletingLastPathComponent()
            }
        }
        throw FixtureError(
            "the resub executable was not found (build it with `swift build --build-tests`, or set RESUB_BINARY); looked in: "
                + looked.joined(separator: ", "))
    }

    /// Whether the child is still running.
    var isRunning: Bool { process.isRunning }

    /// Everything written to stdout so far.
    var stdout: [UInt8] { out.bytes.withLock { $0 } }
    /// stdout as text (lossy).
    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    /// The complete lines of stdout so far, without their newlines.
    var stdoutLines: [[UInt8]] { Self.lines(stdout) }
    /// stderr as text (lossy).
    var stderrText: String { String(decoding: err.bytes.withLock { $0 }, as: UTF8.self) }
    /// The non-empty complete lines of stderr so far.
    var stderrLines: [[UInt8]] { Self.lines(err.bytes.withLock { $0 }).filter { !$0.isEmpty } }

    private static func lines(_ bytes: [UInt8]) -> [[UInt8]] {
        guard let lastNewline = bytes.lastIndex(of: 0x0A) else { return [] }
        return bytes[...lastNewline].split(separator: 0x0A, omittingEmptySubsequences: false).dropLast().map(Array.init)
    }

    /// Sends a signal to the child.
    func send(_ signal: Int32) {
        if process.isRunning { Glibc.kill(process.processIdentifier, signal) }
    }

    /// Waits (at most `timeout`) for at least `count` stdout lines; returns how many there are.
    func waitForStdoutLines(_ count: Int, timeout: Duration = .seconds(5)) async -> Int {
        _ = await waitUntil(timeout: timeout) { stdoutLines.count >= count }
        return stdoutLines.count
    }

    /// Waits (at most `timeout`) for the child to exit and its output to be drained; nil if it is still running.
    func waitForExit(timeout: Duration) async -> ExitStatus? {
        guard await waitUntil(timeout: timeout, { !process.isRunning }) else { return nil }
        // The pipes reach EOF right after the exit; give the reader threads a moment to take the rest.
        _ = await waitUntil(timeout: .seconds(2)) { out.ended.withLock { $0 } && err.ended.withLock { $0 } }
        return process.terminationReason == .exit ? .exited(process.terminationStatus) : .signaled(process.terminationStatus)
    }

    /// Runs `body` (a bounded wait on the server), adding the child's status and stderr to its error, so a
    /// resub that died or never subscribed explains itself.
    func whileRunning(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            let state = isRunning ? "still running" : "exited (\(process.terminationStatus))"
            throw FixtureError("\(error); resub \(state); stderr:\n\(stderrText)")
        }
    }

    /// Kills the child (SIGKILL) if it still runs and waits (at most 5 s) until Foundation has reaped it.
    /// Idempotent; for `defer` (so synchronous).
    func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        for _ in 0..<500 where process.isRunning { usleep(10_000) }
    }
}
