import RESP
import Testing

/// Malformed frames throw a stable code, and the parser then refuses everything: the stream is desynchronised.
@Suite("Malformed input")
struct RESPParserErrorTests {
    @Test("a malformed frame throws its error code", arguments: [
        ("@\r\n", RESPParseError.Code.invalidTypeByte),
        ("hello\r\n", .invalidTypeByte),
        ("\r\n", .invalidTypeByte),
        ("$abc\r\n", .invalidLength),
        ("$-2\r\n", .invalidLength),
        ("$+3\r\nabc\r\n", .invalidLength),
        ("$\r\n", .invalidLength),
        ("*-2\r\n", .invalidLength),
        ("%-1\r\n", .invalidLength),
        ("~-1\r\n", .invalidLength),
        (">-1\r\n", .invalidLength),
        ("=-1\r\n", .invalidLength),
        ("!-1\r\n", .invalidLength),
        ("*1x\r\n", .invalidLength),
        ("_x\r\n", .invalidLength),
        (":12x\r\n", .invalidInteger),
        (":\r\n", .invalidInteger),
        (":-\r\n", .invalidInteger),
        (": 1\r\n", .invalidInteger),
        ("(12a\r\n", .invalidInteger),
        ("(\r\n", .invalidInteger),
        ("#x\r\n", .invalidBoolean),
        ("#\r\n", .invalidBoolean),
        ("#tt\r\n", .invalidBoolean),
        (",abc\r\n", .invalidDouble),
        (",\r\n", .invalidDouble),
        (",1.5x\r\n", .invalidDouble),
        ("=3\r\ntxt\r\n", .invalidVerbatimString),
        ("=5\r\ntxt-a\r\n", .invalidVerbatimString),
        ("$3\r\nabcXY", .missingCRLF),
        ("$3\r\nabc\n\r", .missingCRLF),
        ("!1\r\nab\r\n", .missingCRLF),
        ("*?\r\n", .unsupported),
        ("$?\r\n", .unsupported),
        ("%?\r\n", .unsupported),
    ])
    func malformed(wire: String, code: RESPParseError.Code) {
        #expect(firstStep(wire) == .failed(code))
    }

    @Test("a malformed element inside an aggregate fails the whole value")
    func malformedInsideAggregate() {
        var parser = RESPParser()
        parser.feed(bytes("*3\r\n:1\r\n"))
        #expect(parser.step() == .needMore)
        parser.feed(bytes("#maybe\r\n:3\r\n"))
        #expect(parser.step() == .failed(.invalidBoolean))
    }

    @Test("an unknown type byte is rejected as soon as it arrives, without waiting for a CRLF")
    func badTypeByteAlone() {
        #expect(firstStep("@") == .failed(.invalidTypeByte))
        #expect(firstStep("HTTP/1.1 400 Bad Request") == .failed(.invalidTypeByte))
        var parser = RESPParser(configuration: .init(maxLineLength: 8))
        parser.feed(bytes("?") + Array(repeating: UInt8(ascii: "z"), count: 100))
        #expect(parser.step() == .failed(.invalidTypeByte))
    }

    @Test("the error sticks: valid input fed afterwards throws the same error again")
    func errorSticks() throws {
        var parser = RESPParser()
        parser.feed(bytes("+OK\r\n:12x\r\n"))
        #expect(parser.step() == .value(.simpleString(bytes("OK"))))
        let thrown = parser.nextError()
        let first = try #require(thrown)
        #expect(first.code == .invalidInteger)
        #expect(first.offset == 6)  // The integer's line starts at byte 6, after "+OK\r\n:".
        #expect(parser.error == first)

        let buffered = parser.bufferedByteCount
        parser.feed(bytes("+PONG\r\n"))
        #expect(parser.bufferedByteCount == buffered, "a failed parser must not keep buffering input")
        #expect(parser.nextError() == first)
        #expect(parser.nextError() == first)
        #expect(parser.error == first)
    }

    @Test("the error sticks for every kind of failure", arguments: ["@\r\n", "$-2\r\n", "#x\r\n", "$1\r\nabc", "*?\r\n"])
    func everyErrorSticks(wire: String) throws {
        var parser = RESPParser()
        parser.feed(bytes(wire))
        let thrown = parser.nextError()
        let first = try #require(thrown)
        parser.feed(bytes(":1\r\n"))
        #expect(parser.nextError() == first)
        #expect(parser.error == first)
    }

    @Test("a limit error sticks like a malformed frame")
    func limitErrorSticks() throws {
        var parser = RESPParser(configuration: .init(maxBulkLength: 4))
        parser.feed(bytes("$5\r\n"))
        let thrown = parser.nextError()
        let first = try #require(thrown)
        #expect(first.code == .bulkTooLong)
        parser.feed(bytes("hello\r\n+OK\r\n"))
        #expect(parser.nextError() == first)
        #expect(parser.error == first)
    }

    @Test("a failed parser hands out no pub/sub messages, even a well-formed one left in its buffer")
    func failedParserDrainsNothing() throws {
        // maxElements 2 makes next() reject the three-element push that the fast path would otherwise take.
        var parser = RESPParser(configuration: .init(maxElements: 2))
        parser.feed(bytes(">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nb\r\n"))
        let thrown = parser.nextError()
        let first = try #require(thrown)
        #expect(first.code == .tooManyElements)
        let buffered = parser.bufferedByteCount
        #expect(parser.drainMessages(allowArrays: true).isEmpty)
        #expect(parser.bufferedByteCount == buffered)
        #expect(parser.error == first)
    }

    @Test("a healthy parser reports no error")
    func noErrorWhenHealthy() {
        var parser = RESPParser()
        parser.feed(bytes("+OK\r\n$3\r\nab"))
        #expect(parser.step() == .value(.simpleString(bytes("OK"))))
        #expect(parser.step() == .needMore)
        #expect(parser.error == nil)
    }

    @Test("the error describes its code and offset")
    func errorDescription() throws {
        var parser = RESPParser()
        parser.feed(bytes("+OK\r\n@\r\n"))
        _ = parser.step()
        let thrown = parser.nextError()
        let error = try #require(thrown)
        #expect(error.offset == 5)
        #expect(error.description.hasPrefix("RESP parse error (invalidTypeByte) at byte 5: "))
    }
}
