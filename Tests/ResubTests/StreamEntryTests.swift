import RESP
import Resub
import Testing

// Parsing of XREAD / XREADGROUP replies (RESP3 maps and RESP2 arrays, as redis-server 7 sends them) and
// the numeric comparison of stream IDs used to resume after the last delivered or written entry.

private func bulk(_ text: String) -> RESPValue { .bulkString(Array(text.utf8)) }

/// `[id, [f1, v1, f2, v2, …]]`.
private func entry(_ id: String, _ fields: [(String, String)]) -> RESPValue {
    .array([bulk(id), .array(fields.flatMap { [bulk($0.0), bulk($0.1)] })])
}

private func field(_ name: String, _ value: String) -> StreamEntry.Field {
    StreamEntry.Field(name: name, value: Array(value.utf8))
}

/// Parses wire bytes the way the connection does.
private func parsed(_ wire: String) throws -> RESPValue {
    var parser = RESPParser()
    parser.feed(Array(wire.utf8))
    return try #require(try parser.next(), "incomplete wire value")
}

/// The error `parseRead` throws for `reply`, nil when it does not throw.
private func parseError(_ reply: RESPValue) -> ResubError? {
    do {
        _ = try StreamEntry.parseRead(reply)
        return nil
    } catch {
        return error
    }
}

