import Synchronization

/// Message-batch buffers handed back once written, for the next batches to reuse.
///
/// Why: each socket read becomes a batch with a buffer of its own (~256 KiB). Freed on the writer thread and
/// allocated again on the loop thread, those buffers went back to the system and came back as fresh pages, a
/// page fault per 4 KiB: at 1 KiB messages that was ~17% of the loop thread's time. The service's sinks hand
/// each batch's buffer back here after writing it (``MessageBatch/recycleStorage()``); batches a library user
/// receives are simply freed. Bounded: buffers of 64 KiB to ``maxBufferBytes`` each, ``maxBytes`` in all (the
/// service's flow control pauses the socket at 4 MiB of unwritten batches, so a pool of that size covers what
/// is in flight when the writer lags; after a burst it is what stays allocated). Any thread.
package final class BatchStoragePool: Sendable {
    /// The pool the links and the service's sinks share.
    package static let shared = BatchStoragePool()
    /// The most bytes (capacity) kept in all.
    package static let maxBytes = 4 << 20
    /// The largest buffer kept (a larger one is freed: a burst must not pin its peak).
    package static let maxBufferBytes = 1 << 20

    private struct Kept {
        var buffers: [[UInt8]] = []
        var bytes = 0
    }

    private let kept = Mutex(Kept())

    package init() {}

    /// An empty buffer with room for at least `minimumCapacity` bytes: a kept one when there is one.
    package func take(minimumCapacity: Int) -> [UInt8] {
        var buffer = kept.withLock { kept -> [UInt8]? in
            guard let buffer = kept.buffers.popLast() else { return nil }
            kept.bytes -= buffer.capacity
            return buffer
        } ?? []
        buffer.reserveCapacity(minimumCapacity)
        return buffer
    }

    /// Keeps `buffer` for reuse (emptied, its capacity kept) unless the pool is full or its size is out of range.
    /// A buffer still shared with another array is not reused in place (emptying it allocates): harmless.
    package func recycle(_ buffer: consuming [UInt8]) {
        guard buffer.capacity >= 64 << 10, buffer.capacity <= Self.maxBufferBytes else { return }
        var buffer = consume buffer
        buffer.removeAll(keepingCapacity: true)
        let capacity = buffer.capacity
        kept.withLock { kept in
            guard kept.bytes + capacity <= Self.maxBytes else { return }
            kept.bytes += capacity
            kept.buffers.append(buffer)
        }
    }

    /// How many buffers are kept now (for tests).
    package var count: Int { kept.withLock { $0.buffers.count } }
}
