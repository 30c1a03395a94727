import RESP
import Testing
import TestSupport

/// `drainPubSubMessages` hands out complete message frames in place and leaves everything else to `next()`.
@Suite("Pub/sub fast path")
struct RESPFastPathTests {
    // MARK: Shapes it takes

    @Test("a RESP3 message is delivered with its exact channel and payload")
    func resp3Message() {
        var parser = RESPParser()
        parser.feed(bytes(">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"))
        #expect(parser.drainMessages(allowArrays: false)
            == [DeliveredMessage(kind: .message, channel: bytes("news"), payload: bytes("hello"))])
        #expect(parser.bufferedByteCount == 0)
        #expect(parser.step() == .needMore)
    }

    @Test("a RESP3 pmessage is delivered with its exact pattern, channel and payload")
    func resp3PMessage() {
        var parser = RESPParser()
        parser.feed(bytes(">4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n$9\r\nnews.tech\r\n$3\r\nhi!\r\n"))
        #expect(parser.drainMessages(allowArrays: false)
            == [DeliveredMessage(kind: .pmessage, pattern: bytes("news.*"), channel: bytes("news.tech"), payload: bytes("hi!"))])
        #expect(parser.bufferedByteCount == 0)
    }

    @Test("a RESP3 smessage is delivered with its exact channel and payload")
    func resp3SMessage() {
        var parser = RESPParser()
        parser.feed(bytes(">3\r\n$8\r\nsmessage\r\n$7\r\n{user}1\r\n$2\r\nok\r\n"))
        #expect(parser.drainMessages(allowArrays: false)
            == [DeliveredMessage(kind: .smessage, channel: bytes("{user}1"), payload: bytes("ok"))])
        #expect(parser.bufferedByteCount == 0)
    }

    @Test("the builder's frames are the literal wire bytes Redis sends")
    func builderMatchesLiterals() {
        #expect(RESPBuilder.message(channel: "news", payload: "hello")
            == bytes(">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"))
        #expect(RESPBuilder.message(channel: "news", payload: "hello", resp3: false)
            == bytes("*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"))
        #expect(RESPBuilder.pmessage(pattern: "n*", channel: "news", payload: "hi")
            == bytes(">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n"))
        #expect(RESPBuilder.smessage(channel: "s", payload: "", resp3: false)
            == bytes("*3\r\n$8\r\nsmessage\r\n$1\r\ns\r\n$0\r\n\r\n"))
        #expect(RESPBuilder.subscribeConfirmation(kind: .psubscribe, name: "n*", count: 2)
            == bytes(">3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:2\r\n"))
    }

    @Test("RESP2 message and pmessage arrays are delivered when arrays are allowed")
    func resp2ArraysAllowed() {
        var parser = RESPParser()
        parser.feed(bytes("*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nb\r\n"))
        parser.feed(bytes("*4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$2\r\nab\r\n$1\r\nc\r\n"))
        parser.feed(bytes("*3\r\n$8\r\nsmessage\r\n$1\r\nd\r\n$1\r\ne\r\n"))
        #expect(parser.drainMessages(allowArrays: true) == [
            DeliveredMessage(kind: .message, channel: bytes("a"), payload: bytes("b")),
            DeliveredMessage(kind: .pmessage, pattern: bytes("a*"), channel: bytes("ab"), payload: bytes("c")),
            DeliveredMessage(kind: .smessage, channel: bytes("d"), payload: bytes("e")),
        ])
        #expect(parser.bufferedByteCount == 0)
    }

    @Test("a RESP2 message array is left to next() when arrays are not allowed")
    func resp2ArraysNotAllowed() {
        var parser = RESPParser()
        let wire = bytes("*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nb\r\n")
        parser.feed(wire)
        #expect(parser.drainPubSubMessages(allowArrays: false) { _ in Issue.record("delivered a RESP2 array") } == 0)
        #expect(parser.bufferedByteCount == wire.count)
        #expect(parser.step() == .value(RESPBuilder.messageValue(channel: bytes("a"), payload: bytes("b"), resp3: false)))
    }

    @Test("binary channels and payloads with CR and LF inside come out byte for byte")
    func binaryParts() {
        let channel: [UInt8] = [13, 10, 0, 36, 51]
        let payload: [UInt8] = [36, 53, 13, 10, 104, 101, 13, 10, 13, 10, 255, 0]
        var parser = RESPParser()
        parser.feed(RESPBuilder.pmessage(pattern: [42, 13, 10], channel: channel, payload: payload))
        parser.feed(RESPBuilder.message(channel: channel, payload: payload))
        #expect(parser.drainMessages(allowArrays: false) == [
            DeliveredMessage(kind: .pmessage, pattern: [42, 13, 10], channel: channel, payload: payload),
            DeliveredMessage(kind: .message, channel: channel, payload: payload),
        ])
        #expect(parser.bufferedByteCount == 0)
    }

    @Test("an empty channel and an empty payload are delivered, even as the only frame")
    func emptyParts() {
        // The smallest message frame there is: 29 bytes.
        let smallest = bytes(">3\r\n$7\r\nmessage\r\n$0\r\n\r\n$0\r\n\r\n")
        #expect(smallest.count == 29)
        var parser = RESPParser()
        parser.feed(smallest)
        #expect(parser.drainMessages(allowArrays: false) == [DeliveredMessage(kind: .message, channel: [], payload: [])])
        #expect(parser.bufferedByteCount == 0)

        parser.feed(RESPBuilder.pmessage(pattern: [], channel: [], payload: []))
        parser.feed(RESPBuilder.smessage(channel: [], payload: [], resp3: false))
        #expect(parser.drainMessages(allowArrays: true) == [
            DeliveredMessage(kind: .pmessage, channel: [], payload: []),
            DeliveredMessage(kind: .smessage, channel: [], payload: []),
        ])
        #expect(parser.bufferedByteCount == 0)
    }

    @Test("a 1 MiB payload arriving in 64 KiB chunks is delivered once, exactly, after its last chunk")
    func largePayload() {
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 9) }
        let wire = RESPBuilder.message(channel: bytes("big"), payload: payload)
        var parser = RESPParser()
        var delivered: [DeliveredMessage] = []
        var start = 0
        while start < wire.count {
            let end = min(start + (64 << 10), wire.count)
            parser.feed(wire[start..<end])
            delivered += parser.drainMessages(allowArrays: false)
            #expect(delivered.isEmpty || end == wire.count, "delivered before the last chunk")
            start = end
        }
        #expect(delivered == [DeliveredMessage(kind: .message, channel: bytes("big"), payload: payload)])
        #expect(parser.bufferedByteCount == 0)
    }

    @Test("a run of messages fed at once is drained in one call")
    func runInOneCall() {
        var parser = RESPParser()
        var expected: [DeliveredMessage] = []
        for i in 0..<100 {
            parser.feed(RESPBuilder.message(channel: "c\(i % 3)", payload: "payload \(i)"))
            expected.append(DeliveredMessage(kind: .message, channel: bytes("c\(i % 3)"), payload: bytes("payload \(i)")))
        }
        #expect(parser.drainMessages(allowArrays: false) == expected)
        #expect(parser.bufferedByteCount == 0)
    }

    // MARK: Where it stops

    @Test("draining stops at a subscribe confirmation and leaves it for next()")
    func stopsAtConfirmation() {
        let confirmation = RESPBuilder.subscribeConfirmation(kind: .subscribe, name: "news", count: 1)
        let second = RESPBuilder.message(channel: "news", payload: "2")
        var parser = RESPParser()
        parser.feed(RESPBuilder.message(channel: "news", payload: "1") + confirmation + second)
        #expect(parser.drainMessages(allowArrays: false) == [DeliveredMessage(kind: .message, channel: bytes("news"), payload: bytes("1"))])
        #expect(parser.bufferedByteCount == confirmation.count + second.count)
        #expect(parser.step() == .value(RESPBuilder.subscribeConfirmationValue(kind: .subscribe, name: bytes("news"), count: 1)))
        #expect(parser.drainMessages(allowArrays: false) == [DeliveredMessage(kind: .message, channel: bytes("news"), payload: bytes("2"))])
        #expect(parser.bufferedByteCount == 0)
    }

    @Test("draining stops at a reply such as +PONG and leaves it for next()", arguments: [
        "+PONG\r\n", ":1\r\n", "-ERR nope\r\n", "$4\r\nPONG\r\n", "*2\r\n$4\r\npong\r\n$0\r\n\r\n",
    ])
    func stopsAtReply(reply: String) throws {
        var parser = RESPParser()
        parser.feed(bytes(reply) + RESPBuilder.message(channel: "a", payload: "b"))
        #expect(parser.drainMessages(allowArrays: true).isEmpty)
        #expect(parser.step() == .value(try parseOne(reply)))
        #expect(parser.drainMessages(allowArrays: true) == [DeliveredMessage(kind: .message, channel: bytes("a"), payload: bytes("b"))])
    }

    @Test("a frame that only resembles a message is left to next()", arguments: [
        ">4\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
        ">3\r\n$8\r\npmessage\r\n$1\r\na\r\n$1\r\nb\r\n",
        ">4\r\n$8\r\nsmessage\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
        ">3\r\n$8\r\nxmessage\r\n$1\r\na\r\n$1\r\nb\r\n",
        ">3\r\n$7\r\nmassage\r\n$1\r\na\r\n$1\r\nb\r\n",
        ">2\r\n$7\r\nmessage\r\n$1\r\na\r\n",
        ">3\r\n$7\r\nmessage\r\n$1\r\na\r\n:5\r\n",
        ">3\r\n$7\r\nmessage\r\n$-1\r\n$1\r\nb\r\n",
        ">3\r\n+message\r\n$1\r\na\r\n$1\r\nb\r\n",
        ">3\r\n$7\r\nmessage\r\n+a\r\n$1\r\nb\r\n",
        "~3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nb\r\n",
        ">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n",
    ])
    func lookalikes(wire: String) throws {
        var parser = RESPParser()
        parser.feed(bytes(wire))
        #expect(parser.drainMessages(allowArrays: true).isEmpty)
        #expect(parser.bufferedByteCount == wire.utf8.count)
        #expect(parser.step() == .value(try parseOne(wire)))
        #expect(parser.bufferedByteCount == 0)
    }

    @Test("a message part longer than maxBulkLength is left to next(), which rejects it")
    func partOverLimit() {
        var parser = RESPParser(configuration: .init(maxBulkLength: 4))
        parser.feed(RESPBuilder.message(channel: "chan", payload: "12345"))
        #expect(parser.drainMessages(allowArrays: false).isEmpty)
        #expect(parser.step() == .failed(.bulkTooLong))
    }

    @Test("a fresh parser drains nothing")
    func freshParser() {
        var parser = RESPParser()
        #expect(parser.drainMessages(allowArrays: true).isEmpty)
        parser.feed([UInt8]())
        #expect(parser.drainMessages(allowArrays: true).isEmpty)
    }

    @Test("draining does nothing while next() holds a partial aggregate")
    func notBetweenValues() {
        var parser = RESPParser()
        parser.feed(bytes("*2\r\n:1\r\n"))
        #expect(parser.step() == .needMore)
        let message = RESPBuilder.message(channel: "a", payload: "b")
        parser.feed(message)
        #expect(parser.drainMessages(allowArrays: false).isEmpty)
        #expect(parser.step() == .value(.array([.integer(1), RESPBuilder.messageValue(channel: bytes("a"), payload: bytes("b"))])))
    }

    // MARK: Incomplete frames

    @Test("an incomplete message is not consumed, at every cut, and the next feed completes it")
    func incompleteAtEveryCut() {
        let first = RESPBuilder.message(channel: "news", payload: "one")
        let second = RESPBuilder.pmessage(pattern: "n*", channel: "news", payload: "t\r\nwo")
        let secondMessage = DeliveredMessage(kind: .pmessage, pattern: bytes("n*"), channel: bytes("news"), payload: bytes("t\r\nwo"))
        for cut in 0..<second.count {
            var parser = RESPParser()
            parser.feed(first + second[..<cut])
            #expect(parser.drainMessages(allowArrays: false).count == 1, "cut at \(cut)")
            #expect(parser.bufferedByteCount == cut, "cut at \(cut)")
            parser.feed(second[cut...])
            #expect(parser.drainMessages(allowArrays: false) == [secondMessage], "cut at \(cut)")
            #expect(parser.bufferedByteCount == 0, "cut at \(cut)")
        }
    }

    @Test("an incomplete message left by draining can be completed through next()")
    func incompleteThenNext() {
        let wire = RESPBuilder.smessage(channel: "s", payload: "payload")
        var parser = RESPParser()
        parser.feed(wire[..<20])
        #expect(parser.drainMessages(allowArrays: false).isEmpty)
        #expect(parser.step() == .needMore)
        parser.feed(wire[20...])
        #expect(parser.drainMessages(allowArrays: false).isEmpty, "next() already holds the frame's first elements")
        #expect(parser.step() == .value(RESPBuilder.smessageValue(channel: bytes("s"), payload: bytes("payload"))))
    }

    // MARK: Streams

    @Test("1,000 messages interleaved with other frames arrive complete and in order, whatever the chunking")
    func longInterleavedRun() throws {
        var wire: [UInt8] = []
        var expected: [Delivery] = []
        for i in 0..<1_000 {
            let payload = bytes("payload \(i)") + (i % 5 == 0 ? [13, 10] : [])
            switch i % 3 {
            case 0:
                wire += RESPBuilder.message(channel: bytes("news"), payload: payload)
                expected.append(.message(DeliveredMessage(kind: .message, channel: bytes("news"), payload: payload)))
            case 1:
                wire += RESPBuilder.pmessage(pattern: bytes("n*"), channel: bytes("n\(i)"), payload: payload)
                expected.append(.message(DeliveredMessage(kind: .pmessage, pattern: bytes("n*"), channel: bytes("n\(i)"), payload: payload)))
            default:
                wire += RESPBuilder.smessage(channel: bytes("{s}\(i)"), payload: payload)
                expected.append(.message(DeliveredMessage(kind: .smessage, channel: bytes("{s}\(i)"), payload: payload)))
            }
            if i % 7 == 0 {
                wire += bytes("+PONG\r\n")
                expected.append(.value(.simpleString(bytes("PONG"))))
            }
            if i % 50 == 0 {
                let confirmation = RESPBuilder.subscribeConfirmationValue(kind: .subscribe, name: bytes("c\(i)"), count: i / 50 + 1)
                wire += RESPBuilder.wire(confirmation)
                expected.append(.value(confirmation))
            }
            if i % 111 == 0 {
                let reply: RESPValue = .array([.bulkString(bytes("message")), .integer(Int64(i))])
                wire += RESPBuilder.wire(reply)
                expected.append(.value(reply))
            }
        }

        // Frame-aligned feeds: every message takes the fast path.
        var parser = RESPParser()
        parser.feed(wire)
        #expect(try parser.deliverAll(allowArrays: false) == expected)
        #expect(parser.bufferedByteCount == 0)

        // Arbitrary chunks: a message cut by a chunk may be finished by next() instead, but nothing is lost,
        // duplicated or reordered.
        let normalized = expected.map { $0.normalized(allowArrays: false) }
        var generator = SeededGenerator(state: 1_000)
        for maxChunk in [1, 7, 64, 500, 4096] {
            var parser = RESPParser()
            var delivered: [Delivery] = []
            var start = 0
            while start < wire.count {
                let end = min(start + Int.random(in: 1...maxChunk, using: &generator), wire.count)
                parser.feed(wire[start..<end])
                delivered += try parser.deliverAll(allowArrays: false)
                start = end
            }
            #expect(delivered.map { $0.normalized(allowArrays: false) } == normalized, "chunks of up to \(maxChunk) bytes")
            if maxChunk >= 500 {
                // Most frames fit whole in such chunks; with tiny ones next() may legitimately take them all.
                #expect(delivered.contains { if case .message = $0 { true } else { false } }, "fast path never used")
            }
            #expect(parser.bufferedByteCount == 0)
        }
    }

    @Test("the corpus split at every offset yields the same deliveries when draining before each next()")
    func corpusWithDrainAtEveryOffset() throws {
        let wire = RESPCorpus.wire
        for allowArrays in [false, true] {
            let expected = RESPCorpus.values.map { Delivery.value($0).normalized(allowArrays: allowArrays) }
            for cut in 0...wire.count {
                var parser = RESPParser()
                parser.feed(wire[..<cut])
                var delivered = try parser.deliverAll(allowArrays: allowArrays)
                parser.feed(wire[cut...])
                delivered += try parser.deliverAll(allowArrays: allowArrays)
                #expect(delivered.map { $0.normalized(allowArrays: allowArrays) } == expected, "allowArrays \(allowArrays), cut \(cut)")
            }
        }
    }

    // MARK: Throwing bodies

    @Test("when the body throws, earlier messages stay consumed and the failing one is offered again")
    func throwingBody() throws {
        struct Refused: Error {}
        var parser = RESPParser()
        for payload in ["1", "2", "3"] { parser.feed(RESPBuilder.message(channel: "c", payload: payload)) }
        var seen: [[UInt8]] = []
        #expect(throws: Refused.self) {
            _ = try parser.drainPubSubMessages(allowArrays: false) { view in
                let payload = Array(view.payload)
                if payload == bytes("2") { throw Refused() }
                seen.append(payload)
            }
        }
        #expect(seen == [bytes("1")])
        #expect(parser.drainMessages(allowArrays: false).map(\.payload) == [bytes("2"), bytes("3")])
    }
}
