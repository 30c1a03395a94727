#if canImport(Glibc)
import Glibc
#endif
import RESP

/// Messages that arrived together, stored in one buffer: one allocation per batch instead of several per
/// message. Iterating it yields ``Message`` values (decoded on access); the service's encoders read the raw
/// bytes with ``withRawMessage(at:_:)``.
public struct MessageBatch: Sendable, RandomAccessCollection {
    package struct Record: Sendable {
        var start: Int
        var patternLength: UInt32
        var channelLength: UInt32
        var payloadLength: UInt32
        var kind: MessageKind
    }

    package private(set) var storage: [UInt8]
    package private(set) var records: [Record]
    /// The node (`host:port`) the batch came from.
    public let node: String
    /// When the first message of the batch was read, in seconds since 1970 (wall clock).
    public let receivedAt: Double

    package init(storage: [UInt8], records: [Record], node: String, receivedAt: Double) {
        self.storage = storage
        self.records = records
        self.node = node
        self.receivedAt = receivedAt
    }

    /// Hands the batch's buffer to `pool` for the next batches (a sink calls this once the batch is written
    /// and nothing else holds it).
    package consuming func recycleStorage(into pool: BatchStoragePool = .shared) {
        let buffer = storage
        storage = []  // the batch lets go first, so that the pool holds the only reference and reuses it in place
        pool.recycle(buffer)
    }

    /// How many messages of each kind the batch holds: (message, pmessage, smessage).
    public var kindCounts: (message: Int, pmessage: Int, smessage: Int) {
        var counts = (message: 0, pmessage: 0, smessage: 0)
        for r in records {
            switch r.kind {
            case .message: counts.message += 1
            case .pmessage: counts.pmessage += 1
            case .smessage: counts.smessage += 1
            }
        }
        return counts
    }

    /// The bytes of all messages (payloads, channels, patterns).
    public var byteCount: Int { storage.count }

    /// Positions.
    public var startIndex: Int { 0 }
    /// Positions.
    public var endIndex: Int { records.count }

    /// The message at `position`, decoded.
    public subscript(position: Int) -> Message {
        withRawMessage(at: position) { kind, pattern, channel, payload in
            Message(
                kind: kind,
                pattern: kind == .pmessage ? String(decoding: pattern, as: UTF8.self) : nil,
                channel: String(decoding: channel, as: UTF8.self),
                payload: Array(payload))
        }
    }

    /// Calls `body` with the raw bytes of one message: kind, pattern (empty unless pmessage), channel, payload.
    public func withRawMessage<R>(
        at position: Int,
        _ body: (MessageKind, UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> R
    ) rethrows -> R {
        let r = records[position]
        let p = Int(r.patternLength), c = Int(r.channelLength), m = Int(r.payloadLength)
        return try storage.withUnsafeBytes { raw in
            let base = raw.baseAddress!
            return try body(
                r.kind,
                UnsafeRawBufferPointer(start: base + r.start, count: p),
                UnsafeRawBufferPointer(start: base + r.start + p, count: c),
                UnsafeRawBufferPointer(start: base + r.start + p + c, count: m))
        }
    }

    /// Calls `body` for every message's raw bytes, in order, with one buffer access for the whole batch.
    public func forEachRawMessage(
        _ body: (MessageKind, UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void
    ) rethrows {
        try storage.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else {
                for r in records { try body(r.kind, UnsafeRawBufferPointer(start: nil, count: 0), UnsafeRawBufferPointer(start: nil, count: 0), UnsafeRawBufferPointer(start: nil, count: 0)) }
                return
            }
            for r in records {
                let p = Int(r.patternLength), c = Int(r.channelLength), m = Int(r.payloadLength)
                try body(
                    r.kind,
                    UnsafeRawBufferPointer(start: base + r.start, count: p),
                    UnsafeRawBufferPointer(start: base + r.start + p, count: c),
                    UnsafeRawBufferPointer(start: base + r.start + p + c, count: m))
            }
        }
    }
}

/// Accumulates messages on the loop until the end of a socket read. Loop-only.
package struct MessageBatchBuilder {
    private var storage: [UInt8] = []
    private var records: [MessageBatch.Record] = []
    private var startedAt: Double = 0
    private let pool: BatchStoragePool

    /// A builder taking its buffers from `pool`.
    package init(pool: BatchStoragePool = .shared) {
        self.pool = pool
    }

    package var isEmpty: Bool { records.isEmpty }
    package var count: Int { records.count }
    package var byteCount: Int { storage.count }

    /// Copies one message in (the only copy of its payload between the parser and the sink).
    package mutating func append(kind: MessageKind, pattern: UnsafeRawBufferPointer, channel: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
        if records.isEmpty {
            startedAt = Self.wallClock()
            if storage.capacity == 0 { storage = pool.take(minimumCapacity: 64 << 10) }
        }
        let start = storage.count
        if !pattern.isEmpty { storage.append(contentsOf: pattern.bindMemory(to: UInt8.self)) }
        if !channel.isEmpty { storage.append(contentsOf: channel.bindMemory(to: UInt8.self)) }
        if !payload.isEmpty { storage.append(contentsOf: payload.bindMemory(to: UInt8.self)) }
        records.append(MessageBatch.Record(
            start: start, patternLength: UInt32(pattern.count), channelLength: UInt32(channel.count),
            payloadLength: UInt32(payload.count), kind: kind))
    }

    /// Hands the accumulated messages over and starts a new batch.
    package mutating func take(node: String) -> MessageBatch {
        let batch = MessageBatch(storage: storage, records: records, node: node, receivedAt: startedAt)
        let capacity = max(64 << 10, min(storage.count, 4 << 20))
        storage = pool.take(minimumCapacity: capacity)
        records = []
        records.reserveCapacity(max(64, min(batch.records.count, 1 << 16)))
        return batch
    }

    package static func wallClock() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
