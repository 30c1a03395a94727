import Foundation
import LibeventLoop
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A throw-away PKI for TLS tests, generated with the `openssl` CLI once per test process into a temporary
/// directory (removed when the process exits):
/// - a CA (`ca.crt`), the only trust anchor the tests hand to clients;
/// - `server.crt`: for `localhost` and IP 127.0.0.1 (subjectAltName), signed by the CA;
/// - `wrong.crt`: `CN=wrong.example`, SAN `DNS:wrong.example` only, signed by the same CA: its chain is
///   valid, so a client refusing it refuses the name;
/// - `client.crt`: a client certificate (extendedKeyUsage clientAuth) signed by the CA.
///
/// Keys are P-256 (fast to make); certificates are valid for two days from now.
public struct TestCertificates: Sendable {
    /// The directory holding every file.
    public let directory: String
    /// The CA certificate (PEM).
    public var caFile: String { directory + "/ca.crt" }
    /// The server certificate for `localhost` / 127.0.0.1 and its key.
    public var serverCertificate: String { directory + "/server.crt" }
    public var serverKey: String { directory + "/server.key" }
    /// The server certificate for `wrong.example` and its key.
    public var wrongNameCertificate: String { directory + "/wrong.crt" }
    public var wrongNameKey: String { directory + "/wrong.key" }
    /// The client certificate and its key.
    public var clientCertificate: String { directory + "/client.crt" }
    public var clientKey: String { directory + "/client.key" }

    /// The TLS directives (name, value) of a server presenting `server.crt` and trusting the CA, for a
    /// command line (`--name value`) or a config file (`name value`).
    public var serverDirectives: [(name: String, value: String)] {
        [("tls-cert-file", serverCertificate), ("tls-key-file", serverKey), ("tls-ca-cert-file", caFile)]
    }

    /// `redis-cli` options for a CA-verified TLS connection (with the client certificate when `clientCertificate`).
    public func redisCLIArguments(clientCertificate: Bool = false) -> [String] {
        ["--tls", "--cacert", caFile] + (clientCertificate ? ["--cert", self.clientCertificate, "--key", clientKey] : [])
    }

    private static let generated: Result<TestCertificates, FixtureError> = {
        do {
            let certificates = try generate()
            atexit { TestCertificates.removeGenerated() }
            return .success(certificates)
        } catch let error as FixtureError {
            return .failure(error)
        } catch {
            return .failure(FixtureError("\(error)"))
        }
    }()

    /// The certificates of this test process (generated on first use).
    public static func shared() throws -> TestCertificates {
        try generated.get()
    }

    private static func removeGenerated() {
        if case .success(let certificates) = generated {
            try? FileManager.default.removeItem(atPath: certificates.directory)
        }
    }

    private static func generate() throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("resub-pki-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try openssl(
            ["req", "-x509", "-new"] + key + [
                "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=resub test CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ], in: directory)
        let leaves: [(name: String, subject: String, extensions: [String], serial: Int)] = [
            ("server", "/CN=localhost", ["extendedKeyUsage=serverAuth", "subjectAltName=DNS:localhost,IP:127.0.0.1"], 2),
            ("wrong", "/CN=wrong.example", ["extendedKeyUsage=serverAuth", "subjectAltName=DNS:wrong.example"], 3),
            ("client", "/CN=resub test client", ["extendedKeyUsage=clientAuth"], 4),
        ]
        for leaf in leaves {
            let extensions = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature"] + leaf.extensions
            try (extensions.joined(separator: "\n") + "\n").write(toFile: "\(directory)/\(leaf.name).ext", atomically: true, encoding: .utf8)
            try openssl(["req", "-new"] + key + ["-keyout", "\(leaf.name).key", "-out", "\(leaf.name).csr", "-subj", leaf.subject], in: directory)
            try openssl(
                [
                    "x509", "-req", "-in", "\(leaf.name).csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", String(leaf.serial),
                    "-days", "2", "-out", "\(leaf.name).crt", "-extfile", "\(leaf.name).ext",
                ], in: directory)
        }
        return certificates
    }

    private static func openssl(_ arguments: [String], in directory: String) throws {
        let result = try runTool("/usr/bin/openssl", arguments, directory: directory, timeout: .seconds(30))
        guard result.status == 0 else {
            throw FixtureError("openssl \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.stderr)")
        }
    }
}

/// The outcome of ``runTool(_:_:directory:timeout:)``.
public struct ToolResult: Sendable {
    /// The exit status (or -1 when it had to be killed at the timeout).
    public var status: Int32
    /// Everything written to stdout.
    public var stdout: String
    /// Everything written to stderr.
    public var stderr: String
}

/// Runs a short-lived command-line tool (openssl, redis-cli) and collects its output; killed by pid (SIGKILL)
/// if it runs longer than `timeout`.
public func runTool(_ path: String, _ arguments: [String], directory: String? = nil, timeout: Duration = .seconds(10)) throws -> ToolResult {
    guard FileManager.default.isExecutableFile(atPath: path) else { throw FixtureError("\(path) not found") }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe()
    let err = Pipe()
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Drain both pipes on threads of their own, so a chatty tool never blocks on a full pipe.
    let collected = ToolOutput()
    for (handle, isStdout) in [(out.fileHandleForReading, true), (err.fileHandleForReading, false)] {
        ThreadStarter.detach(name: "test-tool-pipe") { collected.store(handle.readDataToEndOfFile(), stdout: isStdout) }
    }
    let deadline = ContinuousClock.now + timeout
    var killed = false
    while process.isRunning {
        if ContinuousClock.now >= deadline {
            kill(process.processIdentifier, SIGKILL)
            killed = true
            break
        }
        usleep(2_000)
    }
    process.waitUntilExit()
    // The pipes reach EOF once the tool (and anything it started) is gone; wait a bounded time for the readers.
    let readDeadline = ContinuousClock.now + .seconds(2)
    while !collected.isComplete && ContinuousClock.now < readDeadline { usleep(1_000) }
    return ToolResult(status: killed ? -1 : process.terminationStatus, stdout: collected.stdout, stderr: collected.stderr)
}

private final class ToolOutput: @unchecked Sendable {
    private let output = Mutex<(out: Data?, err: Data?)>((nil, nil))

