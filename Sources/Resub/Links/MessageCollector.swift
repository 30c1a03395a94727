import RESP

/// Collects one link's pub/sub messages into a ``MessageBatchBuilder`` between reads. Loop-only.
///
/// Owned by the link's ``LinkSupervisor`` (a `let`), which appends to it directly, rather than a closure over
/// the link: the link is weakly referenced (it has a side table), so an `unowned` capture of it cost two
/// slow-path reference-count operations per message, about a fifth of the receive path.
package final class MessageCollector {
    private var builder = MessageBatchBuilder()
    private let maxBatchBytes: Int
    /// Called when the batch reaches `maxBatchBytes` mid-read.
    package var onFull: () -> Void = {}

    /// - Parameter maxBatchBytes: flush a batch mid-read once it holds this many bytes (bounds a batch's memory).
    package init(maxBatchBytes: Int) {
        self.maxBatchBytes = maxBatchBytes
    }

    /// Whether no message waits.
    package var isEmpty: Bool { builder.isEmpty }

    /// Appends one message (its bytes are copied once, into the batch).
    package func append(_ message: RESPMessageView) {
        builder.append(kind: message.kind, pattern: message.pattern, channel: message.channel, payload: message.payload)
        if builder.byteCount >= maxBatchBytes { onFull() }
    }

    /// The messages collected so far, as a batch from `node`; the collector starts again empty.
    package func take(node: String) -> MessageBatch {
        builder.take(node: node)
    }
}
