import Foundation
import LibeventLoop
import Logging
import Resub
import ResubService
import Synchronization
import Testing
import TestSupport

// The webhook sink on a real loop against the local WebhookReceiver, through the MessageSink protocol the
// runner uses: push, drain with a deadline, close; the Standard Webhooks headers; 3xx retried, 410 dead-lettered.

/// One batch of `payloads` on `channel`, built the way the loop builds them.
private func batch(_ channel: String, _ payloads: [String]) -> MessageBatch {
    var builder = MessageBatchBuilder()
    for payload in payloads {
        let (c, p) = (Array(channel.utf8), Array(payload.utf8))
        c.withUnsafeBytes { c in p.withUnsafeBytes { p in builder.append(kind: .message, pattern: UnsafeRawBufferPointer(start: nil, count: 0), channel: c, payload: p) } }
    }
    return builder.take(node: "test")
}

/// A sink on a fresh loop, posting to `receiver`; quick retries.
private func makeSink(_ receiver: WebhookReceiver, secrets: [String] = []) async throws -> (EventLoop, WebhookSink) {
    let loop = EventLoop(name: "webhook-sink-test")
    var configuration = try WebhookConfiguration(url: receiver.url(path: "/in"))
    configuration.linger = .milliseconds(5)
    configuration.lanes = 1
    configuration.backoff = BackoffConfiguration(minimum: .milliseconds(10), maximum: .milliseconds(50))
    configuration.signature = secrets.isEmpty ? nil : try WebhookSignature(secrets: secrets)
    let sink = try await WebhookSink.start(loop: loop, configuration: configuration, spoolDirectory: nil, spoolMaxBytes: 1 << 20, logger: Logger(label: "test"))
    return (loop, sink)
}

private final class Flag: Sendable {
    let value = Mutex(false)
}

@Suite("Webhook sink as a MessageSink", .serialized)
struct WebhookSinkTests {
    @Test("push a batch and a stream record, drain: delivered with a webhook-id and timestamp, onAccepted run, then close", .timeLimit(.minutes(1)))
    func pushDrainClose() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let (loop, sink) = try await makeSink(receiver)
        defer { loop.shutdown() }
        let accepted = Flag()
        let results = try await loop.submit {
            [sink.push(batch("c", ["one", "two"])),
             sink.push(record: Array("{\"type\":\"entry\"}\n".utf8), stream: "s", onAccepted: { accepted.value.withLock { $0 = true } })]
        }
        #expect(results == [.queued, .queued])
        #expect(await sink.drain(timeout: .seconds(5), logger: Logger(label: "test")))
        #expect(accepted.value.withLock { $0 })
        let summary = await sink.summary
        #expect(summary["delivered"] == "3" && summary["undelivered"] == "0", "\(summary)")
        await sink.close()
        #expect(try await loop.submit { sink.push(batch("c", ["late"])) } == .closed)
        let requests = receiver.requests
        let bodies = requests.map(\.bodyText).joined()
        #expect(bodies.contains("\"payload\":\"one\"") && bodies.contains("\"payload\":\"two\"") && bodies.contains("{\"type\":\"entry\"}"), "\(bodies)")
        for request in requests {
            let id = try #require(request.header("webhook-id"))
            #expect(id.hasPrefix("msg_") && id.count == 30, "\(id)")
            let timestamp = try #require(request.header("webhook-timestamp").flatMap(Double.init))
            #expect(abs(timestamp - request.receivedAt.timeIntervalSince1970) <= 3)
            #expect(request.header("webhook-signature") == nil, "no secret, no signature")
        }
    }

    @Test("a 302 is not followed: retried like a 5xx with the same webhook-id and body, then delivered", .timeLimit(.minutes(1)))
    func redirectRetried() async throws {
        let redirect = WebhookReceiver.Reply(status: 302, headers: [("Location", "http://127.0.0.1:1/elsewhere")])
        let receiver = try WebhookReceiver(behaviour: WebhookReceiver.failing(first: 2, with: redirect))
        defer { receiver.stop() }
        let (loop, sink) = try await makeSink(receiver, secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        defer { loop.shutdown() }
        _ = try await loop.submit { sink.push(batch("r", ["once"])) }
        #expect(await sink.drain(timeout: .seconds(5), logger: Logger(label: "test")))
        await sink.close()
        let requests = receiver.requests
        try #require(requests.count == 3, "\(requests.map(\.status))")
        #expect(requests.map(\.status) == [302, 302, 200])
        #expect(Set(requests.compactMap { $0.header("webhook-id") }).count == 1, "the same id on every attempt")
        #expect(Set(requests.map(\.body)).count == 1)
        #expect(requests.allSatisfy { $0.target == "/in" }, "the redirect's Location is never requested")
        let summary = await sink.summary
        #expect(summary["delivered"] == "1" && summary["dead_lettered"] == "0", "\(summary)")
    }

    @Test("410 Gone dead-letters the request at once: not retried", .timeLimit(.minutes(1)))
    func goneDeadLetters() async throws {
        let receiver = try WebhookReceiver(behaviour: WebhookReceiver.always(.status(410)))
        defer { receiver.stop() }
        let (loop, sink) = try await makeSink(receiver)
        defer { loop.shutdown() }
        _ = try await loop.submit { sink.push(batch("g", ["a", "b"])) }
        #expect(await sink.drain(timeout: .seconds(5), logger: Logger(label: "test")))
        try await Task.sleep(for: .milliseconds(100))  // a retry would come within 50 ms
        await sink.close()
        #expect(receiver.requests.map(\.status) == [410])
        let summary = await sink.summary
        #expect(summary["dead_lettered"] == "2" && summary["delivered"] == "0", "\(summary)")
    }

    @Test("a receiver that does not answer: drain gives up at its deadline and says false", .timeLimit(.minutes(1)))
    func drainDeadline() async throws {
        let receiver = try WebhookReceiver(behaviour: WebhookReceiver.always(WebhookReceiver.Reply(delay: .seconds(3))))
        defer { receiver.stop() }
        let (loop, sink) = try await makeSink(receiver)
        defer { loop.shutdown() }
        _ = try await loop.submit { sink.push(batch("slow", ["x"])) }
        let started = ContinuousClock.now
        let drained = await sink.drain(timeout: .milliseconds(300), logger: Logger(label: "test"))
        let waited = started.duration(to: .now)
        #expect(!drained)
        #expect(waited >= .milliseconds(250) && waited < .seconds(2), "waited \(waited)")
        let summary = await sink.summary
        #expect(summary["undelivered"] == "1", "\(summary)")
        await sink.close()
    }
}
