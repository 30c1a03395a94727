import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

// The service around the sinks, end to end through the `resub` executable: the admin API, configuration
// layering and SIGHUP reload, and shutdown with a webhook backlog. Real redis-server processes on free
// loopback ports; the admin API on a kernel-chosen loopback port (`--admin 127.0.0.1:0`, read from the log).
//
// Serialized for the same reasons as the webhook tests. Every wait is bounded; every process and server is
// stopped by the test that started it.

/// Quick health checks and reconnects, and the admin API on a free loopback port.
private func serviceArguments(_ redis: RedisServer, _ extra: [String]) -> [String] {
    ["--url", redis.url, "--ping-interval", "0.5", "--ping-timeout", "0.5", "--reconnect-min", "0.05", "--reconnect-max", "0.3",
     "--admin", "127.0.0.1:0"] + extra
}

private func get(_ port: Int, _ path: String, token: String? = nil) throws -> TestHTTP.Response {
    try TestHTTP.request(port: port, path: path, headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [])
}

private func send(_ port: Int, _ method: String, _ path: String, json: String, token: String? = nil) throws -> TestHTTP.Response {
    var headers = [("Content-Type", "application/json")]
    if let token { headers.append(("Authorization", "Bearer \(token)")) }
    return try TestHTTP.request(port: port, method: method, path: path, headers: headers, body: Array(json.utf8))
}

/// A `/subscriptions` answer as sorted name lists by key.
private func subscriptionLists(_ response: TestHTTP.Response) throws -> [String: [String]] {
    let object = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any], "not an object: \(response.text)")
    var lists: [String: [String]] = [:]
    for (key, value) in object { lists[key] = try #require(value as? [String], "\(key) in \(response.text)") }
    return lists
}

/// Lines of a Prometheus text exposition that are neither comments, blank, nor `name{labels} value`.
private func malformedMetricLines(_ text: String) throws -> [String] {
    let label = #"[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*""#
    let value = #"[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?|NaN|Inf)"#
    let series = try Regex(#"[a-zA-Z_:][a-zA-Z0-9_:]*(\{("# + label + "(," + label + #")*,?)?\})? "# + value + #"( -?[0-9]+)?"#)
    return text.split(separator: "\n").map(String.init).filter { line in
        !line.isEmpty && !line.hasPrefix("#") && (try? series.wholeMatch(in: line)) == nil
    }
}

/// The value of one series (`name` or `name{labels}` exactly as exposed).
private func metricValue(_ text: String, _ series: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1).split(separator: " ")[0])
    }
    return nil
}

/// The stdout JSON lines parsed (a line that is not a message object fails the test).
private func stdoutMessages(_ process: ServiceProcess) throws -> [MessageObject] {
    try process.stdoutLines.map { try parseMessageObject(JSONSerialization.jsonObject(with: Data($0.utf8))) }
}

/// `cmdstat_ping` calls from INFO commandstats.
private func pingCalls(_ redis: RedisServer) throws -> Int {
    let text = try redis.command("INFO", "commandstats").string ?? ""
    guard let line = text.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_ping:") }),
          let calls = line.split(separator: ",").first?.split(separator: "=").last else { return 0 }
    return Int(calls) ?? 0
}

/// A configuration file that `--config` must reject, and the key the message must name.
struct InvalidConfigCase: Sendable, CustomTestStringConvertible {
    var yaml: String
    var key: String
    var testDescription: String { key }
}

@Suite("Service: admin API, configuration, shutdown", .serialized)
struct ServiceIntegrationTests {
    // MARK: Admin API

