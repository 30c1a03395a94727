import Foundation
import Resub
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Secrets never leave the `resub` process: the Redis password (right or wrong, from the URL, a file or the
/// environment) and the admin token are searched for in every output channel — stdout, stderr (text and JSON
/// logs), every admin HTTP response (status line, headers, body) and `--help` — and must never be found.
/// Also: `--password-file` and `RESUB_PASSWORD` work, and a wrong password is reported (503 on /readyz with
/// `authenticationFailed`, counted in `resub_authentication_failures_total`) and retried at the backoff cap.
@Suite("Secrets stay out of every output", .serialized, .timeLimit(.minutes(3)))
struct RedactionTests {
    /// The server's password. Unique strings, so a hit can only be a leak.
    static let secret = "S3cr3t-Pass-Xyz"
    /// A wrong password, tried to force the error paths.
    static let wrongSecret = "Wr0ng-Pw-Qv7Kz"
    /// The admin API bearer token.
    static let token = "Adm1n-T0k-Jq4Wb"
    static let allSecrets = [secret, wrongSecret, token]

    static let logFormats = ["text", "json"]

    /// A server with `--requirepass` and an authenticated client to it.
    static func passwordServer() throws -> (RedisServer, SyncRedisClient) {
        let server = try RedisServer(arguments: ["--requirepass", secret])
        let client = try server.client()
        let auth = try client.command(["AUTH", secret])
        guard auth.string == "OK" else { throw FixtureError("AUTH refused: \(auth)") }
        return (server, client)
    }

    // MARK: Right and wrong passwords, text and JSON logs, every admin endpoint

    @Test("the right password in the URL: delivered, logged redacted, never in stdout, stderr or any admin response", arguments: logFormats)
    func rightPasswordNeverShown(logFormat: String) async throws {
        let (server, client) = try Self.passwordServer()
        defer { server.stop() }
        let resub = try ResubProcess([
            "--url", "redis://:\(Self.secret)@127.0.0.1:\(server.port)", "--channel", "red.c", "--pattern", "red.p.*",
            "--admin", "127.0.0.1:0", "--admin-token", Self.token, "--log-format", logFormat,
        ])
        defer { resub.kill() }
        try await resub.whileRunning { try await server.awaitSubscribers(channel: "red.c", client: client, timeout: .seconds(10)) }
        #expect(try client.publish("red.c", "plain payload") == 1)
        #expect(await resub.waitForStdoutLines(1) == 1, "stderr: \(resub.stderrText)")

        let port = try #require(await Self.adminPort(resub), "no admin address in stderr: \(resub.stderrText)")
        let replies = try await Self.hitEveryEndpoint(port: port)
        let ready = try #require(replies["GET /readyz"])
        #expect(ready.status == 200, "\(ready.text)")
        #expect(replies["GET /metrics (no token)"]?.status == 401)
        #expect(replies["GET /metrics"]?.status == 200)
        #expect(replies["GET /subscriptions"]?.status == 200)

        resub.send(SIGTERM)
        #expect(await resub.waitForExit(timeout: .seconds(5)) == .exited(0), "stderr: \(resub.stderrText)")
        // Redacted, not omitted: the start line shows the URL with *** for the password.
        #expect(resub.stderrText.contains("redis://:***@127.0.0.1:\(server.port)"), "stderr: \(resub.stderrText)")
        Self.expectNoSecrets(stdout: resub.stdoutText, stderr: resub.stderrText, replies: replies)
    }

    @Test("a wrong password: authenticationFailed on /readyz (503), counted in metrics, and neither password shown anywhere", arguments: logFormats)
    func wrongPasswordNeverShown(logFormat: String) async throws {
        let (server, _) = try Self.passwordServer()
        defer { server.stop() }
        let resub = try ResubProcess([
            "--url", "redis://default:\(Self.wrongSecret)@127.0.0.1:\(server.port)", "--channel", "red.c",
            "--admin", "127.0.0.1:0", "--admin-token", Self.token, "--log-format", logFormat, "--reconnect-max", "0.3",
        ])
        defer { resub.kill() }
        let failed = await waitUntil(timeout: .seconds(10)) { resub.stderrText.contains("authenticationFailed") }
        #expect(failed, "no authenticationFailed in stderr: \(resub.stderrText)")
        let port = try #require(await Self.adminPort(resub), "no admin address in stderr: \(resub.stderrText)")
        let replies = try await Self.hitEveryEndpoint(port: port)

        let ready = try #require(replies["GET /readyz"])
        #expect(ready.status == 503, "\(ready.text)")
        let object = try parseJSONObject(Array(ready.body.utf8))
        let links = object["links"] as? [[String: Any]] ?? []
        #expect(object["ready"] as? Bool == false)
        #expect(links.first?["error"] as? String == "authenticationFailed", "\(ready.body)")
        let metrics = try #require(replies["GET /metrics"])
        let failures = try #require(Self.metric("resub_authentication_failures_total", in: metrics.body), "\(metrics.body)")
        #expect(failures > 0)
        #expect(resub.isRunning, "a wrong password is retried, not an exit")

        resub.send(SIGTERM)
        #expect(await resub.waitForExit(timeout: .seconds(5)) == .exited(0), "stderr: \(resub.stderrText)")
        #expect(resub.stdout.isEmpty)
        Self.expectNoSecrets(stdout: resub.stdoutText, stderr: resub.stderrText, replies: replies)
    }

    // MARK: --password-file and RESUB_PASSWORD

    enum PasswordSource: String, CaseIterable, Sendable {
        case file, environment
    }

    @Test("the password from --password-file or RESUB_PASSWORD logs in, delivers, and is never shown", arguments: PasswordSource.allCases)
    func passwordOutsideTheURL(source: PasswordSource) async throws {
        let (server, client) = try Self.passwordServer()
        defer { server.stop() }
        var arguments = ["--url", server.url, "--channel", "red.src", "--count", "2", "--log-format", "json"]
        var environment: [String: String] = [:]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("resub-pw-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        switch source {
        case .file:
            try (Self.secret + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            arguments += ["--password-file", file]
        case .environment:
            environment["RESUB_PASSWORD"] = Self.secret
        }
        let resub = try ResubProcess(arguments, environment: environment)
        defer { resub.kill() }
        try await resub.whileRunning { try await server.awaitSubscribers(channel: "red.src", client: client, timeout: .seconds(10)) }
        #expect(try client.publish("red.src", "one") == 1)
        #expect(try client.publish("red.src", "two") == 1)
        #expect(await resub.waitForExit(timeout: .seconds(10)) == .exited(0), "stderr: \(resub.stderrText)")
        #expect(try resub.stdoutLines.map { try parseJSONObject($0)["payload"] as? String } == ["one", "two"])
        Self.expectNoSecrets(stdout: resub.stdoutText, stderr: resub.stderrText, replies: [:])
    }

    @Test("a wrong RESUB_PASSWORD fails with authenticationFailed and is never shown")
    func wrongPasswordFromEnvironment() async throws {
        let (server, _) = try Self.passwordServer()
        defer { server.stop() }
        let resub = try ResubProcess(
            ["--url", server.url, "--channel", "red.env", "--reconnect-max", "0.3"], environment: ["RESUB_PASSWORD": Self.wrongSecret])
        defer { resub.kill() }
        let failed = await waitUntil(timeout: .seconds(10)) { resub.stderrText.contains("authenticationFailed") }
        #expect(failed, "stderr: \(resub.stderrText)")
        resub.send(SIGTERM)
        #expect(await resub.waitForExit(timeout: .seconds(5)) == .exited(0))
        Self.expectNoSecrets(stdout: resub.stdoutText, stderr: resub.stderrText, replies: [:])
    }

    // MARK: Backoff on a wrong password

    @Test("a wrong password is retried at the cap: with --reconnect-max 1, at most ~5 connections in 4 s")
    func wrongPasswordBacksOffAtTheCap() async throws {
        let (server, client) = try Self.passwordServer()
        defer { server.stop() }
        let before = try Self.connectionsReceived(client)
        let started = ContinuousClock.now
        let resub = try ResubProcess([
            "--url", "redis://:\(Self.wrongSecret)@127.0.0.1:\(server.port)", "--channel", "red.cap",
            "--reconnect-max", "1", "--admin", "127.0.0.1:0",
        ])
        defer { resub.kill() }
        try await Task.sleep(until: started + .seconds(4))
        let attempts = try Self.connectionsReceived(client) - before
        let commandStats = try client.command(["INFO", "commandstats"]).string ?? ""
        let helloLine = commandStats.split(separator: "\r\n").first { $0.hasPrefix("cmdstat_hello:") }.map(String.init) ?? "(no HELLO calls)"
        #expect(attempts >= 2, "not retried: \(attempts) connections in 4 s; stderr: \(resub.stderrText)")
        #expect(attempts <= 5, "\(attempts) connections in 4 s with --reconnect-max 1 (\(helloLine)); stderr: \(resub.stderrText)")

        let port = try #require(await Self.adminPort(resub), "no admin address in stderr: \(resub.stderrText)")
        let metrics = try await onThread { try httpRequest(port: port, path: "/metrics") }
        let failures = Self.metric("resub_authentication_failures_total", in: metrics.body) ?? -1
        // One failure per attempt (the scrape comes a moment after the count: one more may have happened).
        #expect(failures >= 1 && failures <= Double(attempts + 1), "failures \(failures) for \(attempts) connections")
        resub.send(SIGTERM)
        #expect(await resub.waitForExit(timeout: .seconds(5)) == .exited(0))
        Self.expectNoSecrets(stdout: resub.stdoutText, stderr: resub.stderrText, replies: [:])
    }

    // MARK: --help and usage errors

    @Test("--help prints no secret even with secrets in the environment")
    func helpShowsNoSecrets() async throws {
        let resub = try ResubProcess(["--help"], environment: [
            "RESUB_PASSWORD": Self.secret, "REDIS_URL": "redis://:\(Self.wrongSecret)@127.0.0.1:6379", "RESUB_ADMIN_TOKEN": Self.token,
        ])
        defer { resub.kill() }
        #expect(await resub.waitForExit(timeout: .seconds(10)) == .exited(0))
        #expect(resub.stdoutText.contains("--password-file"), "help: \(resub.stdoutText)")
        Self.expectNoSecrets(stdout: resub.stdoutText, stderr: resub.stderrText, replies: [:])
    }

    struct UsageCase: Sendable, CustomTestStringConvertible {
        let name: String
        let arguments: [String]
        let environment: [String: String]
        let configFile: String?
        var testDescription: String { name }
    }

    static let usageCases: [UsageCase] = [
        UsageCase(name: "bad port after a password", arguments: ["--url", "redis://:\(secret)@127.0.0.1:99999", "--channel", "c"], environment: [:], configFile: nil),
        UsageCase(name: "bad percent-encoding in a user:password", arguments: ["--url", "redis://u:\(secret)%zz@127.0.0.1:6379", "--channel", "c"], environment: [:], configFile: nil),
        UsageCase(name: "unsupported scheme with a password", arguments: ["--url", "http://:\(secret)@127.0.0.1", "--channel", "c"], environment: [:], configFile: nil),
        UsageCase(name: "nothing to subscribe, password in REDIS_URL", arguments: [], environment: ["REDIS_URL": "redis://:\(secret)@127.0.0.1:6379"], configFile: nil),
        UsageCase(name: "bad REDIS_URL with a password", arguments: ["--channel", "c"], environment: ["REDIS_URL": "redis://:\(secret)@[::1"], configFile: nil),
        UsageCase(name: "admin off loopback without a token, password in RESUB_PASSWORD", arguments: ["--channel", "c", "--admin", "0.0.0.0:1"], environment: ["RESUB_PASSWORD": secret], configFile: nil),
        UsageCase(name: "config file with a password and an unknown key", arguments: [], environment: [:], configFile: "password: \(secret)\nchannels: [a]\nbogus_key: 1\n"),
        UsageCase(name: "config file with an unterminated quote on the password line", arguments: [], environment: [:], configFile: "channels: [a]\npassword: \"\(secret)\n"),
        UsageCase(name: "config file with a YAML error after the password", arguments: [], environment: [:], configFile: "password: \(secret)\nchannels: [a\n"),
    ]

    @Test("usage and configuration errors exit 64 without echoing the password", arguments: usageCases)
    func usageErrorsShowNoSecrets(usage: UsageCase) async throws {
        var arguments = usage.arguments
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("resub-cfg-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        if let contents = usage.configFile {
            try contents.write(toFile: path, atomically: true, encoding: .utf8)
            arguments += ["--config", path]
        }
        let resub = try ResubProcess(arguments, environment: usage.environment)
        defer { resub.kill() }
        #expect(await resub.waitForExit(timeout: .seconds(10)) == .exited(64), "stderr: \(resub.stderrText)")
        #expect(!resub.stderrText.isEmpty)
        Self.expectNoSecrets(stdout: resub.stdoutText, stderr: resub.stderrText, replies: [:])
    }

    // MARK: Helpers

    /// Fails for every secret found in any output.
    static func expectNoSecrets(stdout: String, stderr: String, replies: [String: HTTPReply], sourceLocation: SourceLocation = #_sourceLocation) {
        var channels = [("stdout", stdout), ("stderr", stderr)]
        for (name, reply) in replies.sorted(by: { $0.key < $1.key }) { channels.append(("HTTP \(name)", reply.text)) }
        for (name, text) in channels {
            for secret in allSecrets {
                #expect(!text.contains(secret), "\(secret) leaked into \(name):\n\(text)", sourceLocation: sourceLocation)
            }
        }
    }

    /// GETs /healthz, /readyz, /metrics (with and without the token), /subscriptions, and an unknown path,
    /// plus a POST and a DELETE of /subscriptions with a bad body (error paths).
    static func hitEveryEndpoint(port: Int) async throws -> [String: HTTPReply] {
        try await onThread {
            var replies: [String: HTTPReply] = [:]
            for path in ["/healthz", "/readyz", "/metrics", "/subscriptions", "/nope"] {
                replies["GET \(path)"] = try httpRequest(port: port, path: path, token: token)
            }
            replies["GET /metrics (no token)"] = try httpRequest(port: port, path: "/metrics")
            replies["GET /metrics (wrong token)"] = try httpRequest(port: port, path: "/metrics", token: wrongSecret)
            replies["POST /subscriptions (bad body)"] = try httpRequest(port: port, path: "/subscriptions", method: "POST", token: token, body: "{\"channels\": 7}")
            replies["DELETE /subscriptions (not JSON)"] = try httpRequest(port: port, path: "/subscriptions", method: "DELETE", token: token, body: "nope")
            replies["PUT /metrics"] = try httpRequest(port: port, path: "/metrics", method: "PUT", token: token)
            return replies
        }
    }

    /// The admin port from the "admin API listening" log line (text: `address=127.0.0.1:N`, JSON: `"address":"127.0.0.1:N"`).
    static func adminPort(_ resub: ResubProcess) async -> Int? {
        var port: Int?
        _ = await waitUntil(timeout: .seconds(10)) {
            guard let line = resub.stderrText.split(separator: "\n").first(where: { $0.contains("admin API listening") }),
                  let range = line.range(of: "127.0.0.1:")
            else { return false }
            port = Int(line[range.upperBound...].prefix { $0.isNumber })
            return port != nil
        }
        return port
    }

    /// A counter or gauge's value from Prometheus text (the first sample of `name`).
    static func metric(_ name: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name) && !line.hasPrefix("#") {
            let rest = line.dropFirst(name.count)
            guard rest.first == " " || rest.first == "{" else { continue }
            return line.split(separator: " ").last.flatMap { Double($0) }
        }
        return nil
    }

    /// `total_connections_received` from INFO stats.
    static func connectionsReceived(_ client: SyncRedisClient) throws -> Int {
        let text = try client.command(["INFO", "stats"]).string ?? ""
        guard let line = text.split(separator: "\r\n").first(where: { $0.hasPrefix("total_connections_received:") }),
              let value = Int(line.split(separator: ":").last ?? "")
        else { throw FixtureError("no total_connections_received in INFO stats: \(text)") }
        return value
    }
}

/// One HTTP response: the status and the raw text (status line, headers and body).
struct HTTPReply: Sendable {
    var status: Int
    var text: String
    var body: String
}

/// A blocking HTTP/1.1 request to 127.0.0.1:`port` with `Connection: close`, read to the end (at most 4 MiB,
/// 5 s socket timeouts).
func httpRequest(port: Int, path: String, method: String = "GET", token: String? = nil, body: String? = nil) throws -> HTTPReply {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw FixtureError("socket: \(errno)") }
    defer { close(fd) }
    var tv = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = UInt16(port).bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else { throw FixtureError("connect to admin port \(port): \(String(cString: strerror(errno)))") }
    var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
    if let token { request += "Authorization: Bearer \(token)\r\n" }
    let payload = Array((body ?? "").utf8)
    if body != nil { request += "Content-Type: application/json\r\nContent-Length: \(payload.count)\r\n" }
    let bytes = Array((request + "\r\n").utf8) + payload
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
        guard n > 0 else { throw FixtureError("send to admin port failed: \(errno)") }
        offset += n
    }
    var received: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16 << 10)
    while received.count < 4 << 20 {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n == 0 { break }
        guard n > 0 else { throw FixtureError("read from admin port failed or timed out: \(errno)") }
        received += chunk[0..<n]
    }
    let text = String(decoding: received, as: UTF8.self)
    let statusLine = text.prefix { $0 != "\r" }
    let parts = statusLine.split(separator: " ")
    guard parts.count >= 2, let status = Int(parts[1]) else { throw FixtureError("not an HTTP response: \(text.prefix(200))") }
    let bodyText = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
    return HTTPReply(status: status, text: text, body: bodyText)
}
