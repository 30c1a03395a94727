import LibeventLoop
import Logging
import Resub
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs the service: one loop, one subscriber, the stdout sink; stops on SIGTERM/SIGINT or after `--count`.
package final class ServiceRunner: Sendable {
    private let options: ServiceOptions
    private let reload: (@Sendable () throws(SettingsError) -> ServiceOptions)?
    private let logger: Logger
    private let stopState = Mutex<StopState>(StopState())

    private struct StopState {
        var requested: String?
        var waiter: CheckedContinuation<String, Never>?
    }

    /// - Parameter reload: re-reads the configuration (SIGHUP); nil when there is no --config file.
    package init(options: ServiceOptions, reload: (@Sendable () throws(SettingsError) -> ServiceOptions)? = nil) {
        self.options = options
        self.reload = reload
        let format = options.logFormat
        LoggingSystem.bootstrap { label in StderrLogHandler(label: label, format: format) }
        self.logger = Logger(label: "resub")
    }

    /// Runs until stopped; returns the process exit code.
    package func run() async -> Int32 {
        let loop = EventLoop(name: "resub-loop")
        let logger = self.logger
        let flow = FlowControl(loop: loop, logger: logger)
        let sink = StdoutSink(
            format: options.format, limit: options.count, maxQueuedBytes: options.sinkQueueBytes,
            onDrained: { loop.execute { flow.drained() } }
        ) { [self] reason in
            switch reason {
            case .countReached: requestStop("--count reached")
            case .outputFailed(let e): requestStop("stdout failed: \(String(cString: strerror(e)))")
            case .drained: break
            }
        }
        let drops = DropReporter(logger: logger)
        let metrics = ServiceMetrics()
        // The webhook sink (and its spool) are made before the subscriber, so no batch can miss them.
        var spool: Spool?
        var recovered: [Spool.Pending] = []
        if options.webhook != nil, let directory = options.spoolDirectory {
            do {
                (spool, recovered) = try Spool.open(directory: directory, maxBytes: options.spoolMaxBytes, loop: loop, logger: logger)
                logger.info("spool opened", metadata: ["dir": "\(directory)", "pending_requests": "\(recovered.count)", "max_bytes": "\(options.spoolMaxBytes)"])
            } catch {
                logger.critical("cannot open the spool: \(error)", metadata: ["dir": "\(directory)"])
                loop.shutdown()
                return 1
            }
        }
        let webhook: WebhookSink?
        if let configuration = options.webhook {
            var tls: TLSContext?
            if configuration.tls {
                do {
                    tls = try TLSContext(caFile: configuration.caFile)
                } catch {
                    logger.critical("webhook TLS: \(error)")
                    loop.shutdown()
                    return 1
                }
            }
            let (pending, spoolForSink, tlsContext) = (recovered, spool, tls)
            webhook = try? await loop.submit {
                let sink = WebhookSink(loop: loop, configuration: configuration, tls: tlsContext, spool: spoolForSink, recovered: pending, logger: logger)
                sink.onResponse = { metrics.webhookLatency($0) }
                return sink
            }
        } else {
            webhook = nil
        }
        let openSpool = spool
        let subscriber = Subscriber(
            configuration: options.subscriberConfiguration, loop: loop, ownsLoop: false,
            batchHandler: { batch in
                metrics.received(batch)
                if let webhook {
                    webhook.push(batch)
                    return
                }
                switch sink.push(batch) {
                case .queued: break
                case .queuedAboveHighWater: flow.highWater()
                case .dropped, .closed:
                    drops.dropped(batch.count)
                    metrics.dropped(batch.count)
                }
            },
            eventHandler: { [options] event in
                Self.log(event, logger)
                metrics.record(event)
                if options.emitGaps, case .gap(let gap) = event {
                    if let webhook { webhook.push(record: GapRecord.encode(gap)) } else { sink.push(record: GapRecord.encode(gap)) }
                }
            })
        flow.subscriber = subscriber
        // Streams: a reader on a connection of its own; XACK (groups) or the state file (plain XREAD) only
        // after the sink accepted the entries.
        var streamState: StreamState?
        var reader: BlockingReader?
        let acks = AckTracker()
        if !options.streams.isEmpty {
            do {
                streamState = try StreamState(directory: options.stateDirectory)
            } catch {
                logger.critical("cannot read the stream state: \(error)", metadata: ["dir": "\(options.stateDirectory ?? "")"])
                await subscriber.shutdown()
                loop.shutdown()
                return 1
            }
            let state = streamState!
            let starts = options.streams.map { (key: $0, start: state.lastID($0) ?? options.streamStart) }
            let configuration = StreamReaderConfiguration(
                endpoint: options.endpoints[0], streams: starts,
                group: options.group.map { StreamReaderConfiguration.Group(name: $0.name, consumer: $0.consumer) },
                clientName: options.clientName,
                health: HealthConfiguration(pingInterval: options.pingInterval, pingTimeout: options.pingTimeout, backoff: options.backoff),
                connectTimeout: options.connectTimeout)
            var readerConfiguration = configuration
            readerConfiguration.tls = options.tls
            readerConfiguration.sentinel = options.sentinel
            let box = ReaderBox()
            let grouped = options.group != nil
            let push: @Sendable (_ record: [UInt8], _ stream: String, _ callback: (@Sendable () -> Void)?) -> Void = { record, stream, callback in
                if let webhook {
                    webhook.push(record: record, key: Array(stream.utf8), onDelivered: callback)
                } else if sink.push(record: record, onWritten: callback, countsAsMessage: true) == .queuedAboveHighWater {
                    flow.readerBehind()
                }
            }
            let handler: ([StreamEntry]) -> Void = { entries in
                metrics.streamEntries(entries.count)
                for (stream, list) in Dictionary(grouping: entries, by: \.stream) {
                    let lastID = list[list.count - 1].id
                    let accepted: @Sendable () -> Void
                    if grouped {
                        accepted = {
                            acks.started()
                            loop.execute {
                                guard let reader = box.reader else { return acks.finished() }
                                reader.acknowledgeOnLoop(list) { _ in acks.finished() }
                            }
                        }
                    } else {
                        accepted = { state.written(stream, lastID) }
                    }
                    for (i, entry) in list.enumerated() {
                        push(StreamRecord.encode(entry), stream, i == list.count - 1 ? accepted : nil)
                    }
                }
            }
            let eventHandler: (SubscriberEvent) -> Void = { event in
                Self.log(event, logger)
                metrics.record(event)
            }
            reader = BlockingReader(configuration: readerConfiguration, loop: loop, ownsLoop: false, handler: handler, eventHandler: eventHandler)
            box.reader = reader
            flow.reader = reader
            logger.info("reading streams", metadata: [
                "streams": "\(options.streams.joined(separator: ","))",
                "group": "\(options.group.map { "\($0.name)/\($0.consumer)" } ?? "none")",
                "starts": "\(starts.map { "\($0.key)=\($0.start)" }.joined(separator: ","))",
            ])
        }
        logger.info("resub starting", metadata: [
            "url": "\(options.endpoints.map(\.redacted).joined(separator: ","))",
            "mode": "\(options.cluster ? "cluster" : options.sentinel.map { "sentinel \($0.masterName) via \($0.sentinels.map(\.description).joined(separator: ","))" } ?? "standalone")",
            "channels": "\(options.subscriptions.channels.count)",
            "patterns": "\(options.subscriptions.patterns.count)",
            "shard_channels": "\(options.subscriptions.shardChannels.count)",
        ])
        let signals = SignalHandles()
        let configured = ConfiguredSubscriptions(options.subscriptions)
        let savedState = streamState
        loop.execute { [self] in
            signals.handles = [SIGTERM, SIGINT].map { sig in
                loop.onSignal(sig) { [self] s in requestStop(s == SIGTERM ? "SIGTERM" : "SIGINT") }
            }
            signals.handles.append(loop.onSignal(SIGHUP) { [self] _ in
                self.reloadConfiguration(subscriber: subscriber, configured: configured)
            })
            if let openSpool {
                signals.spoolTick = loop.scheduleTimer(after: .seconds(1), repeating: true) { openSpool.tick() }
            }
            if let streamState = savedState {
                signals.stateTick = loop.scheduleTimer(after: .milliseconds(200), repeating: true) { streamState.save() }
            }
            if let admin = options.admin {
                let api = AdminAPI(subscriber: subscriber, token: options.adminToken, metrics: {
                    if let webhook { metrics.webhook(webhook.counters, undelivered: webhook.undeliveredMessages, spoolBytes: openSpool?.bytes) }
                    return metrics.scrape(writtenTotal: sink.writtenCount, queueBytes: sink.outstandingBytes, desired: subscriber.withLinks { $0.desired })
                })
                do {
                    let server = try HTTPServer(loop: loop, host: admin.host, port: admin.port) { api.handle($0) }
                    signals.admin = server
                    logger.info("admin API listening", metadata: ["address": "\(admin.host):\(server.port)", "auth": "\(options.adminToken == nil ? "none" : "bearer")"])
                } catch {
                    logger.error("admin API: \(error)")
                    self.requestStop("admin API could not listen")
                }
            }
        }
        let reason = await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            let already = stopState.withLock { state -> String? in
                if let r = state.requested { return r }
                state.waiter = continuation
                return nil
            }
            if let already { continuation.resume(returning: already) }
        }
        logger.info("stopping", metadata: ["reason": "\(reason)"])
        await subscriber.shutdown()
        var summary: Logger.Metadata = [:]
        if let webhook {
            let timeout = options.shutdownTimeout
            let drained = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                loop.execute { webhook.drain(timeout: timeout) { continuation.resume(returning: $0) } }
            }
            let (undelivered, counters) = (try? await loop.submit { (webhook.undeliveredMessages, webhook.counters) }) ?? (0, WebhookCounters())
            if !drained {
                if spool != nil {
                    logger.warning("webhook not drained within \(timeout.short): the rest stays in the spool for the next start", metadata: ["messages": "\(undelivered)"])
                } else {
                    logger.error("webhook not drained within \(timeout.short): messages lost (no --spool-dir)", metadata: ["lost": "\(undelivered)"])
                }
            }
            try? await loop.submit { webhook.close() }
            spool?.close()
            summary = ["delivered": "\(counters.delivered)", "dead_lettered": "\(counters.deadLettered)", "dropped": "\(counters.dropped)", "undelivered": "\(undelivered)"]
        } else {
            let drained = sink.finish(timeout: options.shutdownTimeout)
            if !drained {
                logger.error("stdout did not drain within \(options.shutdownTimeout.short): queued messages lost", metadata: ["lost_bytes": "\(sink.outstandingBytes)"])
            }
            summary = ["written": "\(sink.writtenCount)", "dropped": "\(sink.droppedMessageCount)"]
        }
        if webhook != nil {
            _ = sink.finish(timeout: .seconds(1))  // the unused stdout writer: idle, so this returns at once
        }
        if let reader {
            // The last acknowledgements of what the sink accepted go out before the reader's side connection
            // closes (bounded); anything read after the sink closed is neither written nor acknowledged, so it
            // is read again after a restart.
            await acks.waitUntilIdle(timeout: .seconds(1))
            reader.disconnect()
            streamState?.save()
        }
        loop.execute {
            signals.handles.forEach { $0.cancel() }
            signals.admin?.close()
            signals.spoolTick?.cancel()
            signals.stateTick?.cancel()
        }
        loop.shutdown()
        logger.info("stopped", metadata: summary)
        return 0
    }

    /// SIGHUP: re-reads the configuration and applies the difference of its subscriptions to the live ones
    /// (subscriptions added through the admin API, and everything else, stay). Loop thread.
    private func reloadConfiguration(subscriber: Subscriber, configured: ConfiguredSubscriptions) {
        guard let reload else {
            logger.info("SIGHUP: no --config file to reload")
            return
        }
        let fresh: ServiceOptions
        do {
            fresh = try reload()
        } catch {
            logger.error("SIGHUP: configuration not reloaded: \(error.description)")
            return
        }
        let old = configured.set
        var added = 0, removed = 0
        subscriber.withLinks { links in
            for kind in SubscriptionKind.allCases {
                let gone = old[kind].subtracting(fresh.subscriptions[kind]).sorted()
                let new = fresh.subscriptions[kind].subtracting(old[kind]).sorted()
                if !gone.isEmpty { links.remove(kind, gone) { _ in } }
                if !new.isEmpty { links.add(kind, new) { _ in } }
                added += new.count
                removed += gone.count
            }
        }
        configured.set = fresh.subscriptions
        logger.info("SIGHUP: configuration reloaded", metadata: ["subscribed": "\(added)", "unsubscribed": "\(removed)"])
    }

    /// Asks the service to stop (any thread); the first reason wins.
    package func requestStop(_ reason: String) {
        let waiter = stopState.withLock { state -> CheckedContinuation<String, Never>? in
            guard state.requested == nil else { return nil }
            state.requested = reason
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: reason)
    }

    /// One line per link state change; the finer events at debug level.
    private static func log(_ event: SubscriberEvent, _ logger: Logger) {
        switch event {
        case .stateChanged(_, _, let to, let reason):
            if to == .waitingToReconnect || reason != nil {
                logger.warning("\(event)")
            } else {
                logger.info("\(event)")
            }
        case .gap, .messagesDropped, .subscriptionLost, .topologyRefreshFailed, .sentinelSkipped:
            logger.warning("\(event)")
        case .topologyChanged, .shardChannelsIgnored, .masterChanged:
            logger.info("\(event)")
        case .subscriptionFailed:
            logger.error("\(event)")
        case .resubscribed, .shutdown:
            logger.info("\(event)")
        case .connecting, .connected, .subscribed, .unsubscribed, .disconnected, .reconnectScheduled:
            logger.debug("\(event)")
        }
    }
}

