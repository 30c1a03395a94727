import Foundation
import LibeventLoop
import Synchronization
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A running `resub` child. Tests call ``stop()`` in a `defer`, so no child outlives its test.
final class ServiceProcess: Sendable {
    private final class Output: Sendable {
        let bytes = Mutex<[UInt8]>([])
        let ended = Mutex(false)
    }

    /// How the child ended.
    enum Exit: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        var description: String {
            switch self {
            case .exited(let code): return "exit \(code)"
            case .signaled(let signal): return "signal \(signal)"
            }
        }
    }

    private let process: Process
    private let out = Output()
    private let err = Output()

    /// Starts `resub` with `arguments`. The environment is this process's without `REDIS_URL` and `RESUB_*`
    /// (so the developer's settings cannot leak in), plus `environment`.
    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        let executable = try Self.binary()
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("RESUB_") && $0.key != "REDIS_URL" }
        env.merge(environment) { $1 }
        let (process, stdout, stderr) = try retryingSpawn { () throws -> (Process, Pipe, Pipe) in
            let process = Process()
            process.executableURL = executable
            process.arguments = arguments
            process.environment = env
            let stdout = Pipe()
            let stderr = Pipe()
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = stdout
            process.standardError = stderr
            try process.run()
            return (process, stdout, stderr)
        }
        self.process = process
        Self.drain(stdout.fileHandleForReading, into: out)
        Self.drain(stderr.fileHandleForReading, into: err)
    }

    private static func drain(_ handle: FileHandle, into output: Output) {
        ThreadStarter.detach(name: "test-drain") {
            // Ends at EOF, which comes when the child exits (it is killed by the test at the latest).
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                output.bytes.withLock { $0.append(contentsOf: data) }
            }
            output.ended.withLock { $0 = true }
        }
    }

    /// `<scratch>/debug/resub` next to the test bundle, or `RESUB_BINARY`.
    static func binary() throws -> URL {
        let fm = FileManager.default
        if let override = ProcessInfo.processInfo.environment["RESUB_BINARY"] {
            guard fm.isExecutableFile(atPath: override) else { throw FixtureError("RESUB_BINARY=\(override) is not executable") }
            return URL(fileURLWithPath: override)
        }
        var starts: [URL] = []
        if let main = Bundle.main.executableURL { starts.append(main) }
        if let first = CommandLine.arguments.first { starts.append(URL(fileURLWithPath: first).standardizedFileURL) }
        var looked: [String] = []
        for start in starts {
            var directory = start.deletingLastPathComponent()
            for _ in 0..<5 {
                for candidate in [directory.appendingPathComponent("resub"), directory.appendingPathComponent("debug/resub")] {
                    looked.append(candidate.path)
                    var isDirectory: ObjCBool = false
                    if fm.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue, fm.isExecutableFile(atPath: candidate.path) {
                        return candidate
                    }
                }
                directory = directory.deletingLastPathComponent()
            }
        }
        throw FixtureError("the resub executable was not found (swift build --build-tests, or set RESUB_BINARY); looked in: \(looked.joined(separator: ", "))")
    }

    /// The child's pid.
    var pid: Int32 { process.processIdentifier }
    /// Whether the child still runs.
    var isRunning: Bool { process.isRunning }
    /// Everything on stdout so far (lossy text).
    var stdoutText: String { String(decoding: out.bytes.withLock { $0 }, as: UTF8.self) }
    /// The complete stdout lines so far.
    var stdoutLines: [String] {
        let text = stdoutText
        guard let last = text.lastIndex(of: "\n") else { return [] }
        return text[..<last].split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }
    /// Everything on stderr so far (lossy text).
    var stderrText: String { String(decoding: err.bytes.withLock { $0 }, as: UTF8.self) }

    /// Sends `signal` to the child (by pid) while it runs.
    func send(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// Waits (at most `timeout`) for the child to exit and its output to be drained; nil while it still runs.
    func waitForExit(timeout: Duration) async -> Exit? {
        guard await pollUntil(timeout: timeout, { !process.isRunning }) else { return nil }
        _ = await pollUntil(timeout: .seconds(2)) { out.ended.withLock { $0 } && err.ended.withLock { $0 } }
        return process.terminationReason == .exit ? .exited(process.terminationStatus) : .signaled(process.terminationStatus)
    }

    /// Waits (at most `timeout`) until stderr contains `text`.
    func waitForStderr(_ text: String, timeout: Duration = .seconds(5)) async -> Bool {
        await pollUntil(timeout: timeout) { stderrText.contains(text) }
    }

    /// The admin API's port, from the `admin API listening address=HOST:PORT` log line (so `--admin
    /// 127.0.0.1:0` can let the kernel choose), waiting at most `timeout`.
    func adminPort(timeout: Duration = .seconds(10)) async throws -> Int {
        var port: Int?
        _ = await pollUntil(timeout: timeout) {
            for line in stderrText.split(separator: "\n") where line.contains("admin API listening") {
                if let range = line.range(of: "address=") {
                    let address = line[range.upperBound...].prefix { $0 != " " }
                    if let colon = address.lastIndex(of: ":") { port = Int(address[address.index(after: colon)...]) }
                }
            }
            return port != nil || !process.isRunning
        }
        guard let port else { throw FixtureError("no admin API address logged; \(diagnostics)") }
        return port
    }

    /// Status, any crash headline, and the end of stderr (control characters shown as `?`), for failure messages.
    var diagnostics: String {
        let status = process.isRunning ? "running" : process.terminationReason == .exit ? "exited (\(process.terminationStatus))" : "killed by signal \(process.terminationStatus)"
        let text = String(stderrText.unicodeScalars.map { $0 == "\n" || $0 == "\t" || $0.value >= 0x20 ? Character($0) : "?" })
        let crash = text.split(separator: "\n").filter {
            $0.contains("Fatal error") || $0.contains("runtime failure") || $0.contains("Program crashed") || $0.contains("Assertion")
        }
        return "resub \(status)" + (crash.isEmpty ? "" : "; crash: " + crash.prefix(3).joined(separator: " | ")) + "; stderr:\n" + text.suffix(3000)
    }

    /// Kills the child (SIGKILL, by pid) if it still runs and waits (at most 5 s) until it is reaped. Idempotent.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        for _ in 0..<500 where process.isRunning { usleep(10_000) }
    }
}
