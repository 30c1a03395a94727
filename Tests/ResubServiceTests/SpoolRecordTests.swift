import ResubService
import Testing

/// The spool's record format: a batch's webhook-id is stored with it; records of the earlier format still read.
@Suite("Spool records")
struct SpoolRecordTests {
    @Test("a record keeps lane, count, webhook-id and body; records follow each other")
    func roundTrip() throws {
        let body = Array("[{\"type\":\"message\",\"channel\":\"c\",\"payload\":\"p\"}]".utf8)
        let first = Spool.encode(lane: 3, count: 1, id: "msg_01HF7YAT00ABCDEFGHJKMNPQRS", body: body)
        let second = Spool.encode(lane: 0, count: 2, id: "msg_x", body: Array("[1,2]".utf8))
        let bytes = first + second
        let (a, next) = try #require(Spool.decode(bytes, at: 0))
        #expect(a == Spool.Record(lane: 3, count: 1, id: "msg_01HF7YAT00ABCDEFGHJKMNPQRS", body: body))
        #expect(next == first.count)
        let (b, end) = try #require(Spool.decode(bytes, at: next))
        #expect(b == Spool.Record(lane: 0, count: 2, id: "msg_x", body: Array("[1,2]".utf8)))
        #expect(end == bytes.count)
    }

    @Test("a flipped byte anywhere in a record, or a cut-off record, is not a record")
    func corrupt() {
        let record = Spool.encode(lane: 1, count: 1, id: "msg_abc", body: Array("[0]".utf8))
        for i in record.indices {
            var broken = record
            broken[i] ^= 0x20
            #expect(Spool.decode(broken, at: 0) == nil, "byte \(i)")
        }
        #expect(Spool.decode(Array(record.dropLast()), at: 0) == nil)
    }

    @Test("a record of the earlier RSP1 format (no id) reads with a nil id")
    func legacy() throws {
        // "RSP1" + length + CRC-32 + lane (u16) + count (u32) + body, as written before ids were stored.
        let payload: [UInt8] = [2, 0, 5, 0, 0, 0] + Array("[9]".utf8)
        let crc = CRC32.checksum(payload)
        let le: (UInt32) -> [UInt8] = { [UInt8($0 & 0xFF), UInt8(($0 >> 8) & 0xFF), UInt8(($0 >> 16) & 0xFF), UInt8($0 >> 24)] }
        let bytes = Array("RSP1".utf8) + le(UInt32(payload.count)) + le(crc) + payload
        let (record, next) = try #require(Spool.decode(bytes, at: 0))
        #expect(record == Spool.Record(lane: 2, count: 5, id: nil, body: Array("[9]".utf8)))
        #expect(next == bytes.count)
    }
}
