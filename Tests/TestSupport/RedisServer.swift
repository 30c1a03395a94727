import Foundation
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// A real `redis-server` process on a free loopback port, started by a test and stopped by pid.
///
/// Under CI (`CI=true`) a missing `redis-server` is a failure, never a skip.
public final class RedisServer: @unchecked Sendable {
    /// The TCP port (127.0.0.1).
    public let port: Int
    /// The Unix socket path, when started with `unixSocket: true`.
    public let unixSocketPath: String?
    /// The working directory (removed by ``stop()``).
    public let directory: String
    /// The PKI of a TLS-only server (`--port 0 --tls-port port`, `tls-replication yes`, no client
    /// certificate asked); nil for plain TCP.
    public let tls: TestCertificates?
    private let extraArguments: [String]
    private var process: Process?

    /// The pid of the running server (nil while stopped).
    public var pid: Int32? { process.map { $0.processIdentifier } }

    /// `redis://127.0.0.1:port` (`rediss://` over TLS).
    public var url: String { "\(tls == nil ? "redis" : "rediss")://127.0.0.1:\(port)" }

    /// Starts a server and waits until it answers PING (at most 10 s).
    /// - Parameters:
    ///   - arguments: extra `redis-server` arguments, e.g. `["--requirepass", "x"]`.
    ///   - unixSocket: also listen on a Unix socket in the working directory.
    ///   - tls: listen only on TLS with this PKI's server certificate (and replicate over TLS).
    public init(arguments: [String] = [], unixSocket: Bool = false, port: Int? = nil, tls: TestCertificates? = nil) throws {
        self.port = try port ?? Self.freePort()
        self.tls = tls
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("resub-redis-\(getpid())-\(self.port)-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        unixSocketPath = unixSocket ? directory + "/redis.sock" : nil
        var args = arguments
        if let unixSocketPath { args += ["--unixsocket", unixSocketPath, "--unixsocketperm", "700"] }
        extraArguments = args
        try start()
    }

    deinit { stop() }

    /// The path of `redis-server`, or an error explaining how to install it.
    public static func executable() throws -> String {
        for dir in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] where FileManager.default.isExecutableFile(atPath: dir + "/redis-server") {
            return dir + "/redis-server"
        }
        throw FixtureError("redis-server not found: apt-get install -y redis-server redis-tools")
    }

    /// Starts the server process (again, on the same port, after ``kill(_:)``).
    public func start() throws {
        guard process == nil else { return }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try Self.executable())
        p.arguments = listening + [
            "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", directory, "--logfile", directory + "/redis.log", "--daemonize", "no",
        ] + extraArguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        // Bounded wait until it accepts connections and answers.
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if (try? query(["PING"], timeout: 1)) != nil { return }
            guard p.isRunning else { break }
            usleep(10_000)
        }
        let log = (try? String(contentsOfFile: directory + "/redis.log", encoding: .utf8)) ?? ""
        stopProcess(signal: SIGKILL)
        throw FixtureError("redis-server on port \(port) did not come up; log:\n\(log.suffix(2000))")
    }

    /// Sends `signal` (SIGKILL by default) and, for signals that end it, waits for the process to exit.
    public func kill(_ signal: Int32 = SIGKILL) {
        stopProcess(signal: signal)
    }

    /// Freezes the server (SIGSTOP): the socket stays open but nothing is answered.
    public func freeze() {
        if let pid { Glibc.kill(pid, SIGSTOP) }
    }

    /// Thaws a frozen server (SIGCONT).
    public func thaw() {
        if let pid { Glibc.kill(pid, SIGCONT) }
    }

    /// Kills (SIGKILL) and starts again on the same port.
    public func restart() throws {
        kill()
        try start()
    }

    /// Kills the server and removes its directory. Idempotent.
    public func stop() {
        stopProcess(signal: SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func stopProcess(signal: Int32) {
        guard let p = process else { return }
        let pid = p.processIdentifier
        Glibc.kill(pid, SIGCONT)
        Glibc.kill(pid, signal)
        p.waitUntilExit()
        process = nil
    }

    /// `--port P`, or for TLS `--port 0 --tls-port P` with the certificate directives.
    private var listening: [String] {
        guard let tls else { return ["--port", String(port)] }
        return ["--port", "0", "--tls-port", String(port)] + tls.serverDirectives.flatMap { ["--" + $0.name, $0.value] }
            + ["--tls-auth-clients", "no", "--tls-replication", "yes"]
    }

    /// A new synchronous client to this server (plain TCP only: a TLS server is reached with ``command(_:)``).
    public func client() throws -> SyncRedisClient {
        try SyncRedisClient(port: port)
    }

    /// Runs one command on a fresh connection (through `redis-cli --tls` for a TLS server).
    @discardableResult
    public func command(_ args: String...) throws -> RESPValueText {
        RESPValueText(try query(args, timeout: 10))
    }

    private func query(_ args: [String], timeout: Double) throws -> RESPValue {
        guard let tls else { return try SyncRedisClient(port: port, timeout: timeout).command(args) }
        return try RedisCLI(port: port, certificates: tls).command(args, timeout: .seconds(timeout))
    }

    /// Binds port 0 on loopback and returns the port the kernel chose.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FixtureError("socket: \(errno)") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw FixtureError("bind: \(errno)") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// A failure of a test fixture.
public struct FixtureError: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String
    /// Creates an error.
    public init(_ description: String) { self.description = description }
}
