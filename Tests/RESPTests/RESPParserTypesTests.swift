import RESP
import Testing

/// Each RESP2 and RESP3 type, from literal wire bytes to the exact value.
@Suite("Parsing each type")
struct RESPParserTypesTests {
    // MARK: Lines

    @Test("a simple string parses to its bytes")
    func simpleString() throws {
        #expect(try parseOne("+OK\r\n") == .simpleString(bytes("OK")))
        #expect(try parseOne("+\r\n") == .simpleString([]))
    }

    @Test("an error line parses to its whole message")
    func errorLine() throws {
        #expect(try parseOne("-ERR unknown command 'FOO'\r\n") == .error(bytes("ERR unknown command 'FOO'")))
    }

    @Test("integers parse with their sign, including the Int64 extremes", arguments: [
        (":0\r\n", Int64(0)),
        (":42\r\n", 42),
        (":-17\r\n", -17),
        (":+5\r\n", 5),
        (":9223372036854775807\r\n", Int64.max),
        (":-9223372036854775808\r\n", Int64.min),
    ])
    func integer(wire: String, expected: Int64) throws {
        #expect(try parseOne(wire) == .integer(expected))
    }

    @Test("an integer outside Int64 is rejected, not wrapped", arguments: [
        ":9223372036854775808\r\n",
        ":-9223372036854775809\r\n",
        ":99999999999999999999\r\n",
    ])
    func integerOverflow(wire: String) {
        #expect(firstStep(wire) == .failed(.invalidInteger))
    }

    // MARK: Bulk strings

    @Test("a bulk string parses to its bytes")
    func bulkString() throws {
        #expect(try parseOne("$5\r\nhello\r\n") == .bulkString(bytes("hello")))
    }

    @Test("an empty bulk string is empty, not null")
    func emptyBulkString() throws {
        #expect(try parseOne("$0\r\n\r\n") == .bulkString([]))
    }

    @Test("a bulk string keeps CR, LF, NUL and high bytes inside it")
    func binaryBulkString() throws {
        let payload: [UInt8] = [13, 10, 0, 255, 36, 13, 10, 13, 42, 10]
        let wire = bytes("$10\r\n") + payload + bytes("\r\n")
        #expect(try parseOne(wire) == .bulkString(payload))
    }

    // MARK: Nulls

    @Test("RESP2 null bulk, RESP2 null array and RESP3 null all parse to null", arguments: ["$-1\r\n", "*-1\r\n", "_\r\n"])
    func null(wire: String) throws {
        #expect(try parseOne(wire) == .null)
    }

    // MARK: Aggregates

