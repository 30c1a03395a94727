import LibeventLoop
import Resub
#if canImport(Glibc)
import Glibc
#endif

/// Output format of the stdout sink.
package enum OutputFormat: String, Sendable, CaseIterable {
    /// One JSON object per message and line.
    case json
    /// The payload bytes and a newline.
    case raw
}

/// Writes messages to a file descriptor (stdout) from a thread of its own, fed through a
/// ``BoundedSinkQueue``, so a slow reader of stdout never stalls the event loop.
package final class StdoutSink: @unchecked Sendable {
    private let queue: BoundedSinkQueue
    private let fd: Int32
    private let format: OutputFormat
    private let limit: Int?
    private var thread: ThreadStarter.Handle?
    private var written = 0
    private var finishedFlag = false
    private let onFinished: @Sendable (_ reason: FinishReason) -> Void
    private let onDrained: @Sendable () -> Void
    /// Guards `written` and `finishedFlag`; ``finish(timeout:)`` waits on it for the writer to finish.
    private let lock = ConditionLock()

    /// Why the writer stopped.
    package enum FinishReason: Sendable, Equatable {
        /// `--count` messages were written.
        case countReached
        /// The queue was closed and everything in it written.
        case drained
        /// The output went away (EPIPE) or failed with this errno.
        case outputFailed(Int32)
    }

    /// Creates the sink and starts its writer thread.
    /// - Parameters:
    ///   - limit: stop after this many messages (`--count`).
    ///   - onDrained: called on the writer thread when a backlog that passed the high-water mark has been
    ///     written down to the low-water mark (the producer may resume reading).
    ///   - onFinished: called once, on the writer thread, when it stops.
    package init(fd: Int32 = 1, format: OutputFormat, limit: Int?, maxQueuedBytes: Int = 64 << 20,
                 highWater: Int? = nil, lowWater: Int? = nil,
                 onDrained: @escaping @Sendable () -> Void = {},
                 onFinished: @escaping @Sendable (FinishReason) -> Void) {
        self.fd = fd
        self.format = format
        self.limit = limit
        self.queue = BoundedSinkQueue(maxBytes: maxQueuedBytes, highWater: highWater, lowWater: lowWater)
        self.onDrained = onDrained
        self.onFinished = onFinished
        // A pipe's default 64 KiB means a context switch with the reader per 64 KiB; ask for 1 MiB (the
        // unprivileged maximum by default). Harmless when stdout is not a pipe.
        _ = fcntl(fd, 1031 /* F_SETPIPE_SZ (Linux) */, Int32(1 << 20))
        thread = ThreadStarter.start(name: "resub-stdout") { [self] in run() }
    }

    /// Queues a batch (loop thread). `.queuedAboveHighWater` asks the caller to pause reading until
    /// `onDrained`; `.dropped` and `.closed` mean the batch was not taken.
    @discardableResult
    package func push(_ batch: MessageBatch) -> BoundedSinkQueue.PushResult {
        queue.push(batch)
    }

    /// Queues an encoded record (a gap line, a stream entry), in order with the messages; `onWritten` runs
    /// on the writer thread once the record has been written out.
    @discardableResult
    package func push(record: [UInt8], onWritten: (@Sendable () -> Void)? = nil, countsAsMessage: Bool = false) -> BoundedSinkQueue.PushResult {
        queue.push(record: record, onWritten: onWritten, countsAsMessage: countsAsMessage)
    }

    /// Whether the backlog is past the high-water mark (a reader may hold back).
    package var isBacklogged: Bool { queue.outstandingBytes >= queue.highWater }

    /// Messages dropped because the writer fell behind.
    package var droppedMessageCount: Int { queue.droppedMessageCount }

    /// Messages written so far.
    package var writtenCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return written
    }

    /// Stops accepting batches, writes what is queued, and waits for the writer thread.
    package func finish() {
        _ = finish(timeout: nil)
    }

    /// Stops accepting batches and waits at most `timeout` for the writer to write what is queued.
    /// - Returns: false when the writer did not finish in time (stdout blocked): what it holds is lost.
    package func finish(timeout: Duration?) -> Bool {
        queue.close()
        guard let thread else { return true }
        if let timeout {
            var deadline = timespec()
            clock_gettime(CLOCK_REALTIME, &deadline)
            let (s, atto) = timeout.components
            let nanos = Int(deadline.tv_nsec) + Int(atto / 1_000_000_000)
            deadline.tv_sec += Int(s) + nanos / 1_000_000_000
            deadline.tv_nsec = nanos % 1_000_000_000
            lock.lock()
            while !finishedFlag {
                if !lock.wait(until: deadline) { break }
            }
            let done = finishedFlag
            lock.unlock()
            guard done else { return false }
        }
        thread.join()
        self.thread = nil
        return true
    }

    /// Stops accepting pushes without waiting for the writer.
    package func closeQueue() {
        queue.close()
    }

    /// Bytes of messages queued or being written.
    package var outstandingBytes: Int { queue.outstandingBytes }

    private func run() {
        let out = OutputBuffer(capacity: 1 << 20)
        var reason = FinishReason.drained
        var count = 0
        var writtenCallbacks: [@Sendable () -> Void] = []
        outer: while true {
            // Popped one by one (reversed first) so that each batch is held once and its buffer can be reused.
            var items = queue.popAll()
            if items.isEmpty { break }
            items.reverse()
            while let item = items.popLast() {
                let cost = item.cost
                let batch: MessageBatch
                switch consume item {  // consumed: the batch alone holds its buffer, so the pool can reuse it
                case .batch(let taken):
                    batch = taken
                case .record(let bytes, let onWritten, let counts):
                    bytes.withUnsafeBytes { out.append($0) }
                    if let onWritten { writtenCallbacks.append(onWritten) }
                    if counts {
                        count += 1
                        if let limit, count >= limit {
                            if queue.release(cost) { onDrained() }
                            if out.drain(to: fd) == 0 { for callback in writtenCallbacks { callback() } }
                            reason = .countReached
                            break outer
                        }
                    }
                    if queue.release(cost) { onDrained() }
                    continue
                }
                var stop = false
                batch.forEachRawMessage { kind, pattern, channel, payload in
                    if stop { return }
                    switch format {
                    case .json:
                        JSONLineEncoder.appendMessage(kind: kind, pattern: pattern, channel: channel, payload: payload, to: out)
                    case .raw:
                        out.append(payload)
                        out.append(10)
                    }
                    count += 1
                    if let limit, count >= limit { stop = true }
                }
                if out.count >= 256 << 10 || stop {
                    let e = out.drain(to: fd)
                    if e != 0 {
                        reason = .outputFailed(e)
                        break outer
                    }
                }
                (consume batch).recycleStorage()  // its last use: the pool gets the only reference
                if queue.release(cost) { onDrained() }
                if stop {
                    reason = .countReached
                    break outer
                }
            }
            let e = out.drain(to: fd)
            if e != 0 {
                reason = .outputFailed(e)
                break
            }
            for callback in writtenCallbacks { callback() }
            writtenCallbacks.removeAll()
            lock.lock()
            written = count
            lock.unlock()
        }
        lock.lock()
        written = count
        lock.unlock()
        if reason != .drained { queue.close() }
        onFinished(reason)
        lock.lock()
        finishedFlag = true
        lock.broadcast()
        lock.unlock()
    }
}