/// Flow control between the sink and the socket, on the loop thread. When the sink's backlog passes its
/// high-water mark, reading pauses (TCP slows the server down) until the writer drains it to the low-water
/// mark. A pause moves the backlog into Redis, which disconnects a subscriber whose output buffer passes
/// its pub/sub limit (32 MB by default) and everything after that is lost. So pausing is budgeted: at most
/// 10 ms at a time and 15 ms in any second (at 680 MB/s of input, about 10 MB left in Redis); past the
/// budget resub reads on and the sink queue absorbs the backlog (bounded; what does not fit is dropped and
/// counted, never silently).
private final class FlowControl: @unchecked Sendable {
    private let loop: EventLoop
    private let logger: Logger
    private let maxPause: Duration = .milliseconds(10)
    private let budget: Duration = .milliseconds(15)
    private var paused = false
    private var pausedAt = ContinuousClock.now
    private var windowStart = ContinuousClock.now
    private var spent: Duration = .zero
    private var timer: TimerEvent?
    private var warned = false
    private var readerPaused = false
    var subscriber: Subscriber?
    /// The stream reader: paused without a budget (XREAD is pulled; nothing piles up in Redis).
    var reader: BlockingReader?

    init(loop: EventLoop, logger: Logger) {
        self.loop = loop
        self.logger = logger
    }

