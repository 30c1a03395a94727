#if canImport(Glibc)
import TestSupport
import Glibc
#endif
import RESP
import Resub
import Testing

/// Messages accumulated in one buffer by the builder and read back from the batch.
@Suite("Message batch")
struct MessageBatchTests {
    private static func bytes(_ text: String) -> [UInt8] {
        Array(text.utf8)
    }

    private static func append(_ builder: inout MessageBatchBuilder, _ kind: MessageKind, pattern: [UInt8] = [], channel: [UInt8], payload: [UInt8]) {
        pattern.withUnsafeBytes { p in
            channel.withUnsafeBytes { c in
                payload.withUnsafeBytes { m in
                    builder.append(kind: kind, pattern: p, channel: c, payload: m)
                }
            }
        }
    }

    private static func append(_ builder: inout MessageBatchBuilder, _ message: Message) {
        append(&builder, message.kind, pattern: message.pattern.map(bytes) ?? [], channel: bytes(message.channel), payload: message.payload)
    }

    /// One message of each kind, with binary, empty and CRLF payloads.
    private static let samples: [Message] = [
        Message(kind: .message, channel: "orders", payload: bytes("hello")),
        Message(kind: .pmessage, pattern: "ord*", channel: "orders:eu", payload: bytes("{\"id\":1}")),
        Message(kind: .smessage, channel: "{user1}.events", payload: [0x00, 0xFF, 0x0D, 0x0A, 0x80, 0x7F]),
        Message(kind: .message, channel: "empty", payload: []),
        Message(kind: .pmessage, pattern: "*", channel: "", payload: bytes("no channel name")),
        Message(kind: .message, channel: "café ☕", payload: bytes("\r\n")),
    ]

    @Test("take yields exactly the messages appended, in order")
    func roundTrip() {
        var builder = MessageBatchBuilder()
        for message in Self.samples { Self.append(&builder, message) }
        #expect(builder.count == Self.samples.count)
        #expect(!builder.isEmpty)
        let batch = builder.take(node: "127.0.0.1:6379")
        #expect(batch.count == Self.samples.count)
        #expect(batch.node == "127.0.0.1:6379")
        #expect(Array(batch) == Self.samples)
    }

    @Test("only a pmessage has a pattern when decoded")
    func patternOnlyForPmessage() {
        var builder = MessageBatchBuilder()
        // Pattern bytes given for a message or smessage are stored but never surface as a pattern.
        Self.append(&builder, .message, pattern: Self.bytes("ignored*"), channel: Self.bytes("c"), payload: Self.bytes("x"))
        Self.append(&builder, .smessage, channel: Self.bytes("s"), payload: Self.bytes("y"))
        Self.append(&builder, .pmessage, pattern: [], channel: Self.bytes("c"), payload: Self.bytes("z"))
        let batch = builder.take(node: "n")
        #expect(batch[0].pattern == nil)
        #expect(batch[0].channel == "c")
        #expect(batch[0].payload == Self.bytes("x"))
        #expect(batch[1].pattern == nil)
        #expect(batch[2].pattern == "")
    }

    @Test("byteCount is the sum of every pattern, channel and payload")
    func byteCount() {
        var builder = MessageBatchBuilder()
        for message in Self.samples { Self.append(&builder, message) }
        let expected = Self.samples.reduce(0) { $0 + ($1.pattern?.utf8.count ?? 0) + $1.channel.utf8.count + $1.payload.count }
        #expect(builder.byteCount == expected)
        #expect(builder.take(node: "n").byteCount == expected)
    }

    @Test("forEachRawMessage gives every message's exact bytes, in order")
    func forEachRawMessage() {
        var builder = MessageBatchBuilder()
        for message in Self.samples { Self.append(&builder, message) }
        let batch = builder.take(node: "n")
        var seen: [(MessageKind, [UInt8], [UInt8], [UInt8])] = []
        batch.forEachRawMessage { kind, pattern, channel, payload in
            seen.append((kind, Array(pattern), Array(channel), Array(payload)))
        }
        #expect(seen.count == Self.samples.count)
        for (raw, message) in zip(seen, Self.samples) {
            #expect(raw.0 == message.kind)
            #expect(raw.1 == (message.pattern.map(Self.bytes) ?? []))
            #expect(raw.2 == Self.bytes(message.channel))
            #expect(raw.3 == message.payload)
        }
    }

