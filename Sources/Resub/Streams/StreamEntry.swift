import RESP

/// One entry of a Redis stream.
public struct StreamEntry: Sendable, Hashable {
    /// The stream's key.
    public var stream: String
    /// The entry ID (`1700000000000-0`).
    public var id: String
    /// The field/value pairs in order (values are binary-safe).
    public var fields: [Field]

    /// A field and its value.
    public struct Field: Sendable, Hashable {
        /// The field name.
        public var name: String
        /// The value's bytes.
        public var value: [UInt8]
        /// Creates a field.
        public init(name: String, value: [UInt8]) {
            self.name = name
            self.value = value
        }
    }

    /// Creates an entry.
    public init(stream: String, id: String, fields: [Field]) {
        self.stream = stream
        self.id = id
        self.fields = fields
    }

    /// Parses an XREAD / XREADGROUP reply: RESP3 `{stream: [[id, [f, v, …]], …]}` or RESP2
    /// `[[stream, [[id, [f, v, …]], …]], …]`; `null` (the BLOCK timed out) is no entries. Entries whose fields
    /// are null (deleted while pending) keep their ID with no fields.
    package static func parseRead(_ reply: RESPValue) throws(ResubError) -> [StreamEntry] {
        var result: [StreamEntry] = []
        var perStream: [(RESPValue, RESPValue)] = []
        switch reply.withoutAttributes {
        case .null: return []
        case .map(let pairs): perStream = pairs.map { ($0.key, $0.value) }
        case .array(let items):
            for item in items {
                guard let pair = item.elements, pair.count == 2 else { throw shape(reply) }
                perStream.append((pair[0], pair[1]))
            }
        default: throw shape(reply)
        }
        for (key, entries) in perStream {
            guard let stream = key.string, let list = entries.elements else { throw shape(reply) }
            for entry in list { result.append(try parseEntry(entry, stream: stream)) }
        }
        return result
    }

    /// Parses one `[id, [f, v, …]]` (fields may be null).
    package static func parseEntry(_ value: RESPValue, stream: String) throws(ResubError) -> StreamEntry {
        guard let parts = value.elements, parts.count == 2, let id = parts[0].string else { throw shape(value) }
        var fields: [Field] = []
        if let flat = parts[1].elements {
            var i = 0
            while i + 1 < flat.count {
                fields.append(Field(name: flat[i].string ?? "", value: flat[i + 1].bytes ?? []))
                i += 2
            }
        } else if case .map(let pairs) = parts[1] {
            fields = pairs.map { Field(name: $0.key.string ?? "", value: $0.value.bytes ?? []) }
        }
        return StreamEntry(stream: stream, id: id, fields: fields)
    }

    private static func shape(_ value: RESPValue) -> ResubError {
        ResubError(.protocolError, "unexpected stream reply: \(String(value.description.prefix(200)))")
    }
}

/// Compares stream IDs (`ms-seq`) numerically.
package enum StreamID {
    /// The (ms, seq) of an ID, nil when it is not one.
    package static func parts(_ id: String) -> (UInt64, UInt64)? {
        let pieces = id.split(separator: "-", omittingEmptySubsequences: false)
        guard let ms = UInt64(pieces[0]) else { return nil }
        guard pieces.count == 2 else { return pieces.count == 1 ? (ms, 0) : nil }
        guard let seq = UInt64(pieces[1]) else { return nil }
        return (ms, seq)
    }

    /// Whether `a` is after `b`.
    package static func isAfter(_ a: String, _ b: String) -> Bool {
        guard let x = parts(a), let y = parts(b) else { return false }
        return x > y
    }
}