    @Test("an array keeps its elements in order, whatever their types")
    func array() throws {
        #expect(try parseOne("*3\r\n:1\r\n+two\r\n$5\r\nthree\r\n")
            == .array([.integer(1), .simpleString(bytes("two")), .bulkString(bytes("three"))]))
    }

    @Test("an empty array is an empty array")
    func emptyArray() throws {
        #expect(try parseOne("*0\r\n") == .array([]))
    }

    @Test("nested arrays, including an empty one and a null inside, keep their shape")
    func nestedArray() throws {
        #expect(try parseOne("*3\r\n*2\r\n:1\r\n:2\r\n*0\r\n*1\r\n*1\r\n$-1\r\n")
            == .array([.array([.integer(1), .integer(2)]), .array([]), .array([.array([.null])])]))
    }

    @Test("an array that closes several levels at once is built once")
    func closingCascade() throws {
        #expect(try parseOne("*2\r\n*1\r\n*1\r\n*1\r\n:1\r\n:2\r\n")
            == .array([.array([.array([.array([.integer(1)])])]), .integer(2)]))
    }

    @Test("a map keeps its pairs in wire order")
    func map() throws {
        #expect(try parseOne("%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n#f\r\n")
            == .map([RESPPair(.simpleString(bytes("first")), .integer(1)), RESPPair(.bulkString(bytes("second")), .boolean(false))]))
        #expect(try parseOne("%0\r\n") == .map([]))
    }

    @Test("a set keeps its elements in wire order")
    func set() throws {
        #expect(try parseOne("~3\r\n+orange\r\n+apple\r\n:100\r\n")
            == .set([.simpleString(bytes("orange")), .simpleString(bytes("apple")), .integer(100)]))
        #expect(try parseOne("~0\r\n") == .set([]))
    }

    @Test("a push is a push, not an array")
    func push() throws {
        #expect(try parseOne(">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n")
            == .push([.bulkString(bytes("message")), .bulkString(bytes("news")), .bulkString(bytes("hello"))]))
        #expect(try parseOne(">0\r\n") == .push([]))
    }

    // MARK: RESP3 scalars

    @Test("doubles parse in decimal, signed and exponent forms", arguments: [
        (",1.5\r\n", 1.5),
        (",-2\r\n", -2.0),
        (",1e10\r\n", 1e10),
        (",0\r\n", 0.0),
        (",-0.25\r\n", -0.25),
        (",3.0e-3\r\n", 0.003),
    ])
    func double(wire: String, expected: Double) throws {
        #expect(try parseOne(wire) == .double(expected))
    }

    @Test("inf and -inf parse to infinities")
    func infinities() throws {
        #expect(try parseOne(",inf\r\n") == .double(.infinity))
        #expect(try parseOne(",-inf\r\n") == .double(-.infinity))
    }

    @Test("nan parses to a NaN double")
    func nan() throws {
        guard case .double(let d) = try parseOne(",nan\r\n") else {
            Issue.record("nan did not parse to a double")
            return
        }
        #expect(d.isNaN)
    }

    @Test("#t and #f parse to booleans")
    func boolean() throws {
        #expect(try parseOne("#t\r\n") == .boolean(true))
        #expect(try parseOne("#f\r\n") == .boolean(false))
    }

    @Test("a big number keeps all its digits and its sign")
    func bigNumber() throws {
        #expect(try parseOne("(3492890328409238509324850943850943825024385\r\n")
            == .bigNumber(bytes("3492890328409238509324850943850943825024385")))
        #expect(try parseOne("(-123456789012345678901234567890\r\n") == .bigNumber(bytes("-123456789012345678901234567890")))
    }

    @Test("a verbatim string splits into its format and its text")
    func verbatimString() throws {
        #expect(try parseOne("=15\r\ntxt:Some string\r\n") == .verbatimString(format: bytes("txt"), text: bytes("Some string")))
        #expect(try parseOne("=4\r\nmkd:\r\n") == .verbatimString(format: bytes("mkd"), text: []))
    }

    @Test("a blob error keeps its whole binary-safe message")
    func blobError() throws {
        #expect(try parseOne("!21\r\nSYNTAX invalid syntax\r\n") == .blobError(bytes("SYNTAX invalid syntax")))
        #expect(try parseOne("!4\r\nA\r\nB\r\n") == .blobError(bytes("A\r\nB")))
    }

    // MARK: Attributes

    @Test("an attribute wraps the value that follows it")
    func attribute() throws {
        #expect(try parseOne("|1\r\n+key\r\n:1\r\n:42\r\n")
            == .attribute([RESPPair(.simpleString(bytes("key")), .integer(1))], .integer(42)))
    }

    @Test("an attribute inside an array annotates one element only")
    func attributeInsideArray() throws {
        #expect(try parseOne("*2\r\n|1\r\n+key\r\n:1\r\n:42\r\n:7\r\n")
            == .array([.attribute([RESPPair(.simpleString(bytes("key")), .integer(1))], .integer(42)), .integer(7)]))
    }

    @Test("an attribute on an aggregate closes when the aggregate closes")
    func attributeOnAggregate() throws {
        #expect(try parseOne("|2\r\n+ttl\r\n:3\r\n+a\r\n_\r\n*2\r\n:1\r\n:2\r\n")
            == .attribute(
                [RESPPair(.simpleString(bytes("ttl")), .integer(3)), RESPPair(.simpleString(bytes("a")), .null)],
                .array([.integer(1), .integer(2)])))
    }

    @Test("an empty attribute still wraps its value")
    func emptyAttribute() throws {
        #expect(try parseOne("|0\r\n+OK\r\n") == .attribute([], .simpleString(bytes("OK"))))
    }

    // MARK: Sequences

    @Test("values back to back come out one per call, then nil")
    func backToBack() throws {
        var parser = RESPParser()
        parser.feed(bytes("+OK\r\n:1\r\n*1\r\n_\r\n"))
        #expect(parser.step() == .value(.simpleString(bytes("OK"))))
        #expect(parser.step() == .value(.integer(1)))
        #expect(parser.step() == .value(.array([.null])))
        #expect(parser.step() == .needMore)
        #expect(parser.bufferedByteCount == 0)
    }

    @Test("an empty feed gives nothing and needs more")
    func emptyFeed() {
        var parser = RESPParser()
        parser.feed([UInt8]())
        #expect(parser.step() == .needMore)
        #expect(parser.bufferedByteCount == 0)
        #expect(parser.error == nil)
    }

    @Test("feeding a raw buffer pointer parses the same as feeding an array")
    func rawBufferFeed() {
        var parser = RESPParser()
        let wire = bytes("$3\r\nabc\r\n")
        wire.withUnsafeBytes { parser.feed($0) }
        #expect(parser.step() == .value(.bulkString(bytes("abc"))))
    }
}

@Suite("Value equality")
struct RESPValueEqualityTests {
    @Test("a NaN double equals itself (reflexive, as Hashable requires) and hashes alike; 0 and -0 are equal")
    func nanIsReflexive() {
        let nan = RESPValue.double(.nan)
        #expect(nan == nan)
        #expect(RESPValue.map([RESPPair(.simpleString([43]), nan)]) == RESPValue.map([RESPPair(.simpleString([43]), .double(.nan))]))
        #expect(Set([nan, .double(.nan)]).count == 1)
        #expect(RESPValue.double(0) == .double(-0.0))
        #expect(Set([RESPValue.double(0), .double(-0.0)]).count == 1)
        #expect(RESPValue.double(1) != .double(2))
        #expect(RESPValue.integer(1) != .double(1))
    }
}
