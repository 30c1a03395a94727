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
    private let logger: Logger
    private let stopState = Mutex<StopState>(StopState())

    private struct StopState {
        var requested: String?
        var waiter: CheckedContinuation<String, Never>?
    }

    package init(options: ServiceOptions) {
        self.options = options
        let format = options.logFormat
        LoggingSystem.bootstrap { label in StderrLogHandler(label: label, format: format) }
        self.logger = Logger(label: "resub")
    }

    /// Runs until stopped; returns the process exit code.
    package func run() async -> Int32 {
        let loop = EventLoop(name: "resub-loop")
        let logger = self.logger
        let sink = StdoutSink(format: options.format, limit: options.count, maxQueuedBytes: options.sinkQueueBytes) { [self] reason in
            switch reason {
            case .countReached: requestStop("--count reached")
            case .outputFailed(let e): requestStop("stdout failed: \(String(cString: strerror(e)))")
            case .drained: break
            }
        }
        let drops = DropReporter(logger: logger)
        let subscriber = Subscriber(
            configuration: options.subscriberConfiguration, loop: loop, ownsLoop: false,
            batchHandler: { batch in
                if !sink.push(batch) { drops.dropped(batch.count) }
            },
            eventHandler: { event in Self.log(event, logger) })
        logger.info("resub starting", metadata: [
            "url": "\(options.endpoints[0].redacted)",
            "channels": "\(options.subscriptions.channels.count)",
            "patterns": "\(options.subscriptions.patterns.count)",
            "shard_channels": "\(options.subscriptions.shardChannels.count)",
        ])
        let signals = SignalHandles()
        loop.execute { [self] in
            signals.handles = [SIGTERM, SIGINT].map { sig in
                loop.onSignal(sig) { [self] s in requestStop(s == SIGTERM ? "SIGTERM" : "SIGINT") }
            }
            signals.handles.append(loop.onSignal(SIGHUP) { _ in logger.info("SIGHUP ignored: no --config file to reload") })
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
        sink.finish()
        loop.execute { signals.handles.forEach { $0.cancel() } }
        loop.shutdown()
        let dropped = sink.droppedMessageCount
        logger.info("stopped", metadata: ["written": "\(sink.writtenCount)", "dropped": "\(dropped)"])
        return 0
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

    private static func log(_ event: SubscriberEvent, _ logger: Logger) {
        switch event {
        case .disconnected, .messagesDropped, .subscriptionLost:
            logger.warning("\(event)")
        case .subscriptionFailed:
            logger.error("\(event)")
        default:
            logger.info("\(event)")
        }
    }
}

/// Signal event handles, kept alive on the loop.
private final class SignalHandles: @unchecked Sendable {
    var handles: [SignalEvent] = []
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
