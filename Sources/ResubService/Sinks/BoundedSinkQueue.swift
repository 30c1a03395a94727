import LibeventLoop
import Resub
#if canImport(Glibc)
import Glibc
#endif

/// The hand-off between the loop thread (producer, never blocks) and a sink's writer thread (consumer,
/// blocks while empty).
///
/// Memory is bounded by the bytes *outstanding*: queued plus taken but not yet written. Two marks drive
/// flow control: passing `highWater` asks the producer to pause reading the socket (TCP then slows the
/// server down for a moment); falling back to `lowWater` lets it resume. `maxBytes` is the hard bound: a
/// batch that does not fit is dropped and counted, so a stalled sink cannot make the process grow without
/// limit, and the producer (which pauses only briefly, see ``ServiceRunner``) never stops reading Redis for
/// long enough to be disconnected for its output buffer.
package final class BoundedSinkQueue: @unchecked Sendable {
    /// Guards everything below; the writer thread waits on it while the queue is empty.
    private let lock = ConditionLock()
    private var items: [SinkItem] = []
    private var closed = false
    private var outstanding = 0
    private var aboveHighWater = false
    private var droppedMessages = 0
    private var peak = 0
    private var consumerWaiting = false
    /// The most bytes outstanding at once.
    package let maxBytes: Int
    /// Outstanding bytes at which the producer is asked to pause.
    package let highWater: Int
    /// Outstanding bytes at which a paused producer may resume.
    package let lowWater: Int

    package init(maxBytes: Int, highWater: Int? = nil, lowWater: Int? = nil) {
        self.maxBytes = maxBytes
        self.highWater = min(highWater ?? 4 << 20, maxBytes)
        self.lowWater = min(lowWater ?? 1 << 20, self.highWater / 2)
    }

    /// What ``push(_:)`` did.
    package enum PushResult: Equatable {
        /// Queued.
        case queued
        /// Queued, and the outstanding bytes just passed the high-water mark: pause the producer.
        case queuedAboveHighWater
        /// Dropped because it would pass ``maxBytes``; counted.
        case dropped
        /// Dropped because the queue is closed.
        case closed
    }

    /// The bytes a batch is accounted for (its data plus per-message bookkeeping).
    package static func cost(of batch: MessageBatch) -> Int {
        batch.byteCount + batch.count * 32
    }

    /// Queues a batch unless that would pass ``maxBytes`` (an empty queue takes any one batch). Never
    /// blocks for long: safe on the loop thread.
    package func push(_ batch: MessageBatch) -> PushResult {
        push(.batch(batch))
    }

    /// Queues a record (a gap line) in order with the batches; records are small and never dropped for
    /// space.
    package func push(record: [UInt8], onWritten: (@Sendable () -> Void)? = nil, countsAsMessage: Bool = false) -> PushResult {
        push(.record(record, onWritten, countsAsMessage))
    }

    private func push(_ item: SinkItem) -> PushResult {
        let size = item.cost
        lock.lock()
        defer { lock.unlock() }
        if closed { return .closed }
        if case .batch(let batch) = item, outstanding > 0 && outstanding + size > maxBytes {
            droppedMessages += batch.count
            return .dropped
        }
        items.append(item)
        outstanding += size
        peak = max(peak, outstanding)
        if consumerWaiting { lock.signal() }
        if outstanding >= highWater && !aboveHighWater {
            aboveHighWater = true
            return .queuedAboveHighWater
        }
        return .queued
    }

    /// Takes every queued batch, waiting while there are none. Returns an empty array once closed and
    /// drained. The caller must ``release(_:)`` each batch's cost once written.
    package func popAll() -> [SinkItem] {
        lock.lock()
        defer { lock.unlock() }
        while items.isEmpty && !closed {
            consumerWaiting = true
            lock.wait()
            consumerWaiting = false
        }
        let taken = items
        items.removeAll(keepingCapacity: true)
        return taken
    }

    /// A taken batch has been written. Returns true when this brings the outstanding bytes from above the
    /// high-water mark down to the low-water mark: the producer may resume.
    package func release(_ cost: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        outstanding -= cost
        if aboveHighWater && outstanding <= lowWater {
            aboveHighWater = false
            return true
        }
        return false
    }

    /// No more pushes; the consumer drains what is queued and then sees an empty result.
    package func close() {
        lock.lock()
        closed = true
        lock.broadcast()
        lock.unlock()
    }

    /// Messages dropped because the queue was full.
    package var droppedMessageCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return droppedMessages
    }

    /// Bytes outstanding now (queued or being written).
    package var outstandingBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return outstanding
    }

    /// The most bytes ever outstanding.
    package var peakBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return peak
    }
}

/// What a sink writes: a batch of messages, or an already encoded record (a gap line).
package enum SinkItem: Sendable {
    /// Messages.
    case batch(MessageBatch)
    /// One encoded JSON line, newline included, what to call once it is written out, and whether it counts
    /// toward `--count` (stream entries do, gap records do not).
    case record([UInt8], (@Sendable () -> Void)?, Bool)

    /// The bytes accounted for this item.
    package var cost: Int {
        switch self {
        case .batch(let batch): return BoundedSinkQueue.cost(of: batch)
        case .record(let bytes, _, _): return bytes.count + 32
        }
    }
}
