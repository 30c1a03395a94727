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
        logger.info("resub starting", metadata: [
            "url": "\(options.endpoints.map(\.redacted).joined(separator: ","))",
            "mode": "\(options.cluster ? "cluster" : "standalone")",
            "channels": "\(options.subscriptions.channels.count)",
            "patterns": "\(options.subscriptions.patterns.count)",
            "shard_channels": "\(options.subscriptions.shardChannels.count)",
        ])
        let signals = SignalHandles()
        let configured = ConfiguredSubscriptions(options.subscriptions)
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
        sink.finish()
        loop.execute {
            signals.handles.forEach { $0.cancel() }
            signals.admin?.close()
            signals.spoolTick?.cancel(); signals.spoolTick = nil  // free it while the base lives
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
        case .gap, .messagesDropped, .subscriptionLost, .topologyRefreshFailed:
            logger.warning("\(event)")
        case .topologyChanged, .shardChannelsIgnored:
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
/// mark, but never for longer than `maxPause`: a sink that stays slower than the input must not push the
/// backlog into Redis, which disconnects a subscriber whose output buffer passes its pub/sub limit. After
/// a forced resume, what does not fit in the sink's hard bound is dropped and counted.
private final class FlowControl: @unchecked Sendable {
    private let loop: EventLoop
    private let logger: Logger
    private let maxPause: Duration = .milliseconds(250)
    private var paused = false
    private var timer: TimerEvent?
    private(set) var pauses = 0
    var subscriber: Subscriber?

    init(loop: EventLoop, logger: Logger) {
        self.loop = loop
        self.logger = logger
    }

    func highWater() {
        guard !paused, let subscriber else { return }
        paused = true
        pauses += 1
        subscriber.setReadingPaused(true)
        timer = loop.scheduleTimer(after: maxPause) { [weak self] in self?.forceResume() }
    }

    func drained() {
        guard paused else { return }
        timer?.cancel()
        timer = nil
        paused = false
        subscriber?.setReadingPaused(false)
    }

    private func forceResume() {
        guard paused else { return }
        timer = nil
        paused = false
        subscriber?.setReadingPaused(false)
        logger.warning("sink slower than input for \(maxPause): reading resumed; what overflows the sink queue is dropped and counted")
    }
}

/// Signal event handles and the admin server, kept alive on the loop.
private final class SignalHandles: @unchecked Sendable {
    var handles: [SignalEvent] = []
    var admin: HTTPServer?
    var spoolTick: TimerEvent?
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
