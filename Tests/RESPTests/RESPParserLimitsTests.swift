import RESP
import Testing

/// Limits stop a broken or hostile peer from a header alone, before any payload is buffered.
@Suite("Parser limits")
struct RESPParserLimitsTests {
    // MARK: Defaults

    @Test("the default limits are 64 MiB bulks, depth 32, 512 Ki elements (per aggregate and per value) and 64 KiB lines")
    func defaults() {
        let configuration = RESPParserConfiguration()
        #expect(configuration.maxBulkLength == 67_108_864)
        #expect(configuration.maxDepth == 32)
        #expect(configuration.maxElements == 524_288)
        #expect(configuration.maxFrameElements == 524_288)
        #expect(configuration.maxLineLength == 65_536)
        #expect(RESPParser().configuration == configuration)
    }

    @Test("a default parser accepts a 64 MiB bulk header and rejects one byte more")
    func defaultBulkLimit() {
        #expect(firstStep("$67108864\r\n") == .needMore)
        #expect(firstStep("$67108865\r\n") == .failed(.bulkTooLong))
    }

    @Test("a default parser accepts 32 nested arrays and rejects 33")
    func defaultDepthLimit() {
        let inner = bytes(":1\r\n")
        var expected: RESPValue = .integer(1)
        for _ in 0..<32 { expected = .array([expected]) }
        #expect(firstStep(Array(repeating: bytes("*1\r\n"), count: 32).flatMap { $0 } + inner) == .value(expected))
        #expect(firstStep(Array(repeating: bytes("*1\r\n"), count: 33).flatMap { $0 }) == .failed(.tooDeep))
    }

    @Test("a default parser accepts a header of 512 Ki elements and rejects one more")
    func defaultElementLimit() {
        #expect(firstStep("*524288\r\n") == .needMore)
        #expect(firstStep("*524289\r\n") == .failed(.tooManyElements))
    }

    @Test("a default parser accepts a 64 KiB line and rejects a longer one")
    func defaultLineLimit() {
        let atLimit = Array(repeating: UInt8(ascii: "a"), count: 65_536)
        #expect(firstStep(bytes("+") + atLimit + bytes("\r\n")) == .value(.simpleString(atLimit)))
        #expect(firstStep(bytes("+") + atLimit + bytes("a\r\n")) == .failed(.lineTooLong))
    }

    // MARK: Bulk length

    @Test("a bulk length over the limit is rejected from its header alone", arguments: ["$11\r\n", "=11\r\n", "!11\r\n"])
    func bulkTooLong(header: String) {
        #expect(firstStep(header, configuration: .init(maxBulkLength: 10)) == .failed(.bulkTooLong))
    }

    @Test("a bulk exactly at the limit is accepted")
    func bulkAtLimit() {
        var parser = RESPParser(configuration: .init(maxBulkLength: 10))
        parser.feed(bytes("$10\r\n"))
        #expect(parser.step() == .needMore)
        parser.feed(bytes("0123456789\r\n"))
        #expect(parser.step() == .value(.bulkString(bytes("0123456789"))))
    }

    @Test("a bulk length near Int64.max is rejected, not overflowed")
    func hugeBulkLength() {
        #expect(firstStep("$9223372036854775807\r\n") == .failed(.bulkTooLong))
    }

    // MARK: Depth

    @Test("nesting deeper than the limit is rejected from the headers alone")
    func tooDeep() {
        let configuration = RESPParserConfiguration(maxDepth: 2)
        #expect(firstStep("*1\r\n*1\r\n:1\r\n", configuration: configuration) == .value(.array([.array([.integer(1)])])))
        #expect(firstStep("*1\r\n*1\r\n*1\r\n", configuration: configuration) == .failed(.tooDeep))
        #expect(firstStep("*1\r\n%1\r\n~1\r\n", configuration: configuration) == .failed(.tooDeep))
        #expect(firstStep("*1\r\n>1\r\n|1\r\n", configuration: configuration) == .failed(.tooDeep))
    }

    @Test("an empty aggregate counts as a level of nesting")
    func emptyAggregateDepth() {
        #expect(firstStep("*1\r\n*0\r\n", configuration: .init(maxDepth: 1)) == .failed(.tooDeep))
        #expect(firstStep("*0\r\n", configuration: .init(maxDepth: 1)) == .value(.array([])))
    }

