import LibeventLoop
import Logging
import Resub
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs the service: one loop, one subscriber (and a stream reader), one sink (stdout or a webhook), flow
/// control between them, the admin API; stops on SIGTERM/SIGINT or after `--count`.
package final class ServiceRunner: Sendable {
    /// The options without their subscriptions (those are handed to the subscriber once, below).
    private let options: ServiceOptions
    /// The configured subscriptions until the subscriber takes them: after that the names live only in the
    /// links' subscription tables (SIGHUP compares against ``ConfiguredDigests``).
    private let initialSubscriptions: Mutex<SubscriptionTable?>
    /// How many names of each kind were configured at start (for the start-up log line).
    private let configuredCounts: [Int]
    private let reload: (@Sendable () throws(SettingsError) -> ServiceOptions)?
    private let logger: Logger
    private let stopState = Mutex<StopState>(StopState())
    /// When the start-up code's pages are given back: when a link completed its first replay (messages may
    /// pour in from then on), and once more a second after the start-up sequence ended, for what the other
    /// threads' start-up work (logging, the admin API) mapped again meanwhile.
    private let startupPages = Mutex(StartupPagesState())

    private struct StartupPagesState {
        var settled = false
        var replayed = false
        var releasedAtReplay = false
        var releasedSettled = false
    }

    private struct StopState {
        var requested: String?
        var waiter: CheckedContinuation<String, Never>?
    }

    /// - Parameter reload: re-reads the configuration (SIGHUP); nil when there is no --config file.
    package init(options: consuming ServiceOptions, reload: (@Sendable () throws(SettingsError) -> ServiceOptions)? = nil) {
        configuredCounts = SubscriptionKind.allCases.map { options.subscriptions.count($0, .desired) }
        initialSubscriptions = Mutex(options.subscriptions)
        options.subscriptions = SubscriptionTable()
        self.options = options
        self.reload = reload
        let format = options.logFormat
        LoggingSystem.bootstrap { label in StderrLogHandler(label: label, format: format) }
        self.logger = Logger(label: "resub")
    }

    /// Runs until stopped; returns the process exit code. Assembles the components, starts them in order
    /// (the sink before the links, so no message can miss it), waits for a stop, and stops them in order:
    /// links, sink (drained up to `--shutdown-timeout`), stream reader, loop.
    package func run() async -> Int32 {
        let loop = EventLoop(name: "resub-loop")
        let logger = self.logger
        let metrics = ServiceMetrics()
        let flow = FlowControlDriver(loop: loop, logger: logger)
        let sink: any MessageSink
        do {
            sink = try await makeSink(loop: loop, flow: flow, metrics: metrics)
        } catch {
            logger.critical("\(error)")
            loop.shutdown()
            return 1
        }
        let (subscriber, configured) = makeSubscriber(loop: loop, sink: sink, flow: flow, metrics: metrics)
        flow.subscriber = subscriber
        var streams: StreamPipeline?
        if !options.streams.isEmpty {
            do {
                streams = try StreamPipeline(options: options, loop: loop, sink: sink, flow: flow, metrics: metrics, logger: logger) { Self.log($0, logger) }
            } catch {
                logger.critical("cannot read the stream state: \(error)", metadata: ["dir": "\(options.stateDirectory ?? "")"])
                await subscriber.shutdown()
                await sink.close()
                loop.shutdown()
                return 1
            }
        }
        logger.info("resub starting", metadata: [
            "url": "\(options.endpoints.map(\.redacted).joined(separator: ","))",
            "mode": "\(options.cluster ? "cluster" : options.sentinel.map { "sentinel \($0.masterName) via \($0.sentinels.map(\.description).joined(separator: ","))" } ?? "standalone")",
            "channels": "\(configuredCounts[SubscriptionKind.channel.rawValue])",
            "patterns": "\(configuredCounts[SubscriptionKind.pattern.rawValue])",
            "shard_channels": "\(configuredCounts[SubscriptionKind.shardChannel.rawValue])",
        ])
        let handles = LoopHandles()
        let startedStreams = streams
        loop.execute { [self] in
            startOnLoop(loop: loop, subscriber: subscriber, configured: configured, sink: sink, metrics: metrics, handles: handles)
            startedStreams?.startOnLoop()
            handles.startupSettled = loop.scheduleOnce(after: .seconds(1)) { [self] in releaseStartupPages { $0.settled = true } }
        }

        let reason = await stopRequested()
        logger.info("stopping", metadata: ["reason": "\(reason)"])
        // A split group member hands its slots off first (bounded), still delivering meanwhile.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.execute {
                subscriber.leaveSplitGroup { continuation.resume() }
            }
        }
        await subscriber.shutdown()
        _ = await sink.drain(timeout: options.shutdownTimeout, logger: logger)
        await sink.close()
        await streams?.stop()
        let summary = await sink.summary
        loop.execute {
            handles.signals.forEach { $0.cancel() }
            handles.startupSettled?.cancel()
            handles.admin?.close()
        }
        loop.shutdown()
        logger.info("stopped", metadata: summary)
        return 0
    }

    /// The webhook sink (with its spool) when `--webhook` is given, stdout otherwise.
    private func makeSink(loop: EventLoop, flow: FlowControlDriver, metrics: ServiceMetrics) async throws -> any MessageSink {
        if let configuration = options.webhook {
            return try await WebhookSink.start(
                loop: loop, configuration: configuration, spoolDirectory: options.spoolDirectory,
                spoolMaxBytes: options.spoolMaxBytes, logger: logger, onResponse: { metrics.webhookLatency($0) })
        }
        return StdoutSink(format: options.format, limit: options.count, maxQueuedBytes: options.sinkQueueBytes,
                          onDrained: { flow.drained() }) { [self] reason in
            switch reason {
            case .countReached: requestStop("--count reached")
            case .outputFailed(let e): requestStop("stdout failed: \(String(cString: strerror(e)))")
            case .drained: break
            }
        }
    }

    /// The subscriber, feeding the sink (and gap records with `--emit-gaps`), and the digests of the names it
    /// was given (what SIGHUP compares a reloaded configuration with).
    private func makeSubscriber(loop: EventLoop, sink: any MessageSink, flow: FlowControlDriver, metrics: ServiceMetrics) -> (Subscriber, ConfiguredDigests) {
        let (logger, emitGaps) = (self.logger, options.emitGaps)
        let drops = DropReporter(logger: logger)
        var configuration = options.subscriberConfiguration
        // Handed over once: the service keeps no copy of the names, only their digests for SIGHUP.
        let names = initialSubscriptions.withLock { initial in
            defer { initial = nil }
            return initial ?? SubscriptionTable()
        }
        configuration.initialNames = names
        let subscriber = Subscriber(
            configuration: configuration, loop: loop, ownsLoop: false,
            batchHandler: { batch in
                metrics.received(batch)
                switch sink.push(batch) {
                case .queued: break
                case .queuedAboveHighWater: flow.subscriberAboveHighWater()
                case .dropped, .closed:
                    drops.dropped(batch.count)
                    metrics.dropped(batch.count)
                }
            },
            eventHandler: { [self] event in
                Self.log(event, logger)
                metrics.record(event)
                if case .resubscribed(_, let channels, let patterns, let shardChannels, _) = event {
                    // A large replay's own buffers (its commands, the slices' encoding; ~10 MB for a million
                    // names) are free now: give them back, or the process stays at its replay peak until the
                    // next one. A small replay leaves the heap alone (the receive path reuses what it has).
                    if channels + patterns + shardChannels >= Self.largeReplay { FreeMemory.giveBack() }
                    releaseStartupPages { $0.replayed = true }
                }
                if emitGaps, case .gap(let gap) = event { sink.push(record: GapRecord.encode(gap), stream: nil, onAccepted: nil) }
            })
        // After the subscriber exists: its link is already connecting and replaying on the loop thread while
        // this thread hashes the names' bytes (a million: ~0.2 s that does not delay the first SUBSCRIBE). The
        // link's first change to its table copies the rows (12 bytes a name) that this reads meanwhile.
        let configured = ConfiguredDigests(names)
        return (subscriber, configured)
    }

    /// Subscriptions from which a completed replay is followed by giving the allocator's free memory back.
    static let largeReplay = 10_000

    /// Start-up is over once a link completed its first replay: its code (argument parsing, configuration,
    /// the replay) need not stay resident (``StartupCodePages``). At most twice: at that replay, and after the
    /// start-up sequence settled (once only when the replay comes later).
    private func releaseStartupPages(_ update: (inout StartupPagesState) -> Void) {
        let due = startupPages.withLock { state in
            update(&state)
            guard state.replayed else { return false }
            if !state.releasedAtReplay {
                state.releasedAtReplay = true
                state.releasedSettled = state.settled
                return true
            }
            guard state.settled, !state.releasedSettled else { return false }
            state.releasedSettled = true
            return true
        }
        guard due else { return }
        let bytes = StartupCodePages.release()
        logger.debug("start-up code pages given back", metadata: ["advised_bytes": "\(bytes)"])
    }

    /// Signals and the admin API (loop thread).
    private func startOnLoop(
        loop: EventLoop, subscriber: Subscriber, configured: ConfiguredDigests, sink: any MessageSink, metrics: ServiceMetrics,
        handles: LoopHandles
    ) {
        let lastConfigured = ConfiguredSubscriptions(configured)
        handles.signals = [SIGTERM, SIGINT].map { sig in
            loop.onSignal(sig) { [self] s in requestStop(s == SIGTERM ? "SIGTERM" : "SIGINT") }
        }
        handles.signals.append(loop.onSignal(SIGHUP) { [self] _ in
            self.reloadConfiguration(subscriber: subscriber, configured: lastConfigured)
        })
        guard let admin = options.admin else { return }
        let api = AdminAPI(subscriber: subscriber, token: options.adminToken, metrics: {
            sink.reportMetrics(to: metrics)
            metrics.nodeLocal(subscriber.status.nodeLocal)
            return metrics.scrape(desiredCount: subscriber.desiredCount)
        })
        do {
            let server = try HTTPServer(loop: loop, host: admin.host, port: admin.port) { api.handle($0, respond: $1) }
            handles.admin = server
            logger.info("admin API listening", metadata: ["address": "\(admin.host):\(server.port)", "auth": "\(options.adminToken == nil ? "none" : "bearer")"])
        } catch {
            logger.error("admin API: \(error)")
            requestStop("admin API could not listen")
        }
    }

    /// Waits until ``requestStop(_:)`` is called (or returns at once if it was) and returns its reason.
    private func stopRequested() async -> String {
        await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            let already = stopState.withLock { state -> String? in
                if let r = state.requested { return r }
                state.waiter = continuation
                return nil
            }
            if let already { continuation.resume(returning: already) }
        }
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
        var added = 0, removed = 0
        // Through the one change path; refusals of configured names are reported and retried by the link.
        for change in configured.digests.changes(to: fresh.subscriptions, desired: subscriber.desiredNow) {
            if change.subscribe { added += change.names.count } else { removed += change.names.count }
            subscriber.apply(change) { _ in }
        }
        configured.digests = ConfiguredDigests(fresh.subscriptions)
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
}

/// Signal event handles and the admin server, kept alive on the loop.
private final class LoopHandles: @unchecked Sendable {
    var signals: [SignalEvent] = []
    var admin: HTTPServer?
    var startupSettled: (any ScheduledTimer)?
}

/// The digests of the subscriptions the configuration asked for last (SIGHUP applies the difference). Loop thread.
private final class ConfiguredSubscriptions: @unchecked Sendable {
    var digests: ConfiguredDigests
    init(_ digests: ConfiguredDigests) { self.digests = digests }
}