    @Test("withRawMessage gives one message's exact bytes")
    func withRawMessage() {
        var builder = MessageBatchBuilder()
        for message in Self.samples { Self.append(&builder, message) }
        let batch = builder.take(node: "n")
        let (kind, pattern, channel, payload) = batch.withRawMessage(at: 1) { ($0, Array($1), Array($2), Array($3)) }
        #expect(kind == .pmessage)
        #expect(pattern == Self.bytes("ord*"))
        #expect(channel == Self.bytes("orders:eu"))
        #expect(payload == Self.bytes("{\"id\":1}"))
    }

    @Test("the builder is empty and reusable after take, and earlier batches are unaffected")
    func reusableAfterTake() {
        var builder = MessageBatchBuilder()
        Self.append(&builder, .message, channel: Self.bytes("a"), payload: Self.bytes("first"))
        let first = builder.take(node: "n1")
        #expect(builder.isEmpty)
        #expect(builder.count == 0)
        #expect(builder.byteCount == 0)

        Self.append(&builder, .smessage, channel: Self.bytes("b"), payload: Self.bytes("second"))
        Self.append(&builder, .message, channel: Self.bytes("c"), payload: Self.bytes("third"))
        let second = builder.take(node: "n2")
        #expect(Array(first) == [Message(kind: .message, channel: "a", payload: Self.bytes("first"))])
        #expect(Array(second) == [
            Message(kind: .smessage, channel: "b", payload: Self.bytes("second")),
            Message(kind: .message, channel: "c", payload: Self.bytes("third")),
        ])
        #expect(second.byteCount == 2 + 11)
    }

    @Test("taking from an empty builder gives an empty batch")
    func emptyTake() {
        var builder = MessageBatchBuilder()
        let batch = builder.take(node: "n")
        #expect(batch.isEmpty)
        #expect(batch.byteCount == 0)
        var calls = 0
        batch.forEachRawMessage { _, _, _, _ in calls += 1 }
        #expect(calls == 0)
    }

    @Test("messages with no bytes at all are still delivered, as empty buffers")
    func allEmptyMessages() {
        var builder = MessageBatchBuilder()
        for _ in 0..<3 { Self.append(&builder, .message, channel: [], payload: []) }
        let batch = builder.take(node: "n")
        #expect(batch.count == 3)
        #expect(batch.byteCount == 0)
        var sizes: [Int] = []
        batch.forEachRawMessage { _, p, c, m in sizes.append(p.count + c.count + m.count) }
        #expect(sizes == [0, 0, 0])
        #expect(Array(batch) == Array(repeating: Message(kind: .message, channel: "", payload: []), count: 3))
    }

    @Test("a large batch keeps every payload intact")
    func largeBatch() {
        var builder = MessageBatchBuilder()
        var expected: [Message] = []
        var rng = SplitMix64(seed: 8)
        for i in 0..<2000 {
            let payload = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let message = Message(kind: .message, channel: "c\(i)", payload: payload)
            expected.append(message)
            Self.append(&builder, message)
        }
        #expect(Array(builder.take(node: "n")) == expected)
    }

    @Test("receivedAt is the wall-clock time of the first append")
    func receivedAt() {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let before = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
        var builder = MessageBatchBuilder()
        Self.append(&builder, .message, channel: Self.bytes("c"), payload: [])
        clock_gettime(CLOCK_REALTIME, &now)
        let after = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
        let batch = builder.take(node: "n")
        #expect(batch.receivedAt >= before - 0.001 && batch.receivedAt <= after + 0.001)
    }

    @Test("payloadString decodes valid UTF-8 and refuses anything else")
    func payloadString() {
        #expect(Message(kind: .message, channel: "c", payload: Self.bytes("é")).payloadString == "é")
        #expect(Message(kind: .message, channel: "c", payload: [0xC3]).payloadString == nil)
    }
}
