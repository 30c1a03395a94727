/// An incremental RESP2/RESP3 parser. It does no I/O: feed it bytes as they arrive, in chunks of any size,
/// and pull complete values with ``next()``.
///
/// - `next()` returns `nil` when it needs more bytes; it keeps partial aggregates on an explicit stack, so a
///   large reply arriving in many chunks is parsed once, not re-parsed from its start on every chunk.
/// - A malformed frame or a broken limit throws a ``RESPParseError``; from then on every call throws the same
///   error (the stream is desynchronised and the connection must be rebuilt).
/// - ``drainPubSubFrames(allowArrays:message:confirmation:)`` (RESPParser+PubSub.swift) is the receive hot
///   path: it recognises complete pub/sub frames in place and hands out their bytes without building values.
///
/// Not thread-safe: one parser belongs to one connection on one thread.
public struct RESPParser: Sendable {
    /// The limits in force.
    public let configuration: RESPParserConfiguration

    private var buffer: [UInt8] = []
    private var readIndex = 0
    /// Bytes discarded from the front of `buffer` so far, to report absolute offsets in errors.
    private var discarded = 0
    private var stack: [Aggregate] = []
    /// Elements announced by the aggregates of the value being parsed (reset when it completes).
    private var frameElements = 0
    private var failure: RESPParseError?

    private enum AggregateKind { case array, set, push, map, attribute }

    private struct Aggregate {
        var kind: AggregateKind
        /// Elements still to read (maps and attributes count keys and values; an attribute adds one for the
        /// value it annotates).
        var remaining: Int
        var elements: [RESPValue]
    }

    /// Creates a parser with the given limits.
    public init(configuration: RESPParserConfiguration = .init()) {
        self.configuration = configuration
    }

    /// Bytes fed but not yet consumed by a complete value (including a partial frame held back).
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// The error that stopped this parser, if any.
    public var error: RESPParseError? { failure }

    /// Lends the bytes not yet consumed, between values only (no partial aggregate, no failure): `body` reads
    /// them in place and advances `consumed`; what it consumed stays consumed even if it throws. Returns nil
    /// without calling `body` when a value is half-parsed. The pub/sub fast path's window on the buffer.
    mutating func withUnconsumedBytes<Result>(
        _ body: (UnsafeRawBufferPointer, inout Int) throws -> Result
    ) rethrows -> Result? {
        guard failure == nil, stack.isEmpty else { return nil }
        var consumed = 0
        defer { readIndex += consumed }
        return try buffer.withUnsafeBytes { raw in
            try body(UnsafeRawBufferPointer(rebasing: raw[readIndex...]), &consumed)
        }
    }

    // MARK: Feeding