    func store(_ data: Data, stdout: Bool) {
        output.withLock { if stdout { $0.out = data } else { $0.err = data } }
    }

    var isComplete: Bool { output.withLock { $0.out != nil && $0.err != nil } }
    var stdout: String { output.withLock { String(decoding: $0.out ?? Data(), as: UTF8.self) } }
    var stderr: String { output.withLock { String(decoding: $0.err ?? Data(), as: UTF8.self) } }
}

/// A `redis-server` that speaks only TLS: `--port 0 --tls-port <free port>`, with a certificate from
/// ``TestCertificates``, on 127.0.0.1 (and ::1 when available). Started by a test, stopped by pid.
public final class TLSRedisServer: @unchecked Sendable {
    /// Which server certificate to present.
    public enum Identity: Sendable {
        /// `localhost` and 127.0.0.1.
        case localhost
        /// `wrong.example` only (valid chain, wrong name).
        case wrongName
    }

    /// The TLS port.
    public let port: Int
    /// The working directory (removed by ``stop()``).
    public let directory: String
    /// The PKI in use.
    public let certificates: TestCertificates
    /// Whether the server demands a client certificate (`--tls-auth-clients yes`).
    public let requiresClientCertificate: Bool
    private var process: Process?

    /// The pid of the running server (nil once stopped).
    public var pid: Int32? { process.map { $0.processIdentifier } }

    /// Starts the server and waits (at most 10 s) until it answers PING over TLS.
    public init(identity: Identity = .localhost, requireClientCertificate: Bool = false, arguments: [String] = []) throws {
        certificates = try TestCertificates.shared()
        requiresClientCertificate = requireClientCertificate
        port = try RedisServer.freePort()
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("resub-tls-redis-\(getpid())-\(port)-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let (certificate, key) = identity == .localhost
            ? (certificates.serverCertificate, certificates.serverKey)
            : (certificates.wrongNameCertificate, certificates.wrongNameKey)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try RedisServer.executable())
        p.arguments = [
            "--port", "0", "--tls-port", String(port), "--bind", "127.0.0.1", "-::1",
            "--tls-cert-file", certificate, "--tls-key-file", key, "--tls-ca-cert-file", certificates.caFile,
            "--tls-auth-clients", requireClientCertificate ? "yes" : "no",
            "--save", "", "--appendonly", "no", "--dir", directory, "--logfile", directory + "/redis.log", "--daemonize", "no",
        ] + arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let reply = try? cli(["PING"], timeout: .seconds(2)), reply.status == 0, reply.stdout.contains("PONG") { return }
            guard p.isRunning else { break }
            usleep(20_000)
        }
        let log = (try? String(contentsOfFile: directory + "/redis.log", encoding: .utf8)) ?? ""
        stop()
        throw FixtureError("TLS redis-server on port \(port) did not come up; log:\n\(log.suffix(2000))")
    }

    deinit { stop() }

    /// Runs `redis-cli --tls` against this server (CA-verified; with the client certificate when the server
    /// requires one). The output is redis-cli's plain text (`--no-raw` is not forced).
    public func cli(_ arguments: [String], timeout: Duration = .seconds(5)) throws -> ToolResult {
        let tls = certificates.redisCLIArguments(clientCertificate: requiresClientCertificate)
        return try runTool("/usr/bin/redis-cli", tls + ["-h", "127.0.0.1", "-p", String(port)] + arguments, timeout: timeout)
    }

    /// PUBLISH over TLS; returns the receiver count.
    @discardableResult
    public func publish(_ channel: String, _ payload: String) throws -> Int {
        let result = try cli(["PUBLISH", channel, payload])
        guard result.status == 0, let count = Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw FixtureError("redis-cli PUBLISH failed (\(result.status)): \(result.stdout) \(result.stderr)")
        }
        return count
    }

    /// `PUBSUB NUMSUB channel` over TLS.
    public func numsub(_ channel: String) throws -> Int {
        let result = try cli(["PUBSUB", "NUMSUB", channel])
        let lines = result.stdout.split(separator: "\n")
        return lines.count >= 2 ? Int(lines[1].trimmingCharacters(in: .whitespaces)) ?? -1 : -1
    }

    /// Kills the server (SIGKILL, by pid) and removes its directory. Idempotent.
    public func stop() {
        if let p = process {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            process = nil
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
