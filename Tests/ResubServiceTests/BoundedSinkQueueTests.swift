import LibeventLoop
import Foundation
import Resub
import ResubService
import Synchronization
import Testing

/// The byte-bounded hand-off between the loop and a sink's writer thread.
@Suite("Bounded sink queue")
struct BoundedSinkQueueTests {
    /// A batch of `count` messages whose queue size (bytes + 32 per message) is `count × 300`.
    private static func batch(_ tag: String, count: Int = 1) -> MessageBatch {
        // Channel "c" (1 byte) + payload (267 bytes) + 32 per message = 300.
        let payload = tag + String(repeating: ".", count: 267 - tag.utf8.count)
        return makeBatch(Array(repeating: RawMessage(channel: "c", payload: payload), count: count))
    }

    private static func tag(_ item: SinkItem) -> String {
        guard case .batch(let batch) = item else { return "record" }
        return String(decoding: batch[0].payload.prefix { $0 != UInt8(ascii: ".") }, as: UTF8.self)
    }

    /// Takes everything and reports each item written, as the writer thread does.
    private static func popAllWritten(_ queue: BoundedSinkQueue) -> [SinkItem] {
        let items = queue.popAll()
        for item in items { _ = queue.release(item.cost) }
        return items
    }

    @Test("batches are queued until the next would pass maxBytes; then they are dropped and counted")
    func dropsWhenFull() {
        let queue = BoundedSinkQueue(maxBytes: 1000)
        #expect(queue.push(Self.batch("a")) == .queued)
        #expect(queue.push(Self.batch("b")) == .queued)
        #expect(queue.push(Self.batch("c")) == .queued)
        #expect(queue.outstandingBytes == 900)
        #expect(queue.push(Self.batch("d", count: 2)) == .dropped)
        #expect(queue.push(Self.batch("e")) == .dropped)
        #expect(queue.droppedMessageCount == 3)
        #expect(queue.outstandingBytes == 900)
        #expect(queue.popAll().map(Self.tag) == ["a", "b", "c"])
    }

    @Test("a batch that exactly fills the queue is accepted")
    func exactFit() {
        let queue = BoundedSinkQueue(maxBytes: 600)
        #expect(queue.push(Self.batch("a")) == .queued)
        #expect(queue.push(Self.batch("b")) == .queuedAboveHighWater)
        #expect(queue.outstandingBytes == 600)
        #expect(queue.push(Self.batch("c")) == .dropped)
    }

