import Foundation
import LibeventLoop
import Resub
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// TLS to Redis (`rediss://`) against a TLS-only `redis-server` (`--port 0 --tls-port N`) with a throw-away
/// PKI (``TestCertificates``): chain and host-name verification, the system bundle refusing a private CA,
/// client certificates, and the `resub` executable's `--tls-ca` / `--tls-cert` / `--tls-key`.
@Suite("TLS against a TLS-only redis-server", .serialized, .timeLimit(.minutes(3)))
struct TLSIntegrationTests {
    /// Both kinds of names a certificate can be checked against: a DNS name (SNI sent) and an IP address.
    static let hosts = ["localhost", "127.0.0.1"]

    // MARK: Library

    @Test("rediss:// with TLSContext(caFile:) connects (RESP3), subscribes and delivers", arguments: hosts)
    func trustedCADelivers(host: String) async throws {
        let server = try TLSRedisServer()
        defer { server.stop() }
        var configuration = try testConfiguration(url: "rediss://\(host):\(server.port)", initial: .init(channels: ["tls.news"]))
        configuration.tls = try TLSContext(caFile: try TestCertificates.shared().caFile)
        try await withSubscriber(configuration) { subscriber in
            let events = Collector(subscriber.events)
            let messages = Collector(subscriber.messages)
            let node = "\(host):\(server.port)"
            let seen = await events.wait(timeout: .seconds(10)) { $0.contains(where: Self.isResubscribed) }
            try #require(seen.contains(where: Self.isResubscribed), "never subscribed over TLS; events: \(seen)")
            #expect(seen.contains(.connected(node: node, protocolVersion: 3)), "events: \(seen)")
            #expect(try await onThread { try server.publish("tls.news", "over TLS ✓") } == 1)
            let received = await messages.wait(forCount: 1, timeout: .seconds(10))
            #expect(received.map(\.channel) == ["tls.news"])
            #expect(received.map(\.payloadString) == ["over TLS ✓"])
            #expect(Self.disconnects(events.all).isEmpty, "events: \(events.all)")
        }
    }

    @Test("rediss:// without a CA file uses the system bundle, which refuses the test CA: TLS errors, no connection, no message")
    func systemBundleRefusesPrivateCA() async throws {
        let server = try TLSRedisServer()
        defer { server.stop() }
        // configuration.tls stays nil: the system CA bundle with full verification.
        let configuration = try testConfiguration(url: "rediss://localhost:\(server.port)", initial: .init(channels: ["tls.none"]))
        #expect(configuration.tls == nil)
        try await withSubscriber(configuration) { subscriber in
            let events = Collector(subscriber.events)
            let messages = Collector(subscriber.messages)
            let seen = await events.wait(timeout: .seconds(10)) { Self.disconnects($0).count >= 2 }
            let reasons = Self.disconnects(seen)
            try #require(reasons.count >= 2, "expected repeated refused attempts; events: \(seen)")
            for reason in reasons {
                #expect(reason.code == .connectionFailed, "\(reason)")
                #expect(reason.description.contains("TLS"), "reason does not mention TLS: \(reason)")
                #expect(reason.description.contains("certificate"), "reason does not mention the certificate: \(reason)")
            }
            #expect(!seen.contains(where: Self.isConnected), "connected with an untrusted certificate: \(seen)")
            #expect(try await onThread { try server.publish("tls.none", "must not arrive") } == 0)
            try await Task.sleep(for: .milliseconds(200))
            #expect(messages.count == 0)
        }
    }

    @Test("a certificate for another host name (valid chain) is refused with a clear error", arguments: hosts)
    func wrongHostNameRefused(host: String) async throws {
        let server = try TLSRedisServer(identity: .wrongName)
        defer { server.stop() }
        // The fixture reached the server with redis-cli verifying the chain against the same CA: only the
        // name (wrong.example, no IP) is wrong.
        var configuration = try testConfiguration(url: "rediss://\(host):\(server.port)", initial: .init(channels: ["tls.wrong"]))
        configuration.tls = try TLSContext(caFile: try TestCertificates.shared().caFile)
        try await withSubscriber(configuration) { subscriber in
            let events = Collector(subscriber.events)
            let messages = Collector(subscriber.messages)
            let seen = await events.wait(timeout: .seconds(10)) { Self.disconnects($0).count >= 2 }
            let reasons = Self.disconnects(seen)
            try #require(reasons.count >= 2, "expected repeated refused attempts; events: \(seen)")
            for reason in reasons {
                #expect(reason.code == .connectionFailed, "\(reason)")
                #expect(reason.description.contains("TLS"), "\(reason)")
                #expect(reason.description.contains("host name mismatch"), "the reason does not point at the host name: \(reason)")
                #expect(!reason.description.contains("not trusted"), "a host-name mismatch is not an untrusted chain: \(reason)")
            }
            #expect(!seen.contains(where: Self.isConnected), "connected to a certificate for wrong.example: \(seen)")
            #expect(try await onThread { try server.publish("tls.wrong", "must not arrive") } == 0)
            #expect(messages.count == 0)
        }
    }

