import DequeModule
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import LibeventLoop
import Logging
import Resub

/// Settings of the webhook sink.
package struct WebhookConfiguration: Sendable {
    /// `http` or `https`.
    package var tls: Bool
    package var host: String
    package var port: Int
    /// Path and query.
    package var path: String
    /// Signs each request the Standard Webhooks way, with every `--webhook-secret` (nil: unsigned).
    package var signature: WebhookSignature?
    /// Extra headers (auth).
    package var headers: [(String, String)] = []
    /// Most messages per request.
    package var batchSize = 500
    /// Longest wait for a batch to fill.
    package var linger: Duration = .milliseconds(50)
    /// Requests in flight at once (lanes; a channel always uses the same lane, so its order is kept).
    package var lanes = 4
    /// Per-request timeout.
    package var timeout: Duration = .seconds(10)
    /// Retry delays.
    package var backoff = BackoffConfiguration(minimum: .milliseconds(100), maximum: .seconds(30))
    /// Without a spool: the most bytes of request bodies held in memory; newer batches are dropped (counted).
    package var maxQueuedBytes = 64 << 20
    /// Extra CA bundle for https (nil: the system's).
    package var caFile: String?

    /// Parses `http(s)://host[:port][/path]`.
    package init(url: String) throws(SettingsError) {
        guard let schemeEnd = url.firstRange(of: "://") else { throw SettingsError("must start with http:// or https://") }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { throw SettingsError("must start with http:// or https://, got \(scheme)://") }
        tls = scheme == "https"
        let rest = url[schemeEnd.upperBound...]
        let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<slash]
        path = slash < rest.endIndex ? String(rest[slash...]) : "/"
        if path.hasPrefix("?") { path = "/" + path }
        guard !authority.contains("@") else { throw SettingsError("put credentials in --webhook-header, not in the URL") }
        var hostPart = Substring(authority)
        var portPart: Substring?
        if hostPart.hasPrefix("["), let close = hostPart.firstIndex(of: "]") {
            let after = hostPart[hostPart.index(after: close)...]
            portPart = after.hasPrefix(":") ? after.dropFirst() : nil
            hostPart = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
        } else if let colon = hostPart.lastIndex(of: ":") {
            portPart = hostPart[hostPart.index(after: colon)...]
            hostPart = hostPart[..<colon]
        }
        guard !hostPart.isEmpty else { throw SettingsError("has no host") }
        host = String(hostPart)
        if let portPart {
            guard let p = Int(portPart), (1...65535).contains(p) else { throw SettingsError("port must be 1-65535") }
            port = p
        } else {
            port = tls ? 443 : 80
        }
    }
}

/// Counters of the webhook sink, read by the metrics.
package struct WebhookCounters: Sendable {
    package var delivered = 0
    package var requests = 0
    package var retried = 0
    package var deadLettered = 0
    package var dropped = 0
    package var spooled = 0
    package var statusCounts: [Int: Int] = [:]
}

