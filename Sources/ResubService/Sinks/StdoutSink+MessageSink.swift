import Logging

/// The stdout sink as the runner sees it.
extension StdoutSink: MessageSink {
    /// Queues a record; an entry of a stream counts toward `--count`.
    @discardableResult
    package func push(record: [UInt8], stream: String?, onAccepted: (@Sendable () -> Void)?) -> SinkPushResult {
        push(record: record, onWritten: onAccepted, countsAsMessage: stream != nil)
    }

    /// Closes the queue and waits at most `timeout` for the writer to write what it holds; when stdout is
    /// blocked that long, the rest is lost (logged).
    package func drain(timeout: Duration, logger: Logger) async -> Bool {
        guard finish(timeout: timeout) else {
            logger.error("stdout did not drain within \(timeout.short): queued messages lost", metadata: ["lost_bytes": "\(outstandingBytes)"])
            return false
        }
        return true
    }

    /// Refuses further pushes (the writer thread ends once the queue is written; the descriptor is the
    /// process's).
    package func close() async {
        closeQueue()
    }

    /// Written and dropped messages.
    package var summary: Logger.Metadata {
        get async { ["written": "\(writtenCount)", "dropped": "\(droppedMessageCount)"] }
    }

    /// Messages written and the queue's bytes.
    package func reportMetrics(to metrics: ServiceMetrics) {
        metrics.stdout(writtenTotal: writtenCount, queueBytes: outstandingBytes)
    }
}