    @Test("/healthz answers 200 always; /readyz answers 200 while healthy, 503 once the redis-server is killed, and 200 again after it is back", .timeLimit(.minutes(1)))
    func healthAndReadiness() async throws {
        let redis = try startRedis()
        defer { redis.stop() }
        let resub = try ServiceProcess(serviceArguments(redis, ["--channel", "rz"]))
        defer { resub.stop() }
        let port = try await resub.adminPort()
        let health = try get(port, "/healthz")
        #expect(health.status == 200 && health.text.contains("\"ok\""), "\(health.status) \(health.text)")
        let ready = try await pollUntil(timeout: .seconds(10)) { try get(port, "/readyz").status == 200 }
        try #require(ready, "never ready; \(resub.diagnostics)")
        #expect(try get(port, "/readyz").text.contains("\"ready\":true"))

        redis.kill()
        let notReady = try await pollUntil(timeout: .seconds(5)) { try get(port, "/readyz").status == 503 }
        #expect(notReady, "still ready with the server killed")
        #expect(try get(port, "/readyz").text.contains("\"ready\":false"))
        #expect(try get(port, "/healthz").status == 200, "alive while Redis is down")

        try retryingSpawn { try redis.start() }
        let readyAgain = try await pollUntil(timeout: .seconds(10)) { try get(port, "/readyz").status == 200 }
        #expect(readyAgain, "not ready again after the server came back; \(resub.diagnostics)")
    }

    @Test("once up, the service gives back its start-up code's pages: the executable's read-only mappings shrink to what runs at rest, and it still delivers", .timeLimit(.minutes(1)))
    func startupPagesGivenBack() async throws {
        let redis = try startRedis()
        defer { redis.stop() }
        let resub = try ServiceProcess(serviceArguments(redis, ["--channel", "rest"]))
        defer { resub.stop() }
        let port = try await resub.adminPort()
        let ready = try await pollUntil(timeout: .seconds(10)) { try get(port, "/readyz").status == 200 }
        try #require(ready, "never ready; \(resub.diagnostics)")
        // Start-up leaves about half of the read-only mappings resident (the kernel maps 64 KiB around each
        // page that runs); a second after start-up settled they are advised away, and what runs at rest (the
        // loop, a PING every 0.5 s) comes back a little at a time.
        let released = try await pollUntil(timeout: .seconds(10), interval: .milliseconds(200)) {
            let pages = try ExecutableMappings.readOnly(pid: "\(resub.pid)")
            return pages.size > 0 && pages.resident * 4 < pages.size
        }
        let last = try ExecutableMappings.readOnly(pid: "\(resub.pid)")
        #expect(released, "read-only mappings still \(last.resident) KiB resident of \(last.size) KiB; \(resub.diagnostics)")
        try redis.publishAll([("rest", "after-release")])
        let delivered = await pollUntil(timeout: .seconds(5)) { resub.stdoutText.contains("after-release") }
        #expect(delivered, "nothing delivered after the release; \(resub.diagnostics)")
    }

    @Test("GET/POST/DELETE /subscriptions show and change what is subscribed (PUBSUB NUMSUB), and messages on a POSTed channel are delivered", .timeLimit(.minutes(1)))
    func subscriptions() async throws {
        let redis = try startRedis()
        defer { redis.stop() }
        let resub = try ServiceProcess(serviceArguments(redis, ["--channel", "adm.initial"]))
        defer { resub.stop() }
        let port = try await resub.adminPort()
        try await waitSubscribed(redis, channels: 1, resub)
        #expect(try subscriptionLists(get(port, "/subscriptions")) == ["channels": ["adm.initial"], "patterns": [], "shard_channels": []])

        let added = try send(port, "POST", "/subscriptions", json: #"{"channels":["adm.added"],"patterns":["adm.p.*"]}"#)
        #expect(added.status == 200)
        #expect(try subscriptionLists(added) == ["channels": ["adm.added"], "patterns": ["adm.p.*"], "shard_channels": []], "the confirmed names")
        let subscribed = try await pollUntil(timeout: .seconds(5)) { try redis.numsub("adm.added") == 1 && redis.subscriptionCounts().patterns == 1 }
        try #require(subscribed, "POSTed subscriptions not made; \(resub.diagnostics)")
        try redis.publishAll([("adm.added", "hello-added"), ("adm.p.x", "hello-pattern")])
        let delivered = try await pollUntil(timeout: .seconds(5)) { try stdoutMessages(resub).count >= 2 }
        #expect(delivered)
        #expect(try stdoutMessages(resub) == [
            ["type": "message", "channel": "adm.added", "payload": "hello-added"],
            ["type": "pmessage", "pattern": "adm.p.*", "channel": "adm.p.x", "payload": "hello-pattern"],
        ])

