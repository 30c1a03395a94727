import RESP
import Testing

/// Commands and values encode to the exact bytes Redis expects.
@Suite("Encoding")
struct RESPEncoderTests {
    // MARK: Commands

    @Test("SUBSCRIBE a encodes as an array of two bulk strings")
    func subscribeCommand() {
        #expect(RESPEncoder.command("SUBSCRIBE", "a") == bytes("*2\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n"))
    }

    @Test("a command with no arguments is an empty array")
    func emptyCommand() {
        #expect(RESPEncoder.command() == bytes("*0\r\n"))
    }

    @Test("string arguments are counted in UTF-8 bytes, not characters")
    func utf8Arguments() {
        #expect(RESPEncoder.command("PUBLISH", "café", "") == bytes("*3\r\n$7\r\nPUBLISH\r\n$5\r\ncafé\r\n$0\r\n\r\n"))
    }

    @Test("byte arguments are copied verbatim, CR and LF included")
    func byteArguments() {
        var buffer: [UInt8] = []
        RESPEncoder.appendCommand([bytes("PUBLISH"), [13, 10, 0], []], to: &buffer)
        #expect(buffer == bytes("*3\r\n$7\r\nPUBLISH\r\n$3\r\n") + [13, 10, 0] + bytes("\r\n$0\r\n\r\n"))
    }

    @Test("appendCommand with a head and names writes the head first and counts it")
    func headAndNames() {
        var buffer = bytes("prefix")
        RESPEncoder.appendCommand("SSUBSCRIBE", ["{a}1", "{a}2"], to: &buffer)
        #expect(buffer == bytes("prefix*3\r\n$10\r\nSSUBSCRIBE\r\n$4\r\n{a}1\r\n$4\r\n{a}2\r\n"))
    }

    @Test("appendCommand with a head and no names is the head alone")
    func headWithoutNames() {
        var buffer: [UInt8] = []
        RESPEncoder.appendCommand("UNSUBSCRIBE", [String](), to: &buffer)
        #expect(buffer == bytes("*1\r\n$11\r\nUNSUBSCRIBE\r\n"))
    }

    @Test("appendCommand with a head takes any collection of names, such as an array slice")
    func headWithSlice() {
        var buffer: [UInt8] = []
        RESPEncoder.appendCommand("PSUBSCRIBE", ["x", "n*", "m?"].dropFirst(), to: &buffer)
        #expect(buffer == bytes("*3\r\n$10\r\nPSUBSCRIBE\r\n$2\r\nn*\r\n$2\r\nm?\r\n"))
    }

    @Test("commands appended back to back parse back as separate arrays of bulk strings")
    func commandsParseBack() throws {
        var buffer: [UInt8] = []
        RESPEncoder.appendCommand(["PING"], to: &buffer)
        RESPEncoder.appendCommand("SUBSCRIBE", ["a", "b"], to: &buffer)
        #expect(try parseAll(buffer) == [
            .array([.bulkString(bytes("PING"))]),
            .array([.bulkString(bytes("SUBSCRIBE")), .bulkString(bytes("a")), .bulkString(bytes("b"))]),
        ])
    }

    @Test("appendArrayHeader and appendBulk write exact headers")
    func headers() {
        var buffer: [UInt8] = []
        RESPEncoder.appendArrayHeader(12, to: &buffer)
        bytes("hi").withUnsafeBytes { RESPEncoder.appendBulk($0, to: &buffer) }
        #expect(buffer == bytes("*12\r\n$2\r\nhi\r\n"))
    }

    // MARK: Decimals

    @Test("appendDecimal writes the digits of small, large and negative numbers", arguments: [
        (0, "0"),
        (9, "9"),
        (10, "10"),
        (-1, "-1"),
        (-10, "-10"),
        (1234567, "1234567"),
        (Int.max, "9223372036854775807"),
        (Int.min, "-9223372036854775808"),
    ])
    func appendDecimal(value: Int, expected: String) {
        var buffer = bytes("x")
        RESPEncoder.appendDecimal(value, to: &buffer)
        #expect(buffer == bytes("x" + expected))
    }

    @Test("appendDecimal agrees with String(_:) across every power of ten and its neighbours")
    func appendDecimalPowers() {
        var value = 1
        while true {
            for n in [value - 1, value, value + 1, -value, -value - 1] {
                var buffer: [UInt8] = []
                RESPEncoder.appendDecimal(n, to: &buffer)
                #expect(buffer == bytes(String(n)), "\(n)")
            }
            let (next, overflow) = value.multipliedReportingOverflow(by: 10)
            if overflow { break }
            value = next
        }
    }

    // MARK: Values

    @Test("each value encodes to its literal wire form", arguments: [
        (RESPValue.simpleString(bytes("OK")), "+OK\r\n"),
        (.error(bytes("ERR x")), "-ERR x\r\n"),
        (.integer(-42), ":-42\r\n"),
        (.integer(.min), ":-9223372036854775808\r\n"),
        (.bulkString(bytes("a\r\nb")), "$4\r\na\r\nb\r\n"),
        (.bulkString([]), "$0\r\n\r\n"),
        (.null, "_\r\n"),
        (.array([.integer(1), .array([])]), "*2\r\n:1\r\n*0\r\n"),
        (.map([RESPPair(.simpleString(bytes("k")), .boolean(true))]), "%1\r\n+k\r\n#t\r\n"),
        (.set([.integer(1)]), "~1\r\n:1\r\n"),
        (.push([.bulkString(bytes("pong"))]), ">1\r\n$4\r\npong\r\n"),
        (.double(1.5), ",1.5\r\n"),
        (.double(.infinity), ",inf\r\n"),
        (.double(-.infinity), ",-inf\r\n"),
        (.double(.nan), ",nan\r\n"),
        (.boolean(false), "#f\r\n"),
        (.bigNumber(bytes("-3492890328409238509324850943850943825024385")), "(-3492890328409238509324850943850943825024385\r\n"),
        (.verbatimString(format: bytes("txt"), text: bytes("Some string")), "=15\r\ntxt:Some string\r\n"),
        (.blobError(bytes("SYNTAX invalid syntax")), "!21\r\nSYNTAX invalid syntax\r\n"),
        (.attribute([RESPPair(.simpleString(bytes("key")), .integer(1))], .integer(42)), "|1\r\n+key\r\n:1\r\n:42\r\n"),
    ])
    func encodeValue(value: RESPValue, wire: String) {
        #expect(RESPEncoder.encode(value) == bytes(wire))
    }

    @Test("append adds to the buffer without touching what is already there")
    func appendKeepsPrefix() {
        var buffer = bytes("+OK\r\n")
        RESPEncoder.append(.integer(7), to: &buffer)
        #expect(buffer == bytes("+OK\r\n:7\r\n"))
    }
}