    /// Appends bytes received from the peer.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, !bytes.isEmpty else { return }
        compact()
        buffer.append(contentsOf: bytes.bindMemory(to: UInt8.self))
    }

    /// Appends bytes received from the peer.
    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        guard failure == nil else { return }
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// Drops consumed bytes from the front, cheaply: all of them when nothing is pending, otherwise only once
    /// they are worth a move.
    private mutating func compact() {
        guard readIndex > 0 else { return }
        if readIndex == buffer.count {
            discarded += readIndex
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        } else if readIndex >= 64 << 10 || readIndex * 2 >= buffer.count {
            discarded += readIndex
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
    }

    // MARK: Values

    /// The next complete value, `nil` if more bytes are needed.
    /// - Throws: ``RESPParseError`` for malformed input; the same error on every later call.
    public mutating func next() throws(RESPParseError) -> RESPValue? {
        if let failure { throw failure }
        do {
            while true {
                guard let step = try parseStep() else { return nil }
                guard var value = step else { continue }  // an aggregate was opened
                // Close every aggregate that this value completes.
                while !stack.isEmpty {
                    stack[stack.count - 1].elements.append(value)
                    stack[stack.count - 1].remaining -= 1
                    guard stack[stack.count - 1].remaining == 0 else {
                        break
                    }
                    value = Self.build(stack.removeLast())
                    if stack.isEmpty { return value }
                }
                if stack.isEmpty { return value }
            }
        } catch {
            failure = error
            throw error
        }
    }

    private static func build(_ aggregate: Aggregate) -> RESPValue {
        switch aggregate.kind {
        case .array: return .array(aggregate.elements)
        case .set: return .set(aggregate.elements)
        case .push: return .push(aggregate.elements)
        case .map: return .map(pairs(aggregate.elements[...]))
        case .attribute:
            let value = aggregate.elements[aggregate.elements.count - 1]
            return .attribute(pairs(aggregate.elements.dropLast()), value)
        }
    }

    private static func pairs(_ flat: ArraySlice<RESPValue>) -> [RESPPair] {
        var result: [RESPPair] = []
        result.reserveCapacity(flat.count / 2)
        var i = flat.startIndex
        while i + 1 < flat.endIndex {
            result.append(RESPPair(flat[i], flat[i + 1]))
            i += 2
        }
        return result
    }

    /// Parses one item at `readIndex`.
    /// - Returns: `nil` when more bytes are needed (nothing consumed), `.some(nil)` when an aggregate was
    ///   opened, `.some(value)` for a complete scalar or empty aggregate.
    private mutating func parseStep() throws(RESPParseError) -> RESPValue?? {
        guard readIndex < buffer.count else { return nil }
        let start = readIndex
        let type = buffer[start]
        // Reject an unknown type byte at once rather than after its line, or after maxLineLength bytes of junk.
        guard Self.isTypeByte(type) else {
            throw RESPParseError(.invalidTypeByte, "unexpected type byte \(type)", offset: discarded + start)
        }
        guard let (lineStart, lineEnd) = try findLine(from: start + 1) else { return nil }
        let after = lineEnd + 2
        switch type {
        case UInt8(ascii: "+"):
            readIndex = after
            return .some(.simpleString(Array(buffer[lineStart..<lineEnd])))
        case UInt8(ascii: "-"):
            readIndex = after
            return .some(.error(Array(buffer[lineStart..<lineEnd])))
        case UInt8(ascii: ":"):
            guard let v = parseInteger(lineStart, lineEnd) else {
                throw RESPParseError(.invalidInteger, "invalid integer", offset: discarded + lineStart)
            }
            readIndex = after
            return .some(.integer(v))
        case UInt8(ascii: "_"):
            guard lineStart == lineEnd else {
                throw RESPParseError(.invalidLength, "null with a body", offset: discarded + lineStart)
            }
            readIndex = after
            return .some(.null)
        case UInt8(ascii: "#"):
            guard lineEnd - lineStart == 1 else {
                throw RESPParseError(.invalidBoolean, "invalid boolean", offset: discarded + lineStart)
            }
            let v: Bool
            switch buffer[lineStart] {
            case UInt8(ascii: "t"): v = true
            case UInt8(ascii: "f"): v = false
            default: throw RESPParseError(.invalidBoolean, "invalid boolean", offset: discarded + lineStart)
            }
            readIndex = after
            return .some(.boolean(v))
        case UInt8(ascii: ","):
            guard let v = parseDouble(lineStart, lineEnd) else {
                throw RESPParseError(.invalidDouble, "invalid double", offset: discarded + lineStart)
            }
            readIndex = after
            return .some(.double(v))
        case UInt8(ascii: "("):
            guard isBigNumber(lineStart, lineEnd) else {
                throw RESPParseError(.invalidInteger, "invalid big number", offset: discarded + lineStart)
            }
            readIndex = after
            return .some(.bigNumber(Array(buffer[lineStart..<lineEnd])))
        case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"):
            let length = try parseLength(lineStart, lineEnd, allowNull: type == UInt8(ascii: "$"))
            if length < 0 {
                readIndex = after
                return .some(.null)
            }
            guard length <= configuration.maxBulkLength else {
                throw RESPParseError(.bulkTooLong, "bulk length \(length) over the limit \(configuration.maxBulkLength)", offset: discarded + lineStart)
            }
            guard buffer.count - after >= length + 2 else { return nil }
            let end = after + length
            guard buffer[end] == 13, buffer[end + 1] == 10 else {
                throw RESPParseError(.missingCRLF, "bulk payload not followed by CRLF", offset: discarded + end)
            }
            readIndex = end + 2
            switch type {
            case UInt8(ascii: "$"):
                return .some(.bulkString(Array(buffer[after..<end])))
            case UInt8(ascii: "!"):
                return .some(.blobError(Array(buffer[after..<end])))
            default:
                guard length >= 4, buffer[after + 3] == UInt8(ascii: ":") else {
                    throw RESPParseError(.invalidVerbatimString, "verbatim string without format", offset: discarded + after)
                }
                return .some(.verbatimString(format: Array(buffer[after..<after + 3]), text: Array(buffer[after + 4..<end])))
            }
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
            let count = try parseLength(lineStart, lineEnd, allowNull: type == UInt8(ascii: "*"))
            if count < 0 {
                readIndex = after
                return .some(.null)
            }
            let kind: AggregateKind
            switch type {
            case UInt8(ascii: "*"): kind = .array
            case UInt8(ascii: "~"): kind = .set
            case UInt8(ascii: ">"): kind = .push
            case UInt8(ascii: "%"): kind = .map
            default: kind = .attribute
            }
            // Maps and attributes announce pairs: compare before doubling, which would overflow for huge counts.
            let perEntry = kind == .map || kind == .attribute ? 2 : 1
            guard count <= configuration.maxElements / perEntry else {
                throw RESPParseError(.tooManyElements, "aggregate of \(count) \(perEntry == 2 ? "pairs" : "elements") over the limit of \(configuration.maxElements) elements", offset: discarded + lineStart)
            }
            // An attribute also holds the value it annotates.
            let elementCount = count * perEntry + (kind == .attribute ? 1 : 0)
            guard stack.count < configuration.maxDepth else {
                throw RESPParseError(.tooDeep, "nesting deeper than \(configuration.maxDepth)", offset: discarded + start)
            }
            if stack.isEmpty { frameElements = 0 }
            frameElements += elementCount
            guard frameElements <= configuration.maxFrameElements else {
                throw RESPParseError(.tooManyElements, "one value announcing more than \(configuration.maxFrameElements) elements in all", offset: discarded + lineStart)
            }
            readIndex = after
            if elementCount == 0 {
                switch kind {
                case .array: return .some(.array([]))
                case .set: return .some(.set([]))
                case .push: return .some(.push([]))
                case .map: return .some(.map([]))
                case .attribute: break  // unreachable: an attribute always annotates one value
                }
            }
            var elements: [RESPValue] = []
            elements.reserveCapacity(min(elementCount, 1024))
            stack.append(Aggregate(kind: kind, remaining: elementCount, elements: elements))
            return .some(nil)
        default:
            throw RESPParseError(.invalidTypeByte, "unexpected type byte \(type)", offset: discarded + start)
        }
    }

    /// Whether `byte` starts one of the RESP2 and RESP3 types this parser reads.
    private static func isTypeByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "_"), UInt8(ascii: "#"),
             UInt8(ascii: ","), UInt8(ascii: "("), UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"),
             UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
            return true
        default:
            return false
        }
    }

    /// Finds the CRLF ending the line that starts at `from`. Returns `nil` if it has not arrived yet.
    private func findLine(from: Int) throws(RESPParseError) -> (Int, Int)? {
        let limit = configuration.maxLineLength
        let found: Int? = buffer.withUnsafeBufferPointer { buf in
            // A line of at most `limit` bytes has its CR at `from + limit` or before. Deciding on that alone
            // keeps the verdict independent of how the bytes were split into feeds.
            let last = from + limit
            var i = from
            let end = buf.count
            while i + 1 < end {
                if buf[i] == 13 {
                    if buf[i + 1] == 10 { return i }
                }
                if i >= last { return -1 }
                i += 1
            }
            // Only buf[i] is unexamined: past the limit, it can no longer be the CR that ends the line.
            return i < end && i >= last && buf[i] != 13 ? -1 : nil
        }
        guard let found else { return nil }
        if found < 0 {
            throw RESPParseError(.lineTooLong, "no CRLF within \(limit) bytes", offset: discarded + from)
        }
        return (from, found)
    }

    private func parseInteger(_ start: Int, _ end: Int) -> Int64? {
        buffer.withUnsafeBufferPointer { Self.parseInt64($0, start, end) }
    }

    /// Parses a signed decimal with overflow checks.
    static func parseInt64(_ buf: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Int64? {
        var i = start
        var negative = false
        if i < end, buf[i] == UInt8(ascii: "-") || buf[i] == UInt8(ascii: "+") {
            negative = buf[i] == UInt8(ascii: "-")
            i += 1
        }
        guard i < end else { return nil }
        var value: Int64 = 0
        while i < end {
            let d = buf[i] &- 48
            guard d < 10 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(Int64(d)) : m.addingReportingOverflow(Int64(d))
            guard !o1, !o2 else { return nil }
            value = s
            i += 1
        }
        return value
    }

    /// Parses a length or count: a non-negative decimal, or -1 when `allowNull`.
    private func parseLength(_ start: Int, _ end: Int, allowNull: Bool) throws(RESPParseError) -> Int {
        if end - start == 1, buffer[start] == UInt8(ascii: "?") {
            throw RESPParseError(.unsupported, "streamed strings and aggregates are not supported", offset: discarded + start)
        }
        guard end - start <= 19, let v = parseInteger(start, end), v >= -1, v != -1 || allowNull,
              buffer[start] != UInt8(ascii: "+")
        else {
            throw RESPParseError(.invalidLength, "invalid length", offset: discarded + start)
        }
        return Int(v)
    }

    private func parseDouble(_ start: Int, _ end: Int) -> Double? {
        guard end > start, end - start <= 512 else { return nil }
        let text = String(decoding: buffer[start..<end], as: UTF8.self)
        switch text {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan", "-nan": return .nan
        default:
            // Double(String) accepts "inf"/"nan" spellings handled above and rejects junk.
            guard text.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 45 || $0 == 43 || $0 == 101 || $0 == 69 })
            else { return nil }
            return Double(text)
        }
    }

    private func isBigNumber(_ start: Int, _ end: Int) -> Bool {
        var i = start
        if i < end, buffer[i] == UInt8(ascii: "-") || buffer[i] == UInt8(ascii: "+") { i += 1 }
        guard i < end else { return false }
        while i < end {
            guard buffer[i] &- 48 < 10 else { return false }
            i += 1
        }
        return true
    }
}
