import Resub
#if canImport(Glibc)
import Glibc
#endif

/// The hand-off between the loop thread (producer, never blocks) and a sink's writer thread (consumer,
/// blocks while empty). Bounded in bytes: a batch that does not fit is dropped and counted, never queued
/// without limit, so a slow sink cannot make the process grow until it dies, and never makes the loop stop
/// reading Redis (which would get the subscriber disconnected for its output buffer).
package final class BoundedSinkQueue: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    private var items: [MessageBatch] = []
    private var head = 0
    private var bytes = 0
    private var closed = false
    /// The most bytes of message data held at once.
    package let maxBytes: Int
    private var droppedMessages = 0
    private var droppedBatches = 0
    private var peakBytes = 0

    package init(maxBytes: Int) {
        self.maxBytes = maxBytes
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
    }

    deinit {
        pthread_cond_destroy(&cond)
        pthread_mutex_destroy(&mutex)
    }

    /// Result of ``push(_:)``.
    package enum PushResult: Equatable {
        /// Queued.
        case queued
        /// Dropped because the queue is full; the counters were updated.
        case dropped
        /// Dropped because the queue is closed.
        case closed
    }

    /// Queues a batch unless that would pass ``maxBytes`` (an empty queue takes any one batch). Never blocks
    /// for long: safe on the loop thread.
    package func push(_ batch: MessageBatch) -> PushResult {
        let size = batch.byteCount + batch.count * 32
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        if closed { return .closed }
        if bytes > 0 && bytes + size > maxBytes {
            droppedMessages += batch.count
            droppedBatches += 1
            return .dropped
        }
        items.append(batch)
        bytes += size
        peakBytes = max(peakBytes, bytes)
        pthread_cond_signal(&cond)
        return .queued
    }

    /// Takes every queued batch, waiting while there are none. Returns an empty array once closed and drained.
    package func popAll() -> [MessageBatch] {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while items.count == head && !closed {
            pthread_cond_wait(&cond, &mutex)
        }
        let taken = Array(items[head...])
        items.removeAll(keepingCapacity: items.capacity <= 4096)
        head = 0
        bytes = 0
        return taken
    }

    /// No more pushes; the consumer drains what is queued and then sees an empty result.
    package func close() {
        pthread_mutex_lock(&mutex)
        closed = true
        pthread_cond_broadcast(&cond)
        pthread_mutex_unlock(&mutex)
    }

    /// Messages dropped because the queue was full.
    package var droppedMessageCount: Int {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return droppedMessages
    }

    /// Bytes queued now.
    package var queuedBytes: Int {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return bytes
    }
}