    func highWater() {
        guard !paused, let subscriber else { return }
        let now = ContinuousClock.now
        if windowStart.duration(to: now) >= .seconds(1) {
            windowStart = now
            spent = .zero
        }
        let left = budget - spent
        guard left > .milliseconds(1) else {
            if !warned {
                warned = true
                logger.warning("sink slower than the input: reading on (pausing more would risk Redis's output-buffer limit); overflow of the sink queue is dropped and counted")
            }
            return
        }
        paused = true
        pausedAt = now
        subscriber.setReadingPaused(true)
        timer = loop.scheduleTimer(after: min(maxPause, left)) { [weak self] in self?.resume() }
    }

    func drained() {
        resume()
        if readerPaused {
            readerPaused = false
            reader?.setPausedOnLoop(false)
        }
    }

    /// The sink passed its high-water mark while writing stream entries: hold the next read back.
    func readerBehind() {
        guard !readerPaused, let reader else { return }
        readerPaused = true
        reader.setPausedOnLoop(true)
    }

    private func resume() {
        guard paused else { return }
        timer?.cancel()
        timer = nil
        paused = false
        spent += pausedAt.duration(to: .now)
        subscriber?.setReadingPaused(false)
    }
}

/// Signal event handles and the admin server, kept alive on the loop.
private final class SignalHandles: @unchecked Sendable {
    var handles: [SignalEvent] = []
    var admin: HTTPServer?
    var spoolTick: TimerEvent?
    var stateTick: TimerEvent?
}