    @Test("a server requiring client certificates refuses a client without one: no connection, no message")
    func clientCertificateRequired() async throws {
        let server = try TLSRedisServer(requireClientCertificate: true)
        defer { server.stop() }
        var configuration = try testConfiguration(url: "rediss://localhost:\(server.port)", initial: .init(channels: ["tls.mtls"]))
        configuration.tls = try TLSContext(caFile: try TestCertificates.shared().caFile)
        try await withSubscriber(configuration) { subscriber in
            let events = Collector(subscriber.events)
            let messages = Collector(subscriber.messages)
            let seen = await events.wait(timeout: .seconds(10)) { Self.disconnects($0).count >= 2 }
            let reasons = Self.disconnects(seen)
            try #require(reasons.count >= 2, "expected repeated refused attempts; events: \(seen)")
            #expect(!seen.contains(where: Self.isConnected), "the handshake completed without a client certificate: \(seen)")
            for reason in reasons {
                #expect(reason.code == .connectionFailed || reason.code == .disconnected, "\(reason)")
            }
            #expect(try await onThread { try server.publish("tls.mtls", "must not arrive") } == 0)
            #expect(messages.count == 0)
        }
    }

    @Test("with TLSContext(caFile:certificateFile:keyFile:) the client certificate is accepted and messages delivered")
    func clientCertificateAccepted() async throws {
        let server = try TLSRedisServer(requireClientCertificate: true)
        defer { server.stop() }
        let certificates = try TestCertificates.shared()
        var configuration = try testConfiguration(url: "rediss://localhost:\(server.port)", initial: .init(channels: ["tls.mtls"]))
        configuration.tls = try TLSContext(caFile: certificates.caFile, certificateFile: certificates.clientCertificate, keyFile: certificates.clientKey)
        try await withSubscriber(configuration) { subscriber in
            let events = Collector(subscriber.events)
            let messages = Collector(subscriber.messages)
            let seen = await events.wait(timeout: .seconds(10)) { $0.contains(where: Self.isResubscribed) }
            try #require(seen.contains(where: Self.isResubscribed), "never subscribed with a client certificate; events: \(seen)")
            #expect(try await onThread { try server.publish("tls.mtls", "mutual") } == 1)
            let received = await messages.wait(forCount: 1, timeout: .seconds(10))
            #expect(received.map(\.payloadString) == ["mutual"])
            #expect(Self.disconnects(events.all).isEmpty, "events: \(events.all)")
        }
    }

    @Test("rediss:// to a plain-text redis-server never falls back to plain text: no login, no subscription")
    func noDowngradeToPlainText() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        var configuration = try testConfiguration(url: "rediss://127.0.0.1:\(server.port)", initial: .init(channels: ["tls.plain"]))
        configuration.tls = try TLSContext(caFile: try TestCertificates.shared().caFile)
        try await withSubscriber(configuration) { subscriber in
            let events = Collector(subscriber.events)
            let seen = await events.wait(timeout: .seconds(10)) { !Self.disconnects($0).isEmpty }
            try #require(!Self.disconnects(seen).isEmpty, "no failure reported; events: \(seen)")
            #expect(!seen.contains(where: Self.isConnected), "logged in to a plain-text server over rediss://: \(seen)")
            for reason in Self.disconnects(seen) { #expect(reason.code == .connectionFailed, "\(reason)") }
            #expect(try server.numsub("tls.plain", client: client) == 0)
            #expect(try !server.clientNames(client: client).contains("resub"), "a resub connection is logged in")
        }
    }

    @Test("a server that drops the connection during the TLS handshake gives a readable reason, not a raw OpenSSL code")
    func handshakeCutShortIsReadable() async throws {
        // Accepts, reads nothing, closes at once: the client's ClientHello meets a reset (or an EOF).
        let server = try GarbageServer(garbage: [], holdFor: .zero)
        defer { server.stop() }
        var configuration = try testConfiguration(url: "rediss://127.0.0.1:\(server.port)", initial: .init(channels: ["tls.cut"]))
        configuration.tls = try TLSContext(caFile: try TestCertificates.shared().caFile)
        try await withSubscriber(configuration) { subscriber in
            let events = Collector(subscriber.events)
            let seen = await events.wait(timeout: .seconds(10)) { Self.disconnects($0).count >= 2 }
            let reasons = Self.disconnects(seen)
            try #require(reasons.count >= 2, "events: \(seen)")
            for reason in reasons {
                #expect(reason.code == .connectionFailed, "\(reason)")
                // libevent queues SSL_get_error()'s code (SSL_ERROR_SYSCALL = 5) among the OpenSSL errors; printed
                // as an OpenSSL error it reads "error:00000005:lib(0)::reason(5)".
                #expect(!reason.description.contains("lib(0)"), "unreadable reason: \(reason)")
            }
        }
    }

