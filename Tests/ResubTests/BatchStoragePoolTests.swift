import Resub
import Testing

/// Batch buffers handed back after writing are reused by the next batches, within the pool's bounds.
@Suite("Batch storage pool")
struct BatchStoragePoolTests {
    private static func address(_ buffer: [UInt8]) -> UInt? {
        buffer.withUnsafeBufferPointer { $0.baseAddress.map { UInt(bitPattern: $0) } }
    }

    @Test("a recycled buffer comes back empty, with its capacity and its memory")
    func reuse() {
        let pool = BatchStoragePool()
        var buffer = pool.take(minimumCapacity: 256 << 10)
        buffer.append(contentsOf: repeatElement(7, count: 200_000))
        let memory = Self.address(buffer)
        pool.recycle(consume buffer)
        #expect(pool.count == 1)
        let again = pool.take(minimumCapacity: 128 << 10)
        #expect(again.isEmpty)
        #expect(again.capacity >= 256 << 10)
        #expect(Self.address(again) == memory)
        #expect(pool.count == 0)
    }

    @Test("at most maxBytes are kept in all, and no buffer under 64 KiB or over maxBufferBytes")
    func bounds() {
        let pool = BatchStoragePool()
        var capacity = 0
        for _ in 0..<(BatchStoragePool.maxBytes / (256 << 10) + 3) {
            var buffer = [UInt8]()
            buffer.reserveCapacity(256 << 10)
            capacity = buffer.capacity
            pool.recycle(buffer)
        }
        #expect(pool.count == BatchStoragePool.maxBytes / capacity)
        let small = BatchStoragePool()
        small.recycle([UInt8](repeating: 1, count: 1_000))
        var large = [UInt8]()
        large.reserveCapacity(BatchStoragePool.maxBufferBytes + 1)
        small.recycle(large)
        #expect(small.count == 0)
    }

    @Test("a builder's next batch is written into the buffer of a batch recycled before")
    func builderReusesRecycledBatches() {
        let pool = BatchStoragePool()
        var builder = MessageBatchBuilder(pool: pool)
        let payload = [UInt8](repeating: 65, count: 1024)
        func fill() {
            for _ in 0..<100 {
                payload.withUnsafeBytes { p in
                    "ch".utf8CString.withUnsafeBytes { c in
                        builder.append(kind: .message, pattern: UnsafeRawBufferPointer(start: nil, count: 0),
                                       channel: UnsafeRawBufferPointer(rebasing: c.dropLast()), payload: p)
                    }
                }
            }
        }
        fill()
        let first = builder.take(node: "n")
        fill()  // the second batch: written into a buffer taken at the first take, not the first batch's
        let firstMemory = first.storage.withUnsafeBufferPointer { $0.baseAddress.map { UInt(bitPattern: $0) } }
        (consume first).recycleStorage(into: pool)
        #expect(pool.count == 1)
        let second = builder.take(node: "n")  // the third buffer comes from the pool: the first batch's memory
        #expect(pool.count == 0)
        fill()
        let third = builder.take(node: "n")
        #expect(third.storage.withUnsafeBufferPointer { $0.baseAddress.map { UInt(bitPattern: $0) } } == firstMemory)
        #expect(third.count == 100 && second.count == 100)
        #expect(third.first?.payload == payload)
    }
}