        let removed = try send(port, "DELETE", "/subscriptions", json: #"{"channels":["adm.initial"]}"#)
        #expect(removed.status == 200)
        #expect(try subscriptionLists(removed)["channels"] == ["adm.initial"], "the confirmed removal")
        let unsubscribed = try await pollUntil(timeout: .seconds(5)) { try redis.numsub("adm.initial") == 0 }
        #expect(unsubscribed, "DELETEd channel still subscribed")
        #expect(try redis.numsub("adm.added") == 1)
        #expect(try subscriptionLists(get(port, "/subscriptions")) == ["channels": ["adm.added"], "patterns": ["adm.p.*"], "shard_channels": []])

        let unknownKey = try send(port, "POST", "/subscriptions", json: #"{"nope":["x"]}"#)
        #expect(unknownKey.status == 400 && unknownKey.text.contains("nope"), "\(unknownKey.text)")
        #expect(try send(port, "POST", "/subscriptions", json: "not json").status == 400)
        #expect(try send(port, "PUT", "/subscriptions", json: "{}").status == 405)
        #expect(try get(port, "/nowhere").status == 404)
        #expect(try subscriptionLists(get(port, "/subscriptions"))["channels"] == ["adm.added"], "rejected requests change nothing")
    }

    @Test("/metrics is Prometheus text (every sample line is name{labels} value) and resub_messages_received_total counts what arrives", .timeLimit(.minutes(1)))
    func metrics() async throws {
        let redis = try startRedis()
        defer { redis.stop() }
        let resub = try ServiceProcess(serviceArguments(redis, ["--channel", "met", "--pattern", "metp.*"]))
        defer { resub.stop() }
        let port = try await resub.adminPort()
        try await waitSubscribed(redis, channels: 1, patterns: 1, resub)
        try redis.publishAll((0..<5).map { ("met", "m\($0)") } + [("metp.a", "p0")])
        _ = await pollUntil(timeout: .seconds(5)) { resub.stdoutLines.count >= 6 }

        let first = try get(port, "/metrics")
        #expect(first.status == 200)
        #expect(first.headers["content-type"]?.hasPrefix("text/plain") == true)
        #expect(try malformedMetricLines(first.text) == [], "\(first.text)")
        #expect(first.text.contains("# TYPE resub_messages_received_total counter"), "\(first.text)")
        #expect(metricValue(first.text, #"resub_messages_received_total{kind="message"}"#) == 5, "\(first.text)")
        #expect(metricValue(first.text, #"resub_messages_received_total{kind="pmessage"}"#) == 1, "\(first.text)")

        try redis.publishAll((5..<8).map { ("met", "m\($0)") })
        let increased = try await pollUntil(timeout: .seconds(5)) {
            let text = try get(port, "/metrics").text
            return metricValue(text, #"resub_messages_received_total{kind="message"}"#) == 8
                && metricValue(text, #"resub_messages_delivered_total{sink="stdout"}"#) == 9
        }
        let second = try get(port, "/metrics").text
        #expect(increased, "\(second)")
        #expect(try malformedMetricLines(second) == [])
        #expect(metricValue(second, #"resub_messages_delivered_total{sink="stdout"}"#) == 9, "\(second)")
    }

    @Test("with --admin-token, /subscriptions and /metrics need Authorization: Bearer <token>; /healthz and /readyz do not", .timeLimit(.minutes(1)))
    func adminToken() async throws {
        let redis = try startRedis()
        defer { redis.stop() }
        let token = "tok-\(UInt32.random(in: 0...UInt32.max))"
        let resub = try ServiceProcess(serviceArguments(redis, ["--channel", "tok", "--admin-token", token]))
        defer { resub.stop() }
        let port = try await resub.adminPort()
        #expect(try get(port, "/healthz").status == 200)
        let ready = try await pollUntil(timeout: .seconds(10)) { try get(port, "/readyz").status == 200 }
        #expect(ready)
        for path in ["/subscriptions", "/metrics"] {
            let anonymous = try get(port, path)
            #expect(anonymous.status == 401, "\(path) without a token")
            #expect(anonymous.headers["www-authenticate"] == "Bearer")
            #expect(try get(port, path, token: token + "x").status == 401, "\(path) with a wrong token")
            #expect(try TestHTTP.request(port: port, path: path, headers: [("Authorization", token)]).status == 401, "\(path) without the Bearer scheme")
            #expect(try get(port, path, token: token).status == 200, "\(path) with the token")
        }
        #expect(try send(port, "POST", "/subscriptions", json: #"{"channels":["tok.sneak"]}"#).status == 401)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try redis.numsub("tok.sneak") == 0, "an unauthorized POST changed the subscriptions")
        #expect(try send(port, "POST", "/subscriptions", json: #"{"channels":["tok.sneak"]}"#, token: token).status == 200)
        let subscribed = try await pollUntil(timeout: .seconds(5)) { try redis.numsub("tok.sneak") == 1 }
        #expect(subscribed)
    }

    @Test("--admin off loopback without a token exits 64 naming the option (flag or environment variable)", .timeLimit(.minutes(1)))
    func adminOffLoopbackNeedsToken() async throws {
        for (arguments, environment, named) in [
            (["--channel", "x", "--admin", "0.0.0.0:0"], [String: String](), "--admin"),
            (["--channel", "x"], ["RESUB_ADMIN": "0.0.0.0:0"], "RESUB_ADMIN"),
        ] {
            let resub = try ServiceProcess(arguments, environment: environment)
            defer { resub.stop() }
            let exit = await resub.waitForExit(timeout: .seconds(10))
            #expect(exit == .exited(64), "\(arguments) \(environment): \(String(describing: exit))")
            #expect(resub.stderrText.contains(named) && resub.stderrText.contains("--admin-token"), "\(resub.stderrText)")
        }
    }

    // MARK: Configuration

    @Test("settings layer through the running service: channels and URL from the file, the ping interval from the environment over the file, the client name from a flag over both", .timeLimit(.minutes(1)))
    func precedence() async throws {
        let redis = try startRedis()
        defer { redis.stop() }
        let directory = try makeTemporaryDirectory("config")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/resub.yaml"
        try """
            urls: ["\(redis.url)"]
            channels: [cfg.one, cfg.two]
            ping_interval: 30
            ping_timeout: 0.25
            client_name: from-file
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let environment = ["RESUB_PING_INTERVAL": "0.2", "RESUB_CLIENT_NAME": "from-env"]
        let flagged = try ServiceProcess(["--config", file, "--client-name", "from-flag"], environment: environment)
        defer { flagged.stop() }
        let unflagged = try ServiceProcess(["--config", file], environment: environment)
        defer { unflagged.stop() }
        let subscribed = try await pollUntil(timeout: .seconds(10)) { try redis.numsub("cfg.one") == 2 && redis.numsub("cfg.two") == 2 }
        try #require(subscribed, "\(flagged.diagnostics)\n\(unflagged.diagnostics)")
        let names = try redis.clientList().compactMap { $0["name"] }.filter { !$0.isEmpty }.sorted()
        #expect(names == ["from-env", "from-flag"])

        // 0.2 s (environment) rather than 30 s (file): several PINGs on the idle connections within 1.5 s. (The
        // file's ping timeout is short too: the next PING is never sent before the last one's timeout ran out.)
        let before = try pingCalls(redis)
        try await Task.sleep(for: .milliseconds(1500))
        let pings = try pingCalls(redis) - before
        #expect(pings >= 6, "\(pings) PINGs from two idle subscribers in 1.5 s")
    }

    @Test("SIGHUP after editing the file subscribes the added channel and unsubscribes the removed one; a channel POSTed to /subscriptions stays; a broken file is not applied", .timeLimit(.minutes(1)))
    func sighupReload() async throws {
        let redis = try startRedis()
        defer { redis.stop() }
        let directory = try makeTemporaryDirectory("sighup")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/resub.yaml"
        try "channels: [hup.keep, hup.gone]\n".write(toFile: file, atomically: true, encoding: .utf8)
        let resub = try ServiceProcess(serviceArguments(redis, ["--config", file]))
        defer { resub.stop() }
        let port = try await resub.adminPort()
        let started = try await pollUntil(timeout: .seconds(10)) { try redis.numsub("hup.keep") == 1 && redis.numsub("hup.gone") == 1 }
        try #require(started, "\(resub.diagnostics)")
        #expect(try send(port, "POST", "/subscriptions", json: #"{"channels":["hup.api"]}"#).status == 200)
        let posted = try await pollUntil(timeout: .seconds(5)) { try redis.numsub("hup.api") == 1 }
        try #require(posted)

        try "channels: [hup.keep, hup.new]\n".write(toFile: file, atomically: true, encoding: .utf8)
        resub.send(SIGHUP)
        let reloaded = try await pollUntil(timeout: .seconds(5)) {
            try redis.numsub("hup.new") == 1 && redis.numsub("hup.gone") == 0
        }
        let (new, gone) = (try redis.numsub("hup.new"), try redis.numsub("hup.gone"))
        #expect(reloaded, "after SIGHUP: new \(new), gone \(gone); \(resub.diagnostics)")
        #expect(try redis.numsub("hup.keep") == 1)
        #expect(try redis.numsub("hup.api") == 1, "the POSTed channel must survive a reload")
        #expect(await resub.waitForStderr("SIGHUP: configuration reloaded"), "the reload is logged")
        try redis.publishAll([("hup.new", "after-reload")])
        let delivered = try await pollUntil(timeout: .seconds(5)) { try stdoutMessages(resub).contains { $0["payload"] == "after-reload" } }
        #expect(delivered)

        try "channels: [hup.keep]\nbogus_key: 1\n".write(toFile: file, atomically: true, encoding: .utf8)
        resub.send(SIGHUP)
        let refused = await resub.waitForStderr("configuration not reloaded")
        #expect(refused, "\(resub.stderrText)")
        #expect(resub.stderrText.contains("bogus_key"))
        try await Task.sleep(for: .milliseconds(200))
        #expect(resub.isRunning)
        #expect(try redis.numsub("hup.new") == 1 && redis.numsub("hup.api") == 1, "a broken file changes nothing")
    }

    @Test("an invalid --config file exits 64 naming the key", .timeLimit(.minutes(1)), arguments: [
        InvalidConfigCase(yaml: "channels: [a]\nbogus_key: 1\n", key: "bogus_key"),
        InvalidConfigCase(yaml: "channels: [a]\nping_interval: soon\n", key: "ping_interval"),
        InvalidConfigCase(yaml: "channels: [a]\nwebhook: http://127.0.0.1:1/\nwebhook_batch: [1, 2]\n", key: "webhook_batch"),
    ])
    func invalidConfig(_ invalid: InvalidConfigCase) async throws {
        let directory = try makeTemporaryDirectory("badconfig")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/resub.yaml"
        try invalid.yaml.write(toFile: file, atomically: true, encoding: .utf8)
        let resub = try ServiceProcess(["--config", file])
        defer { resub.stop() }
        let exit = await resub.waitForExit(timeout: .seconds(10))
        #expect(exit == .exited(64), "\(String(describing: exit)); \(resub.diagnostics)")
        #expect(resub.stderrText.contains(invalid.key), "\(resub.stderrText)")
    }

    // MARK: Shutdown

    @Test("SIGTERM with a backlog and a dead receiver exits 0 within --shutdown-timeout + 1 s, counting the lost messages (no spool)", .timeLimit(.minutes(1)))
    func shutdownWithoutSpool() async throws {
        let redis = try startRedis()
        defer { redis.stop() }
        let port = try closedPort()
        let resub = try ServiceProcess(serviceArguments(redis, [
            "--channel", "sd", "--webhook", "http://127.0.0.1:\(port)/", "--webhook-linger", "10", "--shutdown-timeout", "1",
        ]))
        defer { resub.stop() }
        let admin = try await resub.adminPort()
        try await waitSubscribed(redis, channels: 1, resub)
        try redis.publishAll((0..<20).map { ("sd", "b\($0)") })
        let received = try await pollUntil(timeout: .seconds(5)) {
            metricValue(try get(admin, "/metrics").text, #"resub_messages_received_total{kind="message"}"#) == 20
        }
        try #require(received, "\(resub.diagnostics)")
        _ = await resub.waitForStderr("retrying")

        let signalled = ContinuousClock.now
        resub.send(SIGTERM)
        let exit = await resub.waitForExit(timeout: .seconds(5))
        let took = signalled.duration(to: .now)
        #expect(exit == .exited(0), "\(String(describing: exit)); \(resub.diagnostics)")
        #expect(took <= .seconds(2), "exited after \(took) with --shutdown-timeout 1")
        #expect(resub.stderrText.contains("messages lost") && resub.stderrText.contains("lost=20"), "\(resub.stderrText)")
    }

    @Test("SIGTERM with a backlog, a dead receiver and --spool-dir exits 0 in time and leaves the backlog in the spool; a restart with a live receiver delivers it", .timeLimit(.minutes(1)))
    func shutdownWithSpool() async throws {
        let redis = try startRedis()
        defer { redis.stop() }
        let port = try closedPort()
        let spool = try makeTemporaryDirectory("shutdown-spool")
        defer { try? FileManager.default.removeItem(atPath: spool) }
        let arguments = [
            "--url", redis.url, "--channel", "sd", "--webhook", "http://127.0.0.1:\(port)/", "--webhook-linger", "10",
            "--shutdown-timeout", "1", "--spool-dir", spool, "--reconnect-min", "0.05", "--reconnect-max", "0.3",
        ]
        let first = try ServiceProcess(arguments)
        defer { first.stop() }
        try await waitSubscribed(redis, channels: 1, first)
        try redis.publishAll((0..<20).map { ("sd", "b\($0)") })
        let spooled = await pollUntil(timeout: .seconds(5)) { spoolContents(spool).messages == 20 }
        try #require(spooled, "\(spoolContents(spool).messages) spooled; \(first.diagnostics)")

        let signalled = ContinuousClock.now
        first.send(SIGTERM)
        let exit = await first.waitForExit(timeout: .seconds(5))
        let took = signalled.duration(to: .now)
        #expect(exit == .exited(0), "\(String(describing: exit)); \(first.diagnostics)")
        #expect(took <= .seconds(2), "exited after \(took) with --shutdown-timeout 1")
        #expect(first.stderrText.contains("stays in the spool"), "\(first.stderrText)")
        #expect(spoolContents(spool).messages == 20, "the backlog is in the spool after the exit")

        let receiver = try WebhookReceiver(port: port)
        defer { receiver.stop() }
        let second = try ServiceProcess(arguments)
        defer { second.stop() }
        let delivered = try await pollUntil(timeout: .seconds(10)) { try acceptedMessages(receiver).count >= 20 || !second.isRunning } && second.isRunning
        try #require(delivered, "\(deliveredCount(receiver)) of 20; \(second.diagnostics)")
        try await Task.sleep(for: .milliseconds(200))
        #expect(try payloads(on: "sd", in: acceptedMessages(receiver)) == (0..<20).map { "b\($0)" })
    }
}
