import RESP

/// Literal wire frames of every type, with the value each must parse to.
///
/// Written by hand rather than with ``RESPEncoder`` so that parser tests do not depend on the encoder.
/// NaN is left out because `.double(.nan)` never equals itself; it has its own tests.
enum RESPCorpus {
    /// One frame and its value.
    struct Sample {
        var wire: [UInt8]
        var value: RESPValue

        init(_ wire: String, _ value: RESPValue) {
            self.wire = bytes(wire)
            self.value = value
        }

        init(_ wire: [UInt8], _ value: RESPValue) {
            self.wire = wire
            self.value = value
        }
    }

    static let samples: [Sample] = [
        Sample("+OK\r\n", .simpleString(bytes("OK"))),
        Sample("-ERR unknown command 'FOO'\r\n", .error(bytes("ERR unknown command 'FOO'"))),
        Sample(":-9223372036854775808\r\n", .integer(.min)),
        Sample(":9223372036854775807\r\n", .integer(.max)),
        Sample(":0\r\n", .integer(0)),
        Sample("$0\r\n\r\n", .bulkString([])),
        Sample("$4\r\n\r\n\r\n\r\n", .bulkString([13, 10, 13, 10])),
        Sample(bytes("$5\r\n") + [0, 13, 255, 10, 7] + bytes("\r\n"), .bulkString([0, 13, 255, 10, 7])),
        Sample("$-1\r\n", .null),
        Sample("*-1\r\n", .null),
        Sample("_\r\n", .null),
        Sample("*3\r\n:1\r\n*2\r\n+a\r\n$1\r\nb\r\n*0\r\n",
               .array([.integer(1), .array([.simpleString(bytes("a")), .bulkString(bytes("b"))]), .array([])])),
        Sample("*0\r\n", .array([])),
        Sample("%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n#f\r\n",
               .map([RESPPair(.simpleString(bytes("first")), .integer(1)), RESPPair(.bulkString(bytes("second")), .boolean(false))])),
        Sample("%0\r\n", .map([])),
        Sample("~2\r\n:1\r\n+x\r\n", .set([.integer(1), .simpleString(bytes("x"))])),
        Sample(",1.5\r\n", .double(1.5)),
        Sample(",-inf\r\n", .double(-.infinity)),
        Sample(",1e10\r\n", .double(1e10)),
        Sample("#t\r\n", .boolean(true)),
        Sample("(3492890328409238509324850943850943825024385\r\n", .bigNumber(bytes("3492890328409238509324850943850943825024385"))),
        Sample("=15\r\ntxt:Some string\r\n", .verbatimString(format: bytes("txt"), text: bytes("Some string"))),
        Sample("!21\r\nSYNTAX invalid syntax\r\n", .blobError(bytes("SYNTAX invalid syntax"))),
        Sample("|1\r\n+key\r\n:1\r\n:42\r\n", .attribute([RESPPair(.simpleString(bytes("key")), .integer(1))], .integer(42))),
        Sample("*2\r\n|1\r\n+ttl\r\n:3\r\n*1\r\n:5\r\n:7\r\n",
               .array([.attribute([RESPPair(.simpleString(bytes("ttl")), .integer(3))], .array([.integer(5)])), .integer(7)])),
        // Pub/sub: a RESP3 message, a RESP2 message, a RESP3 pmessage and a subscribe confirmation.
        Sample(">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n",
               .push([.bulkString(bytes("message")), .bulkString(bytes("news")), .bulkString(bytes("hello"))])),
        Sample("*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$3\r\nbye\r\n",
               .array([.bulkString(bytes("message")), .bulkString(bytes("news")), .bulkString(bytes("bye"))])),
        Sample(">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$4\r\nhi\r\n\r\n",
               .push([.bulkString(bytes("pmessage")), .bulkString(bytes("n*")), .bulkString(bytes("news")), .bulkString(bytes("hi\r\n"))])),
        Sample(">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n",
               .push([.bulkString(bytes("subscribe")), .bulkString(bytes("news")), .integer(1)])),
        Sample(">0\r\n", .push([])),
    ]

    /// Every sample's wire bytes, back to back.
    static var wire: [UInt8] { samples.flatMap(\.wire) }

    /// Every sample's value, in order.
    static var values: [RESPValue] { samples.map(\.value) }
}