    @Test("depth is counted per value: siblings do not add up")
    func siblingsDoNotAddDepth() {
        #expect(firstStep("*3\r\n*1\r\n:1\r\n*1\r\n:2\r\n*1\r\n:3\r\n", configuration: .init(maxDepth: 2))
            == .value(.array([.array([.integer(1)]), .array([.integer(2)]), .array([.integer(3)])])))
    }

    // MARK: Element count

    @Test("an aggregate announcing more elements than the limit is rejected from its header alone",
          arguments: ["*4\r\n", "~4\r\n", ">4\r\n"])
    func tooManyElements(header: String) {
        #expect(firstStep(header, configuration: .init(maxElements: 3)) == .failed(.tooManyElements))
    }

    @Test("an aggregate at the element limit is accepted")
    func elementsAtLimit() {
        #expect(firstStep("*3\r\n:1\r\n:2\r\n:3\r\n", configuration: .init(maxElements: 3))
            == .value(.array([.integer(1), .integer(2), .integer(3)])))
    }

    @Test("a map counts its keys and values against the element limit")
    func mapCountsKeysAndValues() {
        let configuration = RESPParserConfiguration(maxElements: 4)
        #expect(firstStep("%2\r\n:1\r\n:2\r\n:3\r\n:4\r\n", configuration: configuration)
            == .value(.map([RESPPair(.integer(1), .integer(2)), RESPPair(.integer(3), .integer(4))])))
        #expect(firstStep("%3\r\n", configuration: configuration) == .failed(.tooManyElements))
        #expect(firstStep("|3\r\n", configuration: configuration) == .failed(.tooManyElements))
    }

    @Test("an element count near Int64.max is rejected, not overflowed", arguments: [
        "*9223372036854775807\r\n",
        "~9223372036854775807\r\n",
        ">9223372036854775807\r\n",
        "%9223372036854775807\r\n",
        "|9223372036854775807\r\n",
        "%4611686018427387904\r\n",
    ])
    func hugeElementCount(header: String) {
        #expect(firstStep(header) == .failed(.tooManyElements))
    }

    // MARK: Line length

    @Test("a line of exactly the limit is accepted however it is split")
    func lineAtLimit() {
        let wire = bytes("+12345678\r\n")
        for cut in 0...wire.count {
            var parser = RESPParser(configuration: .init(maxLineLength: 8))
            parser.feed(wire[..<cut])
            #expect(parser.step() == (cut == wire.count ? .value(.simpleString(bytes("12345678"))) : .needMore), "split at \(cut)")
            parser.feed(wire[cut...])
            if cut < wire.count {
                #expect(parser.step() == .value(.simpleString(bytes("12345678"))), "split at \(cut)")
            }
        }
    }

    @Test("a line one byte over the limit is rejected however it is split")
    func lineOverLimit() {
        let wire = bytes("+123456789\r\n")
        for cut in 0...wire.count {
            var parser = RESPParser(configuration: .init(maxLineLength: 8))
            parser.feed(wire[..<cut])
            var steps = [parser.step()]
            parser.feed(wire[cut...])
            steps.append(parser.step())
            #expect(steps.last == .failed(.lineTooLong), "split at \(cut): \(steps)")
            #expect(!steps.contains { if case .value = $0 { true } else { false } }, "split at \(cut): \(steps)")
        }
    }

    @Test("a line with no CRLF is rejected as soon as it passes the limit, one byte at a time")
    func lineWithoutCRLFInSmallChunks() {
        var parser = RESPParser(configuration: .init(maxLineLength: 8))
        parser.feed(bytes("+"))
        for i in 1...8 {
            parser.feed(bytes("x"))
            #expect(parser.step() == .needMore, "after \(i) bytes")
        }
        parser.feed(bytes("x"))
        #expect(parser.step() == .failed(.lineTooLong))
    }

    @Test("a default parser rejects an endless line in 100-byte chunks once it passes 64 KiB")
    func endlessLineInChunks() {
        var parser = RESPParser()
        parser.feed(bytes("-"))
        var fed = 0
        var outcome = ParseStep.needMore
        while outcome == .needMore, fed < 200_000 {
            parser.feed(Array(repeating: UInt8(ascii: "e"), count: 100))
            fed += 100
            outcome = parser.step()
        }
        #expect(outcome == .failed(.lineTooLong))
        #expect(fed == 65_600, "rejected after \(fed) bytes, not on the chunk that passed 65,536")
    }

    @Test("a length header counts against the line limit too")
    func longHeader() {
        #expect(firstStep("$" + String(repeating: "1", count: 9) + "\r\n", configuration: .init(maxLineLength: 8)) == .failed(.lineTooLong))
        #expect(firstStep("*" + String(repeating: "0", count: 7) + "1\r\n", configuration: .init(maxLineLength: 8)) == .needMore)
    }
}

@Suite("Per-value element limit")
struct RESPFrameElementLimitTests {
    @Test("nested aggregates cannot together announce more elements than maxFrameElements")
    func nestedTotal() throws {
        var parser = RESPParser(configuration: .init(maxElements: 100, maxFrameElements: 150))
        // Two arrays of 100 each, inside one of 2: 2 + 100 + 100 = 202 > 150, though each is within 100.
        parser.feed(Array("*2\r\n*100\r\n".utf8))
        for _ in 0..<100 { parser.feed(Array(":1\r\n".utf8)) }
        parser.feed(Array("*100\r\n".utf8))
        #expect(throws: RESPParseError.self) { _ = try parser.next() }
        #expect(parser.error?.code == .tooManyElements)
    }

    @Test("the count starts again for the next top-level value")
    func resetsPerValue() throws {
        var parser = RESPParser(configuration: .init(maxElements: 100, maxFrameElements: 150))
        for _ in 0..<3 {
            parser.feed(Array("*100\r\n".utf8))
            for _ in 0..<100 { parser.feed(Array(":1\r\n".utf8)) }
            let value = try #require(try parser.next())
            #expect(value.elements?.count == 100)
        }
    }
}
