import Foundation
import ResubService
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

// The webhook sink end to end: the `resub` executable as a subprocess, a real redis-server on a free loopback
// port, and a WebhookReceiver (a real HTTP/1.1 server) whose answers are scripted per request.
//
// Serialized: each test runs one or two resub processes, and retry timings would suffer from parallel tests
// on a 2-core machine. Every wait is bounded; every process and server is stopped by the test that started it.

/// Arguments every test gives: short linger, quick reconnects, a short drain on shutdown.
private func webhookArguments(_ redis: RedisServer, webhook: String, _ extra: [String]) -> [String] {
    ["--url", redis.url, "--webhook", webhook, "--webhook-linger", "10", "--ping-interval", "1",
     "--reconnect-min", "0.05", "--reconnect-max", "0.5", "--shutdown-timeout", "2"] + extra
}

/// Whether `id` is a Standard Webhooks id as resub makes them: `msg_` + 26 Crockford base32 characters.
private func isWebhookID(_ id: String?) -> Bool {
    guard let id, id.hasPrefix("msg_"), id.count == 30 else { return false }
    return id.dropFirst(4).allSatisfy { "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains($0) }
}

@Suite("Webhook sink against a live receiver", .serialized)
struct WebhookIntegrationTests {
    @Test("every message arrives as POSTed JSON-array batches of at most --webhook-batch, each object equal to the stdout line, signed the Standard Webhooks way (verified by the standardwebhooks package with each of two secrets), with the extra headers, on keep-alive connections", .timeLimit(.minutes(1)))
    func batchesShapeSignature() async throws {
        let redis = try startRedis()
        defer { redis.stop() }
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        // Two secrets, as during a key rotation: one in the whsec_ format (base64 key), one plain.
        let secrets = ["whsec_" + Data((0..<24).map { _ in UInt8.random(in: 0...255) }).base64EncodedString(), "s3cr3t-\(UInt32.random(in: 0...UInt32.max))"]
        let subscriptions = ["--channel", "w.alpha", "--channel", "w.beta", "--pattern", "wp.*"]
        let resub = try ServiceProcess(webhookArguments(redis, webhook: receiver.url(path: "/hooks/resub?src=test"), subscriptions + [
            "--webhook-batch", "7", "--webhook-secret", secrets[0], "--webhook-secret", secrets[1],
            "--webhook-header", "X-Api-Key: k-123", "--webhook-header", "X-Tenant:t1",
        ]))
        defer { resub.stop() }
        // The same subscriptions on stdout: the reference for the objects' exact shape.
        let reference = try ServiceProcess(["--url", redis.url, "--ping-interval", "1"] + subscriptions)
        defer { reference.stop() }
        try await waitSubscribed(redis, channels: 4, patterns: 2, resub)

        let specials = ["quote \" back \\ slash", "ünïcødé ✓ 🚀", "line\nbreak\ttab", "", "ctl \u{01}\u{1F}"]
        var published: [(String, String)] = []
        for i in 0..<40 {
            published.append(("w.alpha", "alpha-\(i)"))
            if i < specials.count { published.append(("w.beta", specials[i])) }
            if i % 2 == 0 { published.append(("wp.news", "news-\(i / 2)")) }
        }
        try redis.publishAll(published)
        let binary: [UInt8] = [0xFF, 0xFE, 0x00, 0x41]
        #expect(try redis.client().publish("w.beta", bytes: binary) == 2)
        let total = published.count + 1

        let arrived = try await pollUntil(timeout: .seconds(10)) {
            try (acceptedMessages(receiver).count >= total && reference.stdoutLines.count >= total) || !resub.isRunning
        } && resub.isRunning
        try #require(arrived, "webhook got \(deliveredCount(receiver)), stdout \(reference.stdoutLines.count) of \(total); \(resub.diagnostics)")
        try await Task.sleep(for: .milliseconds(100))  // nothing more must come
        let requests = receiver.requests
        let messages = try acceptedMessages(receiver)
        #expect(messages.count == total, "exactly one delivery per message")
        #expect(requests.allSatisfy { $0.accepted })

        // Each object exactly as the stdout line for the same message, per channel in publishing order.
        let stdoutObjects = try reference.stdoutLines.map { try parseMessageObject(JSONSerialization.jsonObject(with: Data($0.utf8))) }
        for channel in ["w.alpha", "w.beta", "wp.news"] {
            let fromWebhook = messages.filter { $0["channel"] == channel }
            let fromStdout = stdoutObjects.filter { $0["channel"] == channel }
            #expect(fromWebhook == fromStdout, "\(channel): webhook objects differ from the stdout lines")
        }
        #expect(payloads(on: "w.alpha", in: messages) == (0..<40).map { "alpha-\($0)" })
        #expect(payloads(on: "w.beta", in: messages) == specials)
        #expect(payloads(on: "wp.news", in: messages) == (0..<20).map { "news-\($0)" })
        for message in messages {
            switch message["type"] {
            case "message":
                let keys: Set<String> = message["payload_base64"] == nil ? ["type", "channel", "payload"] : ["type", "channel", "payload_base64"]
                #expect(Set(message.keys) == keys, "\(message)")
            case "pmessage":
                #expect(Set(message.keys) == ["type", "pattern", "channel", "payload"], "\(message)")
                #expect(message["pattern"] == "wp.*" && message["channel"] == "wp.news")
            default:
                Issue.record("unexpected type in \(message)")
            }
        }
        #expect(messages.last { $0["channel"] == "w.beta" }?["payload_base64"] == Data(binary).base64EncodedString())

        // Batches: a JSON array of 1…7 objects; the 40 pipelined messages of one channel fill some to 7.
        let sizes = try requests.map { try parseBatch($0.body).count }
        #expect(sizes.allSatisfy { (1...7).contains($0) }, "batch sizes \(sizes)")
        #expect(sizes.max() == 7, "batch sizes \(sizes)")

        // Method, target, headers, signature, timestamp; connections kept alive (at most one per lane).
        for request in requests {
            #expect(request.method == "POST")
            #expect(request.target == "/hooks/resub?src=test")
            #expect(request.header("content-type") == "application/json")
            #expect(request.header("x-api-key") == "k-123")
            #expect(request.header("x-tenant") == "t1")
            #expect(request.header("content-length") == String(request.body.count))
            let timestamp = try #require(request.header("webhook-timestamp"))
            let seconds = try #require(Int(timestamp), "webhook-timestamp \(timestamp) is not integer unix seconds")
            #expect(abs(Double(seconds) - request.receivedAt.timeIntervalSince1970) <= 3, "timestamp \(timestamp) far from the arrival time")
            #expect(isWebhookID(request.header("webhook-id")), "\(request.headers)")
            #expect(request.header("webhook-signature")?.split(separator: " ").count == 2, "one v1 signature per secret")
            #expect(request.header("x-resub-signature") == nil && request.header("x-resub-timestamp") == nil)
        }
        // Every request accepted first time: each is its own batch with its own id.
        #expect(Set(requests.compactMap { $0.header("webhook-id") }).count == requests.count)
        // The standardwebhooks package's own verifier accepts every request with either secret, and no other.
        let verdicts = try StandardWebhooksVerifier.verify(requests, secrets: secrets + ["whsec_" + Data(Array("not-the-key".utf8)).base64EncodedString(), secrets[1] + "x"])
        #expect(verdicts[0].allSatisfy { $0 == "ok" }, "whsec_ secret: \(verdicts[0])")
        #expect(verdicts[1].allSatisfy { $0 == "ok" }, "plain secret: \(verdicts[1])")
        #expect(verdicts[2].allSatisfy { $0 != "ok" } && verdicts[3].allSatisfy { $0 != "ok" }, "a wrong secret must not verify: \(verdicts[2...])")
        let connections = Set(requests.map(\.connection))
        #expect(requests.count >= 10 && connections.count <= 4, "\(requests.count) requests over \(connections.count) connections")
    }

    @Test("503 for the first requests, then 200: nothing is lost and each channel's order is kept with --webhook-concurrency 4", .timeLimit(.minutes(1)))
    func retriesKeepOrder() async throws {
        let redis = try startRedis()
        defer { redis.stop() }
        let failures = 10
        let receiver = try WebhookReceiver(behaviour: WebhookReceiver.failing(
            first: failures, with: .status(503, body: "busy"), then: WebhookReceiver.Reply(delay: .milliseconds(5))))
        defer { receiver.stop() }
        let channels = ["o.1", "o.2", "o.3"]
        let resub = try ServiceProcess(webhookArguments(redis, webhook: receiver.url(path: "/in"), channels.flatMap { ["--channel", $0] } + [
            "--webhook-concurrency", "4", "--webhook-batch", "20",
        ]))
        defer { resub.stop() }
        try await waitSubscribed(redis, channels: 3, resub)
        let perChannel = 150
        var published: [(String, String)] = []
        for i in 0..<perChannel { for channel in channels { published.append((channel, String(i))) } }
        try redis.publishAll(published)

        let arrived = try await pollUntil(timeout: .seconds(20)) { try acceptedMessages(receiver).count >= published.count || !resub.isRunning } && resub.isRunning
        try #require(arrived, "\(deliveredCount(receiver)) of \(published.count) delivered; \(resub.diagnostics)")
        try await Task.sleep(for: .milliseconds(200))
        let messages = try acceptedMessages(receiver)
        for channel in channels {
            #expect(payloads(on: channel, in: messages) == (0..<perChannel).map(String.init), "\(channel): lost, duplicated or out of order")
        }
        let statuses = receiver.requests.map(\.status)
        #expect(statuses.prefix(failures).allSatisfy { $0 == 503 } && statuses.dropFirst(failures).allSatisfy { $0 == 200 })
        // A retried batch keeps its webhook-id: each id names one body, and every failed request's id was
        // delivered later with that body.
        let byID = Dictionary(grouping: receiver.requests) { $0.header("webhook-id") ?? "" }
        #expect(byID.keys.allSatisfy(isWebhookID))
        #expect(byID.values.allSatisfy { Set($0.map(\.body)).count == 1 }, "one id, one body")
        #expect(byID.values.allSatisfy { $0.last?.status == 200 }, "every id ends delivered")
        #expect(byID.values.contains { $0.count > 1 }, "some batch was retried")
        #expect(await resub.waitForStderr("retrying"), "a failed request is logged")
    }

    @Test("a 429 with Retry-After: 1 holds the retry back for at least that second, then the same body is delivered", .timeLimit(.minutes(1)))
    func retryAfter() async throws {
        let redis = try startRedis()
        defer { redis.stop() }
        let receiver = try WebhookReceiver(behaviour: WebhookReceiver.failing(first: 1, with: .status(429, retryAfter: 1)))
        defer { receiver.stop() }
        let resub = try ServiceProcess(webhookArguments(redis, webhook: receiver.url(), ["--channel", "ra"]))
        defer { resub.stop() }
        try await waitSubscribed(redis, channels: 1, resub)
        try redis.publishAll([("ra", "once")])
        let twice = await receiver.waitUntil(timeout: .seconds(5)) { $0.count >= 2 }
        try #require(twice, "\(receiver.requests.count) requests; \(resub.diagnostics)")
        let requests = receiver.requests
        let waited = requests[1].receivedAt.timeIntervalSince(requests[0].receivedAt)
        #expect(waited >= 0.95 && waited < 3, "retried after \(waited) s")
        #expect(requests[0].status == 429 && requests[1].status == 200)
        #expect(requests[0].body == requests[1].body)
        #expect(isWebhookID(requests[0].header("webhook-id")) && requests[0].header("webhook-id") == requests[1].header("webhook-id"), "the retry keeps the webhook-id")
        #expect(try acceptedMessages(receiver).map { $0["payload"] } == ["once"])
    }

    @Test("a 400 is dead-lettered: logged, written to dead-letter.jsonl, never retried, and later messages are still delivered", .timeLimit(.minutes(1)))
    func deadLetter() async throws {
        let redis = try startRedis()
        defer { redis.stop() }
        let receiver = try WebhookReceiver { request in
            request.bodyText.contains("poison") ? .status(400, body: "schema violation") : .ok
        }
        defer { receiver.stop() }
        let spool = try makeTemporaryDirectory("deadletter")
        defer { try? FileManager.default.removeItem(atPath: spool) }
        let resub = try ServiceProcess(webhookArguments(redis, webhook: receiver.url(), ["--channel", "d.x", "--channel", "d.y", "--spool-dir", spool]))
        defer { resub.stop() }
        try await waitSubscribed(redis, channels: 2, resub)

        try redis.publishAll([("d.x", "poison-1")])
        let rejected = await receiver.waitUntil(timeout: .seconds(5)) { $0.contains { $0.status == 400 } }
        try #require(rejected, "\(resub.diagnostics)")
        try redis.publishAll([("d.x", "good-1"), ("d.x", "good-2"), ("d.y", "good-3")])
        let delivered = try await pollUntil(timeout: .seconds(5)) { try acceptedMessages(receiver).count >= 3 || !resub.isRunning } && resub.isRunning
        try #require(delivered, "\(deliveredPayloads(receiver)); \(resub.diagnostics)")
        try await Task.sleep(for: .milliseconds(500))  // time for a retry that must not come

        #expect(receiver.requests.filter { $0.bodyText.contains("poison") }.count == 1, "a 400 is not retried")
        #expect(try payloads(on: "d.x", in: acceptedMessages(receiver)) == ["good-1", "good-2"])
        #expect(try payloads(on: "d.y", in: acceptedMessages(receiver)) == ["good-3"])
        #expect(await resub.waitForStderr("dead-lettered"), "\(resub.stderrText)")
        #expect(resub.stderrText.contains("status=400"), "\(resub.stderrText)")

        let file = spool + "/dead-letter.jsonl"
        _ = await pollUntil(timeout: .seconds(3)) { FileManager.default.fileExists(atPath: file) }
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let lines = text.split(separator: "\n")
        try #require(lines.count == 1, "dead-letter.jsonl: \(text)")
        let parsed = try JSONSerialization.jsonObject(with: Data(lines[0].utf8))
        let entry = try #require(parsed as? [String: Any], "\(text)")
        #expect(entry["status"] as? Int == 400)
        #expect(entry["at"] is String)
        let body = try #require(entry["body"] as? [Any], "\(text)")
        #expect(try body.map(parseMessageObject) == [["type": "message", "channel": "d.x", "payload": "poison-1"]])
    }

    @Test("with --spool-dir, messages received while the receiver fails survive kill -9: a new resub on the same spool delivers every one, in order, with the webhook-ids they had before", .timeLimit(.minutes(1)))
    func spoolSurvivesKill9() async throws {
        let redis = try startRedis()
        defer { redis.stop() }
        // The receiver answers 503 until the kill: the first resub tries (and shows its ids) but delivers nothing.
        let failing = try WebhookReceiver(behaviour: WebhookReceiver.always(.status(503)))
        defer { failing.stop() }
        let port = failing.port
        let spool = try makeTemporaryDirectory("kill9")
        defer { try? FileManager.default.removeItem(atPath: spool) }
        let channels = ["k.1", "k.2", "k.3"]
        let arguments = webhookArguments(redis, webhook: "http://127.0.0.1:\(port)/in", channels.flatMap { ["--channel", $0] } + [
            "--spool-dir", spool, "--webhook-batch", "25",
        ])
        let first = try ServiceProcess(arguments)
        defer { first.stop() }
        try await waitSubscribed(redis, channels: 3, first)
        let perChannel = 100
        var published: [(String, String)] = []
        for i in 0..<perChannel { for channel in channels { published.append((channel, String(i))) } }
        try redis.publishAll(published)
        // Written ahead to the spool (write(2) at once, so it survives the kill).
        let spooled = await pollUntil(timeout: .seconds(10)) { spoolContents(spool).messages >= published.count }
        try #require(spooled, "\(spoolContents(spool).messages) of \(published.count) spooled; \(first.diagnostics)")
        first.send(SIGKILL)
        #expect(await first.waitForExit(timeout: .seconds(5)) == .signaled(SIGKILL))

        let seenBeforeKill = Set(failing.requests.compactMap { $0.header("webhook-id") })
        failing.stop()
        #expect(!seenBeforeKill.isEmpty, "the first resub tried before the kill")
        let spooledIDs = spoolContents(spool).ids
        #expect(spooledIDs.allSatisfy(isWebhookID), "\(spooledIDs)")
        let receiver = try WebhookReceiver(port: port)
        defer { receiver.stop() }
        let second = try ServiceProcess(arguments)
        defer { second.stop() }
        let delivered = try await pollUntil(timeout: .seconds(15)) { try acceptedMessages(receiver).count >= published.count || !second.isRunning } && second.isRunning
        try #require(delivered, "\(deliveredCount(receiver)) of \(published.count) delivered; \(second.diagnostics)")
        try await Task.sleep(for: .milliseconds(200))
        let messages = try acceptedMessages(receiver)
        for channel in channels {
            #expect(payloads(on: channel, in: messages) == (0..<perChannel).map(String.init), "\(channel): lost, duplicated or out of order")
        }
        #expect(second.stderrText.contains("delivering what the spool kept"), "\(second.stderrText)")
        // The batches keep the webhook-id they were given before the kill: a receiver can drop duplicates.
        let deliveredIDs = Set(receiver.accepted.compactMap { $0.header("webhook-id") })
        #expect(deliveredIDs == Set(spooledIDs.compactMap { $0 }))
        #expect(seenBeforeKill.isSubset(of: deliveredIDs), "ids tried before the kill are delivered after it")
        // Acknowledged: the cursor moves past them (written within about a second).
        let acknowledged = await pollUntil(timeout: .seconds(3)) { spoolContents(spool).messages == 0 }
        #expect(acknowledged, "the spool still holds \(spoolContents(spool).messages) messages after delivery")
    }

    @Test("a corrupt record in the spool is skipped with a log line and the records around it are delivered", .timeLimit(.minutes(1)))
    func corruptSpoolRecord() async throws {
        let redis = try startRedis()
        defer { redis.stop() }
        let spool = try makeTemporaryDirectory("corrupt")
        defer { try? FileManager.default.removeItem(atPath: spool) }
        func body(_ payloads: [String]) -> [UInt8] {
            Array(("[" + payloads.map { "{\"type\":\"message\",\"channel\":\"spool.c\",\"payload\":\"\($0)\"}" }.joined(separator: ",") + "]").utf8)
        }
        let records = [["m1", "m2"], ["m3", "m4"], ["m5", "m6"]].enumerated().map { Spool.encode(lane: 0, count: $1.count, id: "msg_spooled\($0)", body: body($1)) }
        var segment = records.joined().map { $0 }
        let middle = records[0].count + records[1].count / 2
        segment[middle] ^= 0x5A
        try Data(segment).write(to: URL(fileURLWithPath: spool + "/segment-00000001.log"))
        try Data("1 0\n".utf8).write(to: URL(fileURLWithPath: spool + "/cursor"))
        #expect(Spool.decode(segment, at: records[0].count) == nil, "the flipped byte breaks the middle record")

        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let resub = try ServiceProcess(webhookArguments(redis, webhook: receiver.url(), ["--channel", "unused", "--spool-dir", spool]))
        defer { resub.stop() }
        let delivered = try await pollUntil(timeout: .seconds(10)) { try acceptedMessages(receiver).count >= 4 || !resub.isRunning } && resub.isRunning
        try #require(delivered, "\(deliveredPayloads(receiver)); \(resub.diagnostics)")
        try await Task.sleep(for: .milliseconds(300))
        #expect(try payloads(on: "spool.c", in: acceptedMessages(receiver)) == ["m1", "m2", "m5", "m6"])
        #expect(receiver.accepted.map { $0.header("webhook-id") } == ["msg_spooled0", "msg_spooled2"], "the stored ids are sent")
        #expect(resub.stderrText.contains("corrupt"), "\(resub.stderrText)")
    }
}
