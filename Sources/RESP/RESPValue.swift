/// One value of the Redis serialization protocol, RESP2 or RESP3.
///
/// String-like cases carry their bytes as `[UInt8]`: Redis strings are binary safe, so decoding to `String`
/// is the caller's choice (see ``string``). The parser copies each payload exactly once, from its read
/// buffer into the value.
public enum RESPValue: Sendable, Hashable {
    /// `+OK`: a short, binary-unsafe status line.
    case simpleString([UInt8])
    /// `-ERR message`: an error reply on one line.
    case error([UInt8])
    /// `:42`: a signed 64-bit integer.
    case integer(Int64)
    /// `$5\r\nhello`: a binary-safe string.
    case bulkString([UInt8])
    /// `$-1`, `*-1` (RESP2) or `_` (RESP3): no value.
    case null
    /// `*N`: an ordered list.
    case array([RESPValue])
    /// `%N`: key/value pairs in the order the server sent them.
    case map([RESPPair])
    /// `~N`: an unordered collection (kept in wire order).
    case set([RESPValue])
    /// `>N`: out-of-band data such as pub/sub messages (RESP3).
    case push([RESPValue])
    /// `,3.14`: a double, including `inf`, `-inf` and `nan`.
    case double(Double)
    /// `#t` / `#f`.
    case boolean(Bool)
    /// `(12345678901234567890`: an integer of any size, kept as its decimal digits.
    case bigNumber([UInt8])
    /// `=15\r\ntxt:Some string`: a string with a three-letter format such as `txt` or `mkd`.
    case verbatimString(format: [UInt8], text: [UInt8])
    /// `!21\r\nSYNTAX invalid syntax`: a binary-safe error.
    case blobError([UInt8])
    /// `|N`: attributes (metadata) that the server attached to the value that follows them.
    indirect case attribute([RESPPair], RESPValue)
}

/// A key/value pair of a RESP3 map or attribute.
public struct RESPPair: Sendable, Hashable {
    /// The key.
    public var key: RESPValue
    /// The value.
    public var value: RESPValue

    /// Creates a pair.
    public init(_ key: RESPValue, _ value: RESPValue) {
        self.key = key
        self.value = value
    }
}

extension RESPValue {
    /// The value's bytes decoded as UTF-8 when it is one of the string kinds (invalid bytes are replaced).
    public var string: String? {
        switch self {
        case .simpleString(let b), .bulkString(let b), .error(let b), .blobError(let b), .bigNumber(let b):
            return String(decoding: b, as: UTF8.self)
        case .verbatimString(_, let text):
            return String(decoding: text, as: UTF8.self)
        case .attribute(_, let v):
            return v.string
        default:
            return nil
        }
    }

    /// The raw bytes of a string kind, without decoding.
    public var bytes: [UInt8]? {
        switch self {
        case .simpleString(let b), .bulkString(let b), .error(let b), .blobError(let b), .bigNumber(let b):
            return b
        case .verbatimString(_, let text):
            return text
        case .attribute(_, let v):
            return v.bytes
        default:
            return nil
        }
    }

    /// The integer value of `.integer` (or of a string holding a decimal integer).
    public var int: Int64? {
        switch self {
        case .integer(let i): return i
        case .bulkString(let b), .simpleString(let b): return Int64(String(decoding: b, as: UTF8.self))
        case .attribute(_, let v): return v.int
        default: return nil
        }
    }

    /// The elements of an array, set or push (nil for other kinds).
    public var elements: [RESPValue]? {
        switch self {
        case .array(let a), .set(let a), .push(let a): return a
        case .attribute(_, let v): return v.elements
        default: return nil
        }
    }

    /// True for `-ERR` and `!` blob errors.
    public var isError: Bool {
        switch self {
        case .error, .blobError: return true
        case .attribute(_, let v): return v.isError
        default: return false
        }
    }

    /// The value with any attribute wrapper removed.
    public var withoutAttributes: RESPValue {
        if case .attribute(_, let v) = self { return v.withoutAttributes }
        return self
    }
}