    @Test("TLSContext refuses unusable files with the path in the error")
    func unusableFilesThrow() throws {
        let certificates = try TestCertificates.shared()
        let missing = "/nonexistent/resub-\(UInt32.random(in: 0...UInt32.max)).pem"
        #expect(throws: SocketError.self) { try TLSContext(caFile: missing) }
        do {
            _ = try TLSContext(caFile: missing)
        } catch {
            #expect("\(error)".contains(missing), "\(error)")
        }
        // A key that does not belong to the certificate.
        #expect(throws: SocketError.self) {
            try TLSContext(caFile: certificates.caFile, certificateFile: certificates.clientCertificate, keyFile: certificates.serverKey)
        }
    }

    // MARK: Executable

    @Test("resub --tls-ca connects to rediss:// and writes the message")
    func executableWithCA() async throws {
        let server = try TLSRedisServer()
        defer { server.stop() }
        let ca = try TestCertificates.shared().caFile
        let resub = try ResubProcess(["--url", "rediss://localhost:\(server.port)", "--tls-ca", ca, "--channel", "tls.exe", "--count", "1"])
        defer { resub.kill() }
        try await resub.whileRunning { try await Self.awaitSubscriber(server, channel: "tls.exe") }
        #expect(try await onThread { try server.publish("tls.exe", "exe over TLS") } == 1)
        #expect(await resub.waitForExit(timeout: .seconds(10)) == .exited(0), "stderr: \(resub.stderrText)")
        let objects = try resub.stdoutLines.map(parseJSONObject)
        #expect(objects.map { $0["payload"] as? String } == ["exe over TLS"])
    }

    @Test("resub --tls-cert/--tls-key authenticates to a server requiring client certificates")
    func executableWithClientCertificate() async throws {
        let server = try TLSRedisServer(requireClientCertificate: true)
        defer { server.stop() }
        let certificates = try TestCertificates.shared()
        let resub = try ResubProcess([
            "--url", "rediss://localhost:\(server.port)", "--tls-ca", certificates.caFile,
            "--tls-cert", certificates.clientCertificate, "--tls-key", certificates.clientKey, "--channel", "tls.exe2", "--count", "1",
        ])
        defer { resub.kill() }
        try await resub.whileRunning { try await Self.awaitSubscriber(server, channel: "tls.exe2") }
        #expect(try await onThread { try server.publish("tls.exe2", "mutual exe") } == 1)
        #expect(await resub.waitForExit(timeout: .seconds(10)) == .exited(0), "stderr: \(resub.stderrText)")
        #expect(try resub.stdoutLines.map { try parseJSONObject($0)["payload"] as? String } == ["mutual exe"])
    }

    @Test("resub with a --tls-ca path that cannot be read exits 64 naming --tls-ca")
    func executableBadCAPath() async throws {
        let missing = "/nonexistent/resub-ca-\(UInt32.random(in: 0...UInt32.max)).pem"
        let resub = try ResubProcess(["--url", "rediss://localhost:6380", "--tls-ca", missing, "--channel", "c"])
        defer { resub.kill() }
        #expect(await resub.waitForExit(timeout: .seconds(10)) == .exited(64), "stderr: \(resub.stderrText)")
        #expect(resub.stderrText.contains("--tls-ca"), "stderr: \(resub.stderrText)")
        #expect(resub.stderrText.contains(missing), "stderr does not name the file: \(resub.stderrText)")
        #expect(resub.stdout.isEmpty)
    }

    @Test("resub against rediss:// without --tls-ca keeps retrying, logs the certificate failure and writes nothing")
    func executableSystemBundleRefuses() async throws {
        let server = try TLSRedisServer()
        defer { server.stop() }
        let resub = try ResubProcess(["--url", "rediss://localhost:\(server.port)", "--channel", "tls.sys", "--reconnect-max", "0.2"])
        defer { resub.kill() }
        let logged = await waitUntil(timeout: .seconds(10)) { resub.stderrText.contains("certificate not trusted") }
        #expect(logged, "stderr: \(resub.stderrText)")
        #expect(resub.isRunning, "a certificate failure is retried, not an exit; stderr: \(resub.stderrText)")
        #expect(try await onThread { try server.publish("tls.sys", "must not arrive") } == 0)
        resub.send(SIGTERM)
        #expect(await resub.waitForExit(timeout: .seconds(5)) == .exited(0))
        #expect(resub.stdout.isEmpty)
    }

    // MARK: Helpers

    static func isResubscribed(_ event: SubscriberEvent) -> Bool {
        if case .resubscribed = event { true } else { false }
    }

    static func isConnected(_ event: SubscriberEvent) -> Bool {
        if case .connected = event { true } else { false }
    }

    static func disconnects(_ events: [SubscriberEvent]) -> [ResubError] {
        events.compactMap { if case .disconnected(_, let reason) = $0 { reason } else { nil } }
    }

    /// Waits (at most 10 s, polling with redis-cli) until `channel` has a subscriber.
    static func awaitSubscriber(_ server: TLSRedisServer, channel: String) async throws {
        let subscribed = try await waitUntil(timeout: .seconds(10)) { try await onThread { try server.numsub(channel) } == 1 }
        if !subscribed { throw FixtureError("PUBSUB NUMSUB \(channel) never reached 1 over TLS") }
    }
}