/// The stream reader, reachable from its own handler.
private final class ReaderBox: @unchecked Sendable {
    var reader: BlockingReader?
}

/// XACKs sent and not yet answered, so shutdown can let them finish.
private final class AckTracker: @unchecked Sendable {
    private let count = Mutex(0)
    func started() { count.withLock { $0 += 1 } }
    func finished() { count.withLock { $0 -= 1 } }
    func waitUntilIdle(timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while count.withLock({ $0 }) > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// The subscriptions the configuration asked for last (SIGHUP applies the difference to them). Loop thread.
private final class ConfiguredSubscriptions: @unchecked Sendable {
    var set: SubscriptionSet
    init(_ set: SubscriptionSet) { self.set = set }
}

/// Counts messages the sink could not take and logs them at most once a second. Loop thread only.
private final class DropReporter: @unchecked Sendable {
    private let logger: Logger
    private var total = 0
    private var unreported = 0
    private var lastReport = ContinuousClock.now - .seconds(10)

    init(logger: Logger) { self.logger = logger }

    func dropped(_ count: Int) {
        total += count
        unreported += count
        let now = ContinuousClock.now
        guard now - lastReport >= .seconds(1) else { return }
        lastReport = now
        logger.warning("sink queue full: messages dropped", metadata: ["dropped": "\(unreported)", "dropped_total": "\(total)"])
        unreported = 0
    }
}
