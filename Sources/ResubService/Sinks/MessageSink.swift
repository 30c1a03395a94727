import Logging
import Resub

/// What a push into a sink came to.
package typealias SinkPushResult = BoundedSinkQueue.PushResult

/// Where the service's output goes: stdout (``StdoutSink``) or a webhook (``WebhookSink``). The runner holds
/// one `any MessageSink` and never asks which.
///
/// Threads: the pushes on the loop thread (the subscriber's and the stream reader's handlers);
/// ``drain(timeout:logger:)``, ``close()`` and ``summary`` from a task, never on the loop thread;
/// ``reportMetrics(to:)`` on the loop thread, at scrape.
package protocol MessageSink: AnyObject, Sendable {
    /// Adds a batch of messages. `.queuedAboveHighWater` asks flow control to pause reading; `.dropped` and
    /// `.closed` mean the batch was not taken, and the caller counts it.
    @discardableResult
    func push(_ batch: MessageBatch) -> SinkPushResult

    /// Adds an encoded record in order with the messages: a gap record (`stream` nil), or a stream entry
    /// (`stream` its key), which counts as a message and keeps its stream's order. `onAccepted` runs once the
    /// record is written (stdout) or delivered (webhook).
    @discardableResult
    func push(record: [UInt8], stream: String?, onAccepted: (@Sendable () -> Void)?) -> SinkPushResult

    /// Stops taking input and waits at most `timeout` until everything taken is written or delivered; logs
    /// what was left behind. Returns whether everything was.
    func drain(timeout: Duration, logger: Logger) async -> Bool

    /// Releases the sink's thread, connections and files (after ``drain(timeout:logger:)``).
    func close() async

    /// The counts for the "stopped" log line.
    var summary: Logger.Metadata { get async }

    /// Brings the sink's metrics up to date (loop thread, at scrape).
    func reportMetrics(to metrics: ServiceMetrics)
}