@Suite("Stream entry parsing")
struct StreamEntryTests {
    @Test("a RESP3 map reply of two streams gives every entry with its stream, ID and fields in order")
    func resp3Map() throws {
        let reply = RESPValue.map([
            RESPPair(bulk("orders"), .array([
                entry("1700000000000-0", [("sku", "A-1"), ("qty", "2")]),
                entry("1700000000000-1", [("sku", "B-7"), ("qty", "1"), ("note", "")]),
            ])),
            RESPPair(bulk("audit"), .array([entry("5-3", [("who", "alice")])])),
        ])
        let entries = try StreamEntry.parseRead(reply)
        #expect(entries == [
            StreamEntry(stream: "orders", id: "1700000000000-0", fields: [field("sku", "A-1"), field("qty", "2")]),
            StreamEntry(stream: "orders", id: "1700000000000-1", fields: [field("sku", "B-7"), field("qty", "1"), field("note", "")]),
            StreamEntry(stream: "audit", id: "5-3", fields: [field("who", "alice")]),
        ])
    }

    @Test("a RESP2 array reply of two streams gives the same entries as the RESP3 map")
    func resp2Array() throws {
        let reply = RESPValue.array([
            .array([bulk("orders"), .array([entry("1-0", [("a", "1")]), entry("2-0", [("b", "2")])])]),
            .array([bulk("audit"), .array([entry("3-0", [("c", "3")])])]),
        ])
        let map = RESPValue.map([
            RESPPair(bulk("orders"), .array([entry("1-0", [("a", "1")]), entry("2-0", [("b", "2")])])),
            RESPPair(bulk("audit"), .array([entry("3-0", [("c", "3")])])),
        ])
        let entries = try StreamEntry.parseRead(reply)
        #expect(entries.map(\.stream) == ["orders", "orders", "audit"])
        #expect(entries.map(\.id) == ["1-0", "2-0", "3-0"])
        #expect(entries.map(\.fields) == [[field("a", "1")], [field("b", "2")], [field("c", "3")]])
        #expect(try StreamEntry.parseRead(map) == entries)
    }

    @Test("replies parsed from the exact bytes redis-server sends in RESP3 and RESP2 give the same entry")
    func fromWire() throws {
        let resp3 = try parsed("%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n7-1\r\n*4\r\n$1\r\nk\r\n$1\r\nv\r\n$3\r\nbin\r\n$3\r\n\u{0}\r\n\r\n")
        let resp2 = try parsed("*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n7-1\r\n*4\r\n$1\r\nk\r\n$1\r\nv\r\n$3\r\nbin\r\n$3\r\n\u{0}\r\n\r\n")
        let expected = [StreamEntry(stream: "s", id: "7-1", fields: [
            field("k", "v"), StreamEntry.Field(name: "bin", value: [0, 13, 10]),
        ])]
        #expect(try StreamEntry.parseRead(resp3) == expected)
        #expect(try StreamEntry.parseRead(resp2) == expected)
    }

    @Test("field values are kept byte for byte, including bytes that are not UTF-8")
    func binaryValues() throws {
        let raw: [UInt8] = [0xFF, 0x00, 0xC3, 0x28, 0x0A]
        let reply = RESPValue.map([RESPPair(bulk("s"), .array([.array([bulk("1-1"), .array([bulk("blob"), .bulkString(raw)])])]))])
        let entries = try StreamEntry.parseRead(reply)
        #expect(entries.first?.fields == [StreamEntry.Field(name: "blob", value: raw)])
    }

    @Test("a null reply (the BLOCK timed out), also behind an attribute, is no entries")
    func nullReply() throws {
        #expect(try StreamEntry.parseRead(.null).isEmpty)
        #expect(try StreamEntry.parseRead(.attribute([RESPPair(bulk("ttl"), .integer(1))], .null)).isEmpty)
    }

    @Test("a stream with an empty entry list (XREADGROUP with no pending entries) is no entries")
    func emptyLists() throws {
        #expect(try StreamEntry.parseRead(.map([RESPPair(bulk("s"), .array([]))])).isEmpty)
        #expect(try StreamEntry.parseRead(.array([.array([bulk("s"), .array([])])])).isEmpty)
        #expect(try StreamEntry.parseRead(.array([])).isEmpty)
        #expect(try StreamEntry.parseRead(.map([])).isEmpty)
    }

    @Test("a pending entry deleted from the stream (null fields) keeps its ID with no fields, between normal entries")
    func nullFields() throws {
        let reply = RESPValue.array([
            .array([bulk("s"), .array([
                entry("1-0", [("a", "1")]),
                .array([bulk("2-0"), .null]),
                entry("3-0", [("c", "3")]),
            ])]),
        ])
        let entries = try StreamEntry.parseRead(reply)
        #expect(entries.map(\.id) == ["1-0", "2-0", "3-0"])
        #expect(entries[1] == StreamEntry(stream: "s", id: "2-0", fields: []))
        #expect(entries[0].fields == [field("a", "1")])
        #expect(entries[2].fields == [field("c", "3")])
    }

    @Test("malformed replies throw a protocol error instead of returning partial entries", arguments: [
        RESPValue.integer(1),
        .error(Array("ERR wrong".utf8)),
        bulk("s"),
        .array([.array([bulk("s")])]),                                           // pair with one element
        .array([.array([bulk("s"), .array([]), bulk("extra")])]),                // pair with three elements
        .array([bulk("s")]),                                                     // not a pair at all
        .array([.array([.integer(7), .array([])])]),                             // key is not a string
        .map([RESPPair(bulk("s"), bulk("not a list"))]),                         // entries are not a list
        .map([RESPPair(bulk("s"), .array([.array([bulk("1-0")])]))]),            // entry without fields slot
        .map([RESPPair(bulk("s"), .array([.array([.integer(1), .array([])])]))]), // ID is not a string
        .map([RESPPair(bulk("s"), .array([bulk("1-0")]))]),                      // entry is not a pair
        .map([RESPPair(bulk("s"), .array([entry("1-0", [("a", "1")]), .integer(3)]))]), // one bad entry after a good one
    ])
    func malformed(reply: RESPValue) {
        let error = parseError(reply)
        #expect(error?.code == .protocolError, "\(reply) parsed as \(String(describing: try? StreamEntry.parseRead(reply)))")
    }

    @Test("parseEntry reads one [id, fields] and rejects anything else")
    func parseEntry() throws {
        #expect(try StreamEntry.parseEntry(entry("9-9", [("x", "y")]), stream: "k") == StreamEntry(stream: "k", id: "9-9", fields: [field("x", "y")]))
        #expect(try StreamEntry.parseEntry(.array([bulk("9-8"), .null]), stream: "k") == StreamEntry(stream: "k", id: "9-8", fields: []))
        #expect(throws: ResubError.self) { try StreamEntry.parseEntry(.null, stream: "k") }
        #expect(throws: ResubError.self) { try StreamEntry.parseEntry(.array([bulk("1-0"), .array([]), .array([])]), stream: "k") }
    }

    // MARK: StreamID

    @Test("isAfter compares milliseconds, then sequence, as numbers and not as text")
    func isAfterNumeric() {
        #expect(StreamID.isAfter("1-1", "1-0"))
        #expect(!StreamID.isAfter("1-0", "1-1"))
        #expect(StreamID.isAfter("2-0", "1-99"))
        #expect(StreamID.isAfter("10-0", "9-0"))          // "10-0" < "9-0" as text
        #expect(StreamID.isAfter("1-10", "1-9"))          // "1-10" < "1-9" as text
        #expect(!StreamID.isAfter("9-0", "10-0"))
        #expect(StreamID.isAfter("1700000000001-0", "1700000000000-18446744073709551615"))
        #expect(StreamID.isAfter("18446744073709551615-18446744073709551615", "18446744073709551615-18446744073709551614"))
    }

    @Test("an ID is not after itself, and an ID without a sequence counts as sequence 0")
    func isAfterEqualAndShort() {
        #expect(!StreamID.isAfter("5-0", "5-0"))
        #expect(!StreamID.isAfter("5", "5-0"))
        #expect(!StreamID.isAfter("5-0", "5"))
        #expect(StreamID.isAfter("5-1", "5"))
        #expect(StreamID.isAfter("6", "5-99"))
        #expect(StreamID.isAfter("0-1", "0"))
        #expect(!StreamID.isAfter("0-0", "0"))
    }

    @Test("anything that is not an ID is never after or before anything", arguments: [
        "$", ">", "", "-", "1-", "-1", "a-1", "1-b", "1-2-3", "+", "18446744073709551616-0", "1.5-0", " 1-0",
    ])
    func isAfterInvalid(text: String) {
        #expect(!StreamID.isAfter(text, "0-0"))
        #expect(!StreamID.isAfter("99999-0", text))
        #expect(!StreamID.isAfter(text, text))
    }

    // MARK: Configuration

    @Test("the BLOCK used is the configured one capped at the ping interval, and at least 1 ms")
    func effectiveBlock() throws {
        let endpoint = try RedisEndpoint(url: "redis://127.0.0.1:6379")
        var c = StreamReaderConfiguration(endpoint: endpoint, streams: [("s", "$")], block: .seconds(10),
                                          health: HealthConfiguration(pingInterval: .milliseconds(500)))
        #expect(c.effectiveBlock == .milliseconds(500))
        c.block = .milliseconds(200)
        #expect(c.effectiveBlock == .milliseconds(200))
        c.block = .zero
        #expect(c.effectiveBlock == .milliseconds(1))
        c.block = .seconds(3)
        c.health.pingInterval = .seconds(5)
        #expect(c.effectiveBlock == .seconds(3))
    }
}
