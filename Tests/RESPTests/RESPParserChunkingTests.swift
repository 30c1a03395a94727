import RESP
import Testing
import TestSupport

/// Bytes arrive in arbitrary pieces; the values must not depend on where the pieces end.
@Suite("Parsing input split into chunks")
struct RESPParserChunkingTests {
    @Test("the corpus fed in one piece parses to every expected value")
    func corpusInOnePiece() throws {
        let values = try parseAll(RESPCorpus.wire)
        #expect(values == RESPCorpus.values)
    }

    @Test("the corpus split into two feeds at every byte offset parses to the same values")
    func corpusAtEveryOffset() throws {
        let wire = RESPCorpus.wire
        let expected = RESPCorpus.values
        for cut in 0...wire.count {
            let values = try parseAll(wire, cuttingAt: [cut])
            #expect(values == expected, "split at byte \(cut)")
        }
    }

    @Test("the corpus fed one byte at a time parses to the same values")
    func corpusOneByteAtATime() throws {
        let wire = RESPCorpus.wire
        let values = try parseAll(wire, cuttingAt: Array(1..<wire.count))
        #expect(values == RESPCorpus.values)
    }

    @Test("the corpus fed in pseudo-random chunks of 1 to 17 bytes parses to the same values")
    func corpusInRandomChunks() throws {
        let wire = RESPCorpus.wire
        var generator = SeededGenerator(state: 0x5EED)
        for _ in 0..<50 {
            var cuts: [Int] = []
            var offset = Int.random(in: 1...17, using: &generator)
            while offset < wire.count {
                cuts.append(offset)
                offset += Int.random(in: 1...17, using: &generator)
            }
            #expect(try parseAll(wire, cuttingAt: cuts) == RESPCorpus.values, "cuts \(cuts)")
        }
    }

    @Test("a value is not returned before its last byte arrives")
    func noEarlyValue() {
        for sample in RESPCorpus.samples {
            var parser = RESPParser()
            parser.feed(sample.wire.dropLast())
            #expect(parser.step() == .needMore, "\(sample.value) returned without its final LF")
            parser.feed(sample.wire.suffix(1))
            #expect(parser.step() == .value(sample.value))
            #expect(parser.bufferedByteCount == 0)
        }
    }

    @Test("a CRLF split between two feeds ends the line on the second feed")
    func crlfAcrossFeeds() {
        var parser = RESPParser()
        parser.feed(bytes("+OK\r"))
        #expect(parser.step() == .needMore)
        #expect(parser.bufferedByteCount == 4)
        parser.feed(bytes("\n"))
        #expect(parser.step() == .value(.simpleString(bytes("OK"))))
        #expect(parser.bufferedByteCount == 0)
    }

    @Test("a CRLF split after a bulk header or after a bulk payload waits for the LF")
    func crlfAcrossFeedsInBulk() {
        var parser = RESPParser()
        parser.feed(bytes("$3\r"))
        #expect(parser.step() == .needMore)
        parser.feed(bytes("\nabc\r"))
        #expect(parser.step() == .needMore)
        parser.feed(bytes("\n"))
        #expect(parser.step() == .value(.bulkString(bytes("abc"))))
    }

    @Test("a value completed by a feed that also starts the next one leaves the rest buffered")
    func partialTail() {
        var parser = RESPParser()
        parser.feed(bytes("*2\r\n:1\r\n"))
        #expect(parser.step() == .needMore)
        parser.feed(bytes(":2\r\n$5\r\nhel"))
        #expect(parser.step() == .value(.array([.integer(1), .integer(2)])))
        #expect(parser.step() == .needMore)
        #expect(parser.bufferedByteCount == 7)
        parser.feed(bytes("lo\r\n"))
        #expect(parser.step() == .value(.bulkString(bytes("hello"))))
    }

    @Test("a 1 MiB bulk string fed in 1000-byte chunks arrives whole and exact")
    func largeBulkInChunks() throws {
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) }
        let wire = RESPBuilder.wire(.bulkString(payload))
        var parser = RESPParser()
        var values: [RESPValue] = []
        var start = 0
        while start < wire.count {
            let end = min(start + 1000, wire.count)
            parser.feed(wire[start..<end])
            values += try parser.values()
            #expect(values.isEmpty || end == wire.count, "value returned before its last chunk")
            start = end
        }
        #expect(values == [.bulkString(payload)])
        #expect(parser.bufferedByteCount == 0)
    }

    @Test("error offsets count every byte ever fed, across consumed values")
    func errorOffsetIsAbsolute() throws {
        var parser = RESPParser()
        parser.feed(bytes("+OK\r\n"))
        #expect(parser.step() == .value(.simpleString(bytes("OK"))))
        parser.feed(bytes(":1\r\n:x\r\n"))
        #expect(parser.step() == .value(.integer(1)))
        let thrown = parser.nextError()
        let error = try #require(thrown)
        #expect(error.code == .invalidInteger)
        #expect(error.offset == 10)  // "+OK\r\n:1\r\n:" is 10 bytes: the 'x' is byte 10.
    }
}
