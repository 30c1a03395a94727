/// The Redis Cluster hash slot of a key or shard channel: CRC16 (XMODEM) of the key, or of its `{hash tag}`
/// when it has a non-empty one, modulo 16384.
public struct HashSlot: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The slot number, 0…16383.
    public let rawValue: UInt16

    /// The number of slots in a cluster.
    public static let count = 16384

    /// Creates a slot from its number.
    public init?(rawValue: Int) {
        guard (0..<Self.count).contains(rawValue) else { return nil }
        self.rawValue = UInt16(rawValue)
    }

    /// The slot of a key's bytes.
    public init<Bytes: Collection>(key: Bytes) where Bytes.Element == UInt8 {
        let bytes = Array(key)
        var hashed = bytes[...]
        // Only the part between the first '{' and the next '}' is hashed, if that part is not empty.
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
           let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            hashed = bytes[(open + 1)..<close]
        }
        rawValue = Self.crc16(hashed) & 0x3FFF
    }

    /// The slot of a key.
    public init(key: String) {
        self.init(key: key.utf8)
    }

    /// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as Redis Cluster specifies.
    public static func crc16<Bytes: Sequence>(_ bytes: Bytes) -> UInt16 where Bytes.Element == UInt8 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { i in
        var crc = UInt16(i) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }

    /// Orders slots by number.
    public static func < (a: HashSlot, b: HashSlot) -> Bool { a.rawValue < b.rawValue }

    /// The slot number.
    public var description: String { String(rawValue) }
}