    @Test("an empty queue accepts one batch larger than maxBytes, and nothing after it")
    func oversizeIntoEmpty() {
        let queue = BoundedSinkQueue(maxBytes: 100)
        #expect(queue.push(Self.batch("big", count: 10)) == .queuedAboveHighWater)
        #expect(queue.outstandingBytes == 3000)
        #expect(queue.push(Self.batch("small")) == .dropped)
        #expect(queue.droppedMessageCount == 1)
        let popped = Self.popAllWritten(queue)
        #expect(popped.count == 1)
        if case .batch(let batch) = popped.first { #expect(batch.count == 10) } else { Issue.record("expected a batch") }
        // Written and released: the next oversize batch is accepted again.
        #expect(queue.outstandingBytes == 0)
        #expect(queue.push(Self.batch("big2", count: 10)) == .queuedAboveHighWater)
    }

    @Test("popAll returns every batch in push order and empties the queue")
    func popInOrder() {
        let queue = BoundedSinkQueue(maxBytes: 1 << 20)
        let tags = (0..<50).map { "t\($0)" }
        for t in tags { #expect(queue.push(Self.batch(t)) == .queued) }
        #expect(Self.popAllWritten(queue).map(Self.tag) == tags)
        #expect(queue.outstandingBytes == 0)
        #expect(queue.push(Self.batch("next")) == .queued)
        #expect(queue.popAll().map(Self.tag) == ["next"])
    }

    @Test("passing the high-water mark is reported once; writing down to the low-water mark releases it once")
    func waterMarks() {
        let queue = BoundedSinkQueue(maxBytes: 10_000, highWater: 900, lowWater: 300)
        #expect(queue.push(Self.batch("a")) == .queued)
        #expect(queue.push(Self.batch("b")) == .queued)
        #expect(queue.push(Self.batch("c")) == .queuedAboveHighWater)
        #expect(queue.push(Self.batch("d")) == .queued, "reported once until drained")
        let items = queue.popAll()
        #expect(items.count == 4)
        #expect(!queue.release(items[0].cost))  // 900 outstanding
        #expect(!queue.release(items[1].cost))  // 600
        #expect(queue.release(items[2].cost), "300 = the low-water mark: the producer may resume")
        #expect(!queue.release(items[3].cost), "released once")
        #expect(queue.push(Self.batch("e")) == .queued)
    }

    @Test("a record is queued in order with batches and is not dropped for space")
    func recordsInOrder() {
        let queue = BoundedSinkQueue(maxBytes: 600)
        #expect(queue.push(Self.batch("a", count: 2)) == .queuedAboveHighWater)
        #expect(queue.push(Self.batch("b")) == .dropped)
        #expect(queue.push(record: Array("{\"type\":\"gap\"}\n".utf8)) != .dropped)
        #expect(queue.popAll().map(Self.tag) == ["a", "record"])
    }

    @Test("after close, pushes are refused, popAll drains what was queued and then returns nothing")
    func closeThenDrain() {
        let queue = BoundedSinkQueue(maxBytes: 1 << 20)
        #expect(queue.push(Self.batch("a")) == .queued)
        #expect(queue.push(Self.batch("b")) == .queued)
        queue.close()
        #expect(queue.push(Self.batch("c")) == .closed)
        #expect(queue.droppedMessageCount == 0)
        #expect(queue.popAll().map(Self.tag) == ["a", "b"])
        #expect(queue.popAll().isEmpty)
        #expect(queue.popAll().isEmpty)
    }

    @Test("popAll waits for a push from another thread")
    func popWaitsForPush() async {
        let queue = BoundedSinkQueue(maxBytes: 1 << 20)
        let result = Mutex<[String]?>(nil)
        ThreadStarter.detach(name: "test-consumer") {
            let popped = queue.popAll().map(Self.tag)
            result.withLock { $0 = popped }
        }
        try? await Task.sleep(for: .milliseconds(50))
        #expect(result.withLock { $0 } == nil, "popAll returned before anything was pushed")
        #expect(queue.push(Self.batch("late")) == .queued)
        #expect(await waitFor { result.withLock { $0 } != nil })
        #expect(result.withLock { $0 } == ["late"])
    }

    @Test("close wakes a waiting popAll, which returns nothing")
    func closeWakesPop() async {
        let queue = BoundedSinkQueue(maxBytes: 1 << 20)
        let result = Mutex<Int?>(nil)
        ThreadStarter.detach(name: "test-consumer") {
            let popped = queue.popAll()
            result.withLock { $0 = popped.count }
        }
        try? await Task.sleep(for: .milliseconds(50))
        queue.close()
        #expect(await waitFor { result.withLock { $0 } != nil })
        #expect(result.withLock { $0 } == 0)
    }

    @Test("a producer and a consumer on two threads lose nothing when the queue is large enough")
    func producerConsumer() async {
        let queue = BoundedSinkQueue(maxBytes: 1 << 30)
        let received = Mutex<[String]>([])
        let done = Mutex(false)
        ThreadStarter.detach(name: "test-consumer") {
            while true {
                let batches = queue.popAll()
                if batches.isEmpty { break }
                received.withLock { $0 += batches.map(Self.tag) }
            }
            done.withLock { $0 = true }
        }
        let tags = (0..<3000).map { "m\($0)" }
        for t in tags { _ = queue.push(Self.batch(t)) }
        queue.close()
        #expect(await waitFor { done.withLock { $0 } })
        #expect(received.withLock { $0 } == tags)
        #expect(queue.droppedMessageCount == 0)
    }
}
