import RESP
import Testing
import TestSupport

/// What the encoder writes, the parser reads back unchanged.
@Suite("Encoding and parsing back")
struct RESPRoundTripTests {
    /// One value of every type, several nested, none NaN (NaN never equals itself; it has its own test).
    static let values: [RESPValue] = [
        .simpleString(bytes("OK")),
        .simpleString([]),
        .error(bytes("WRONGTYPE Operation against a key holding the wrong kind of value")),
        .integer(0),
        .integer(-1),
        .integer(.max),
        .integer(.min),
        .bulkString([]),
        .bulkString(bytes("hello")),
        .bulkString([13, 10, 0, 255, 13, 13, 10, 10]),
        .null,
        .array([]),
        .array([.integer(1), .bulkString(bytes("two")), .null, .array([.boolean(true), .array([])])]),
        .map([]),
        .map([RESPPair(.bulkString(bytes("k")), .array([.integer(1)])), RESPPair(.integer(2), .map([]))]),
        .set([]),
        .set([.simpleString(bytes("a")), .double(2.5)]),
        .push([]),
        .push([.bulkString(bytes("message")), .bulkString(bytes("ch")), .bulkString([13, 10])]),
        .double(1.5),
        .double(-2),
        .double(1e10),
        .double(0.1),
        .double(-1.7976931348623157e308),
        .double(.leastNonzeroMagnitude),
        .double(.infinity),
        .double(-.infinity),
        .boolean(true),
        .boolean(false),
        .bigNumber(bytes("3492890328409238509324850943850943825024385")),
        .bigNumber(bytes("-1")),
        .verbatimString(format: bytes("txt"), text: bytes("Some string")),
        .verbatimString(format: bytes("mkd"), text: [13, 10]),
        .blobError(bytes("SYNTAX invalid syntax")),
        .blobError([]),
        .attribute([RESPPair(.simpleString(bytes("key")), .integer(1))], .integer(42)),
        .attribute([], .array([.attribute([RESPPair(.bulkString(bytes("ttl")), .integer(3))], .null)])),
    ]

    @Test("a value survives encoding and parsing", arguments: values)
    func roundTrip(value: RESPValue) throws {
        #expect(try parseOne(RESPEncoder.encode(value)) == value)
    }

    @Test("all values encoded back to back parse back in order")
    func roundTripStream() throws {
        #expect(try parseAll(RESPBuilder.wire(Self.values)) == Self.values)
    }

    @Test("NaN survives encoding and parsing as a NaN")
    func roundTripNaN() throws {
        guard case .double(let d) = try parseOne(RESPEncoder.encode(.double(.nan))) else {
            Issue.record("NaN did not parse back to a double")
            return
        }
        #expect(d.isNaN)
    }
}