/// POSTs messages to a webhook as JSON arrays of the stdout objects, on the loop with libevent's HTTP
/// client and keep-alive connections.
///
/// Ordering: messages are spread over `lanes` by a hash of their channel, each lane has one request in
/// flight at most, so a channel's messages arrive in order while up to `lanes` requests run in parallel.
/// Outcomes: 2xx delivered; 3xx (redirects are not followed), 408, 429, 5xx, timeouts and connection errors
/// retried with exponential backoff and full jitter, honouring `Retry-After` (seconds); 410 Gone and any other
/// 4xx dead-lettered (logged, counted, and written to the spool's dead-letter file).
///
/// Standard Webhooks headers: `webhook-id`, made when a batch is sealed and kept with it (in memory and in the
/// spool record), so every retry, a spool replay and a restart send the same id and a receiver can drop
/// duplicates; `webhook-timestamp`, the attempt's Unix seconds; with `--webhook-secret`, `webhook-signature`
/// (see ``WebhookSignature``).
///
/// With a ``Spool`` every sealed request body is written ahead to disk before it is sent, and acknowledged
/// once delivered or dead-lettered: nothing received is lost to a slow or absent receiver or to a restart.
/// Without one, bodies wait in memory up to `maxQueuedBytes`; beyond that new batches are dropped and
/// counted. Loop-only.
package final class WebhookSink: @unchecked Sendable {
    let loop: EventLoop
    private let configuration: WebhookConfiguration
    let spool: Spool?
    private let logger: Logger
    private var lanes: [Lane] = []
    private var random = SystemRandomNumberGenerator()
    package private(set) var counters = WebhookCounters()
    /// Called with each request's latency (responses and failures alike).
    package var onResponse: ((Duration) -> Void)?
    private var queuedBytes = 0
    private var closing = false
    private var drainWaiters: [() -> Void] = []
    /// Bodies kept in memory beyond this are read back from the spool when their turn comes.
    private let memoryLimit = 16 << 20

    private struct Body {
        var bytes: [UInt8]?
        var count: Int
        /// The `webhook-id`, the same on every attempt.
        var id: String
        var ref: Spool.Ref?
        var size: Int
        /// What to call once this request is delivered (stream entries waiting for their XACK).
        var onDelivered: [@Sendable () -> Void] = []
    }

    private final class Lane: @unchecked Sendable {  // loop-only, like the sink
        let index: Int
        let client: HTTPClient
        var queue = Deque<Body>()
        var open = OutputBuffer(capacity: 64 << 10)
        var openCount = 0
        var openCallbacks: [@Sendable () -> Void] = []
        var lingerTimer: TimerEvent?
        var inFlight = false
        var attempt = 0
        var retryTimer: TimerEvent?
        /// Bodies handed to the spool and not yet back (kept in order behind them).
        var appending = 0
        init(index: Int, client: HTTPClient) {
            self.index = index
            self.client = client
        }
    }

    /// Ticks the spool's housekeeping once a second.
    private var spoolTick: TimerEvent?

    /// Opens the spool (when `spoolDirectory` is given) and the TLS context, then creates the sink on the
    /// loop, before any message can arrive. `onResponse` gets each request's latency.
    package static func start(loop: EventLoop, configuration: WebhookConfiguration, spoolDirectory: String?, spoolMaxBytes: Int, logger: Logger,
                              onResponse: @escaping @Sendable (Duration) -> Void = { _ in }) async throws -> WebhookSink {
        var spool: Spool?
        var recovered: [Spool.Pending] = []
        if let directory = spoolDirectory {
            do {
                (spool, recovered) = try Spool.open(directory: directory, maxBytes: spoolMaxBytes, loop: loop, logger: logger)
            } catch {
                throw SettingsError("cannot open the spool \(directory): \(error)")
            }
            logger.info("spool opened", metadata: ["dir": "\(directory)", "pending_requests": "\(recovered.count)", "max_bytes": "\(spoolMaxBytes)"])
        }
        var tls: TLSContext?
        if configuration.tls {
            do {
                tls = try TLSContext(caFile: configuration.caFile)
            } catch {
                spool?.close()
                throw SettingsError("webhook TLS: \(error)")
            }
        }
        let (openSpool, pending, context) = (spool, recovered, tls)
        return try await loop.submit {
            let sink = WebhookSink(loop: loop, configuration: configuration, tls: context, spool: openSpool, recovered: pending, logger: logger)
            sink.onResponse = onResponse
            return sink
        }
    }

    /// Creates the sink; records left in the spool by an earlier run are queued first. Loop-only.
    package init(loop: EventLoop, configuration: WebhookConfiguration, tls: TLSContext?, spool: Spool?, recovered: [Spool.Pending], logger: Logger) {
        loop.assertInLoop()
        self.loop = loop
        self.configuration = configuration
        self.spool = spool
        self.logger = logger
        for i in 0..<max(1, configuration.lanes) {
            lanes.append(Lane(index: i, client: HTTPClient(loop: loop, host: configuration.host, port: configuration.port, tls: tls, timeout: configuration.timeout)))
        }
        for record in recovered {
            let lane = lanes[record.lane % lanes.count]
            queuedBytes += record.body?.count ?? 0
            lane.queue.append(Body(bytes: record.body, count: record.count, id: record.id ?? newID(), ref: record.ref, size: record.body?.count ?? 0))
        }
        if !recovered.isEmpty {
            logger.info("webhook: delivering what the spool kept from an earlier run", metadata: [
                "requests": "\(recovered.count)", "messages": "\(recovered.reduce(0) { $0 + $1.count })",
            ])
        }
        if let spool {
            spoolTick = loop.scheduleTimer(after: .seconds(1), repeating: true) { spool.tick() }
        }
        for lane in lanes { sendNext(lane) }
    }

    private func newID() -> String {
        WebhookSignature.newID(milliseconds: UInt64(RFC3339.wallClockSeconds() * 1000), random: &random)
    }

    // MARK: Input

    /// Adds a batch of messages (loop thread); `.closed` once draining began (the caller counts the batch).
    @discardableResult
    package func push(_ batch: MessageBatch) -> SinkPushResult {
        guard !closing else { return .closed }
        batch.forEachRawMessage { kind, pattern, channel, payload in
            let lane = lanes[Int(Self.fnv1a(channel) % UInt32(lanes.count))]
            append(to: lane) { out in
                JSONLineEncoder.appendMessage(kind: kind, pattern: pattern, channel: channel, payload: payload, to: out, newline: false)
            }
        }
        return .queued
    }

    /// Adds an encoded object (a gap record, or an entry of `stream`; newline dropped) to the lane of its
    /// stream (gap records: the first lane); `onAccepted` runs on the loop once the request holding it got a 2xx.
    @discardableResult
    package func push(record: [UInt8], stream: String? = nil, onAccepted: (@Sendable () -> Void)? = nil) -> SinkPushResult {
        guard !closing else { return .closed }
        var bytes = record
        if bytes.last == 10 { bytes.removeLast() }
        let key = Array((stream ?? "").utf8)
        let lane = key.isEmpty ? lanes[0] : lanes[Int(key.withUnsafeBytes { Self.fnv1a($0) } % UInt32(lanes.count))]
        append(to: lane) { out in bytes.withUnsafeBytes { out.append($0) } }
        if let onAccepted { lane.openCallbacks.append(onAccepted) }
        return .queued
    }

    private func append(to lane: Lane, _ write: (OutputBuffer) -> Void) {
        lane.open.append(lane.openCount == 0 ? UInt8(ascii: "[") : UInt8(ascii: ","))
        write(lane.open)
        lane.openCount += 1
        if lane.openCount >= configuration.batchSize {
            seal(lane)
        } else if lane.lingerTimer == nil {
            lane.lingerTimer = loop.scheduleTimer(after: configuration.linger) { [weak self, weak lane] in
                guard let self, let lane else { return }
                lane.lingerTimer = nil
                self.seal(lane)
            }
        }
    }

    private static func fnv1a(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var hash: UInt32 = 2_166_136_261
        for b in bytes { hash = (hash ^ UInt32(b)) &* 16_777_619 }
        return hash
    }

    /// Closes the open batch of a lane into a request body.
    private func seal(_ lane: Lane) {
        lane.lingerTimer?.cancel()
        lane.lingerTimer = nil
        guard lane.openCount > 0 else { return }
        lane.open.append(UInt8(ascii: "]"))
        let bytes = Array(lane.open.bytes)
        let count = lane.openCount
        let callbacks = lane.openCallbacks
        lane.openCallbacks = []
        lane.open.reset(shrinkingTo: 1 << 20)
        lane.openCount = 0
        let id = newID()
        if let spool {
            lane.appending += 1
            spool.append(lane: lane.index, count: count, id: id, body: bytes) { [weak self, weak lane] ref in
                guard let self, let lane else { return }
                lane.appending -= 1
                guard let ref else {
                    self.counters.dropped += count
                    self.checkDrained()
                    return
                }
                self.counters.spooled += count
                let keep = self.queuedBytes < self.memoryLimit
                self.queuedBytes += keep ? bytes.count : 0
                lane.queue.append(Body(bytes: keep ? bytes : nil, count: count, id: id, ref: ref, size: bytes.count, onDelivered: callbacks))
                self.sendNext(lane)
            }
        } else {
            if queuedBytes > 0 && queuedBytes + bytes.count > configuration.maxQueuedBytes {
                counters.dropped += count
                logger.error("webhook: queue full, batch dropped (no --spool-dir)", metadata: ["messages": "\(count)", "dropped_total": "\(counters.dropped)"])
                return
            }
            queuedBytes += bytes.count
            lane.queue.append(Body(bytes: bytes, count: count, id: id, ref: nil, size: bytes.count, onDelivered: callbacks))
            sendNext(lane)
        }
    }

    // MARK: Sending

    private func sendNext(_ lane: Lane) {
        guard !lane.inFlight, lane.retryTimer == nil, let head = lane.queue.first else {
            checkDrained()
            return
        }
        lane.inFlight = true
        guard let body = head.bytes else {
            // Not kept in memory: the spool has it.
            guard let spool, let ref = head.ref else { return }
            let headCount = head.count
            spool.read(ref) { [weak self, weak lane] bytes in
                guard let self, let lane else { return }
                lane.inFlight = false
                if let bytes {
                    self.queuedBytes += bytes.count
                    lane.queue[lane.queue.startIndex].bytes = bytes
                    lane.queue[lane.queue.startIndex].size = bytes.count
                } else {
                    self.logger.error("webhook: spooled request unreadable, skipped", metadata: ["segment": "\(ref.segment)", "offset": "\(ref.offset)"])
                    self.counters.dropped += headCount
                    spool.acknowledge(ref)
                    lane.queue.removeFirst()
                }
                self.sendNext(lane)
            }
            return
        }
        let timestamp = String(Int(RFC3339.wallClockSeconds()))
        var headers: [(String, String)] = [
            ("Content-Type", "application/json"), ("User-Agent", "resub"),
            ("webhook-id", head.id), ("webhook-timestamp", timestamp),
        ]
        if let signature = configuration.signature {
            headers.append(("webhook-signature", signature.header(id: head.id, timestamp: timestamp, body: body)))
        }
        headers += configuration.headers
        let started = ContinuousClock.now
        counters.requests += 1
        lane.client.send(method: "POST", path: configuration.path, headers: headers, body: body) { [weak self, weak lane] result in
            guard let self, let lane else { return }
            lane.inFlight = false
            self.onResponse?(started.duration(to: .now))
            self.completed(lane, result)
        }
    }

    private func completed(_ lane: Lane, _ result: Result<HTTPClientResponse, HTTPClientError>) {
        guard let head = lane.queue.first else { return }
        switch result {
        case .success(let response):
            counters.statusCounts[response.status, default: 0] += 1
            switch response.status {
            case 200..<300:
                finish(lane, head)
                for callback in head.onDelivered { callback() }
                counters.delivered += head.count
                lane.attempt = 0
            case 300..<400, 408, 429, 500...599:
                // A redirect is not followed (the receiver's address is configuration, not something a response
                // may move): a failure, retried like a 5xx until the configuration is fixed.
                let reason = (300..<400).contains(response.status) ? "HTTP \(response.status) (redirects are not followed)" : "HTTP \(response.status)"
                retry(lane, reason: reason, retryAfter: response.headers["retry-after"].flatMap { Double($0.filter { $0 != " " && $0 != "\t" }) })
                return
            default:
                // 410 Gone and every other 4xx (and anything unknown): the receiver will not take this request.
                counters.deadLettered += head.count
                logger.error("webhook: request rejected, dead-lettered", metadata: [
                    "status": "\(response.status)", "messages": "\(head.count)",
                    "response": "\(String(decoding: response.body.prefix(200), as: UTF8.self))",
                ])
                if let spool, let bytes = head.bytes { spool.deadLetter(status: response.status, body: bytes) }
                finish(lane, head)
                lane.attempt = 0
            }
        case .failure(let error):
            retry(lane, reason: error.description, retryAfter: nil)
            return
        }
        sendNext(lane)
    }

    private func finish(_ lane: Lane, _ head: Body) {
        lane.queue.removeFirst()
        if head.bytes != nil { queuedBytes -= head.size }
        if let ref = head.ref { spool?.acknowledge(ref) }
    }

    private func retry(_ lane: Lane, reason: String, retryAfter: Double?) {
        counters.retried += 1
        var delay = Backoff.delay(attempt: lane.attempt, configuration: configuration.backoff, random: &random)
        if let retryAfter, retryAfter >= 0 { delay = max(delay, .milliseconds(Int64(min(retryAfter, 3600) * 1000))) }
        lane.attempt += 1
        if lane.attempt == 1 || lane.attempt % 10 == 0 {
            logger.warning("webhook: request failed, retrying", metadata: ["reason": "\(reason)", "attempt": "\(lane.attempt)", "delay": "\(delay.short)", "lane": "\(lane.index)"])
        }
        lane.retryTimer = loop.scheduleTimer(after: delay) { [weak self, weak lane] in
            guard let self, let lane else { return }
            lane.retryTimer = nil
            self.sendNext(lane)
        }
    }

    // MARK: Draining

    /// Messages accepted but not yet delivered or dead-lettered (in open batches, queues, or being appended).
    package var undeliveredMessages: Int {
        lanes.reduce(0) { $0 + $1.openCount + $1.queue.reduce(0) { $0 + $1.count } }
    }

    private var isDrained: Bool {
        lanes.allSatisfy { $0.openCount == 0 && $0.queue.isEmpty && $0.appending == 0 && !$0.inFlight }
    }

    private func checkDrained() {
        guard isDrained, !drainWaiters.isEmpty else { return }
        let waiters = drainWaiters
        drainWaiters = []
        for waiter in waiters { waiter() }
    }

    /// Stops taking messages, seals the open batches, and calls `completion` once everything is delivered
    /// (or dead-lettered) or at `timeout`, whichever comes first. Loop-only.
    package func drainOnLoop(timeout: Duration, completion: @escaping (_ drained: Bool) -> Void) {
        closing = true
        for lane in lanes { seal(lane) }
        var done = false
        let timer = loop.scheduleTimer(after: timeout) {
            guard !done else { return }
            done = true
            completion(false)
        }
        drainWaiters.append {
            guard !done else { return }
            done = true
            timer.cancel()
            completion(true)
        }
        checkDrained()
    }

    /// Closes the connections and timers. Loop-only.
    package func closeOnLoop() {
        closing = true
        spoolTick?.cancel()
        spoolTick = nil
        for lane in lanes {
            lane.lingerTimer?.cancel()
            lane.retryTimer?.cancel()
            lane.client.close()
        }
    }
}

