import LibeventLoop
import Logging

/// The webhook sink as the runner sees it: the loop-side operations, reached from a task.
extension WebhookSink: MessageSink {
    /// Seals the open batches and waits (at most `timeout`) until every request is delivered or dead-lettered;
    /// what is left stays in the spool for the next start, or is lost without one (both logged).
    package func drain(timeout: Duration, logger: Logger) async -> Bool {
        let drained = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            loop.execute { self.drainOnLoop(timeout: timeout) { continuation.resume(returning: $0) } }
        }
        guard !drained else { return true }
        let undelivered = (try? await loop.submit { self.undeliveredMessages }) ?? 0
        if spool != nil {
            logger.warning("webhook not drained within \(timeout.short): the rest stays in the spool for the next start", metadata: ["messages": "\(undelivered)"])
        } else {
            logger.error("webhook not drained within \(timeout.short): messages lost (no --spool-dir)", metadata: ["lost": "\(undelivered)"])
        }
        return false
    }

    /// Closes the connections and timers on the loop, then the spool (synced, cursor written).
    package func close() async {
        try? await loop.submit { self.closeOnLoop() }
        spool?.close()
    }

    /// Delivered, dead-lettered, dropped and undelivered messages.
    package var summary: Logger.Metadata {
        get async {
            let (counters, undelivered) = (try? await loop.submit { (self.counters, self.undeliveredMessages) }) ?? (WebhookCounters(), 0)
            return ["delivered": "\(counters.delivered)", "dead_lettered": "\(counters.deadLettered)", "dropped": "\(counters.dropped)", "undelivered": "\(undelivered)"]
        }
    }

    /// The sink's counters, undelivered messages and spool size.
    package func reportMetrics(to metrics: ServiceMetrics) {
        metrics.webhook(counters, undelivered: undeliveredMessages, spoolBytes: spool?.bytes)
    }
}
