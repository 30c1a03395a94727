import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One `redis-server --sentinel` process on a free loopback port, with its own writable config file in a temp
/// directory (Sentinel rewrites it), stopped by pid. With a PKI it listens only on TLS and reaches the data
/// nodes and the other sentinels over TLS (`tls-replication yes`).
public final class RedisSentinel: @unchecked Sendable {
    /// The TCP port (127.0.0.1).
    public let port: Int
    /// The working directory (removed by ``stop()``).
    public let directory: String
    private let password: String?
    /// The PKI of a TLS-only sentinel; nil for plain TCP.
    public let tls: TestCertificates?
    private var process: Process?

    /// The pid while running.
    public var pid: Int32? { process.map { $0.processIdentifier } }

    /// Writes the config (monitoring `masterName` at `masterPort` with `quorum`) and starts the sentinel;
    /// waits until it answers PING (at most 10 s). `tls`: listen only on TLS (`port 0`, `tls-port`) with this
    /// PKI's server certificate, asking no client certificate.
    public init(
        masterName: String, masterPort: Int, quorum: Int, password: String? = nil, tls: TestCertificates? = nil, extraConfig: [String] = []
    ) throws {
        port = try RedisServer.freePort()
        self.password = password
        self.tls = tls
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("resub-sentinel-\(getpid())-\(port)-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var lines = tls.map { tls in
            ["port 0", "tls-port \(port)"] + tls.serverDirectives.map { "\($0.name) \($0.value)" }
                + ["tls-auth-clients no", "tls-replication yes"]
        } ?? ["port \(port)"]
        lines += [
            "bind 127.0.0.1", "dir \(directory)", "logfile \(directory)/sentinel.log", "daemonize no",
            "sentinel monitor \(masterName) 127.0.0.1 \(masterPort) \(quorum)",
            "sentinel down-after-milliseconds \(masterName) 1000",
            "sentinel failover-timeout \(masterName) 3000",
            "sentinel parallel-syncs \(masterName) 1",
        ]
        if let password { lines += ["requirepass \(password)", "sentinel sentinel-pass \(password)"] }
        lines += extraConfig
        try (lines.joined(separator: "\n") + "\n").write(toFile: directory + "/sentinel.conf", atomically: true, encoding: .utf8)
        try start()
    }

    deinit { stop() }

    private func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try RedisServer.executable())
        p.arguments = [directory + "/sentinel.conf", "--sentinel"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let reply = try? command(["PING"]), reply.string == "PONG" { return }
            guard p.isRunning else { break }
            usleep(10_000)
        }
        let log = (try? String(contentsOfFile: directory + "/sentinel.log", encoding: .utf8)) ?? ""
        stopProcess()
        throw FixtureError("sentinel on port \(port) did not come up; log:\n\(log.suffix(2000))")
    }

    /// Runs one command on a fresh connection (authenticated when the sentinel has a password; through
    /// `redis-cli --tls` for a TLS sentinel).
    @discardableResult
    public func command(_ args: [String]) throws -> RESPValueText {
        if let tls { return RESPValueText(try RedisCLI(port: port, certificates: tls, password: password).command(args, timeout: .seconds(2))) }
        let client = try SyncRedisClient(port: port, timeout: 2)
        if let password { _ = try client.command(["AUTH", password]) }
        return RESPValueText(try client.command(args))
    }

    /// SIGKILL and wait. Idempotent.
    public func kill() { stopProcess() }

    /// Kills the sentinel and removes its directory. Idempotent.
    public func stop() {
        stopProcess()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func stopProcess() {
        guard let p = process else { return }
        Glibc.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }
}