extension RESPValue: CustomStringConvertible {
    /// A short human-readable rendering, for logs and test failures.
    public var description: String {
        switch self {
        case .simpleString(let b): return "+" + String(decoding: b, as: UTF8.self)
        case .error(let b): return "-" + String(decoding: b, as: UTF8.self)
        case .integer(let i): return ":\(i)"
        case .bulkString(let b): return "\"" + String(decoding: b.prefix(200), as: UTF8.self) + (b.count > 200 ? "…\"" : "\"")
        case .null: return "null"
        case .array(let a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .map(let m): return "{" + m.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        case .set(let a): return "~[" + a.map(\.description).joined(separator: ", ") + "]"
        case .push(let a): return ">[" + a.map(\.description).joined(separator: ", ") + "]"
        case .double(let d): return ",\(d)"
        case .boolean(let b): return b ? "#t" : "#f"
        case .bigNumber(let b): return "(" + String(decoding: b, as: UTF8.self)
        case .verbatimString(let f, let t): return "=" + String(decoding: f, as: UTF8.self) + ":" + String(decoding: t, as: UTF8.self)
        case .blobError(let b): return "!" + String(decoding: b, as: UTF8.self)
        case .attribute(let a, let v): return "|{" + a.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "} " + v.description
        }
    }
}

// MARK: - Equality

extension RESPValue {
    /// Values are equal when they are the same case with equal payloads. Doubles compare numerically except
    /// that NaN equals NaN: equality must be reflexive for `Hashable` (found by fuzzing: a `,nan` reply was
    /// not equal to itself).
    public static func == (a: RESPValue, b: RESPValue) -> Bool {
        switch (a, b) {
        case (.simpleString(let x), .simpleString(let y)): return x == y
        case (.error(let x), .error(let y)): return x == y
        case (.integer(let x), .integer(let y)): return x == y
        case (.bulkString(let x), .bulkString(let y)): return x == y
        case (.null, .null): return true
        case (.array(let x), .array(let y)): return x == y
        case (.map(let x), .map(let y)): return x == y
        case (.set(let x), .set(let y)): return x == y
        case (.push(let x), .push(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y || (x.isNaN && y.isNaN)
        case (.boolean(let x), .boolean(let y)): return x == y
        case (.bigNumber(let x), .bigNumber(let y)): return x == y
        case (.verbatimString(let f1, let t1), .verbatimString(let f2, let t2)): return f1 == f2 && t1 == t2
        case (.blobError(let x), .blobError(let y)): return x == y
        case (.attribute(let a1, let v1), .attribute(let a2, let v2)): return a1 == a2 && v1 == v2
        default: return false
        }
    }

    /// Hashes consistently with ``==`` (every NaN alike, 0 and -0 alike).
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .simpleString(let x): hasher.combine(0); hasher.combine(x)
        case .error(let x): hasher.combine(1); hasher.combine(x)
        case .integer(let x): hasher.combine(2); hasher.combine(x)
        case .bulkString(let x): hasher.combine(3); hasher.combine(x)
        case .null: hasher.combine(4)
        case .array(let x): hasher.combine(5); hasher.combine(x)
        case .map(let x): hasher.combine(6); hasher.combine(x)
        case .set(let x): hasher.combine(7); hasher.combine(x)
        case .push(let x): hasher.combine(8); hasher.combine(x)
        case .double(let x): hasher.combine(9); hasher.combine(x.isNaN ? Double.nan.bitPattern : (x == 0 ? 0 : x.bitPattern))
        case .boolean(let x): hasher.combine(10); hasher.combine(x)
        case .bigNumber(let x): hasher.combine(11); hasher.combine(x)
        case .verbatimString(let f, let t): hasher.combine(12); hasher.combine(f); hasher.combine(t)
        case .blobError(let x): hasher.combine(13); hasher.combine(x)
        case .attribute(let a, let v): hasher.combine(14); hasher.combine(a); hasher.combine(v)
        }
    }
}
