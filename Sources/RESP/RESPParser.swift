/// An incremental RESP2/RESP3 parser. It does no I/O: feed it bytes as they arrive, in chunks of any size,
/// and pull complete values with ``next()``.
///
/// - `next()` returns `nil` when it needs more bytes; it keeps partial aggregates on an explicit stack, so a
///   large reply arriving in many chunks is parsed once, not re-parsed from its start on every chunk.
/// - A malformed frame or a broken limit throws a ``RESPParseError``; from then on every call throws the same
///   error (the stream is desynchronised and the connection must be rebuilt).
/// - ``drainPubSubMessages(allowArrays:_:)`` is the receive hot path: it recognises complete `message`,
///   `pmessage` and `smessage` frames in place and hands out their bytes without building values.
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

// MARK: - Pub/sub fast path

/// The parts of one pub/sub message frame, pointing into the parser's buffer.
///
/// Valid only inside the closure it is passed to: copy what you keep.
public struct RESPMessageView {
    /// Which kind of message frame this is.
    public enum Kind: UInt8, Sendable {
        /// `message`: a SUBSCRIBE channel's message.
        case message = 0
        /// `pmessage`: a PSUBSCRIBE pattern's message.
        case pmessage = 1
        /// `smessage`: an SSUBSCRIBE shard channel's message.
        case smessage = 2
    }
    /// The frame's kind.
    public let kind: Kind
    /// The pattern that matched (`pmessage` only; empty otherwise).
    public let pattern: UnsafeRawBufferPointer
    /// The channel the message was published to.
    public let channel: UnsafeRawBufferPointer
    /// The message payload.
    public let payload: UnsafeRawBufferPointer

    /// Creates a view over bytes the caller keeps alive for the view's lifetime.
    public init(kind: Kind, pattern: UnsafeRawBufferPointer, channel: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
        self.kind = kind
        self.pattern = pattern
        self.channel = channel
        self.payload = payload
    }
}

extension RESPParser {
    /// Consumes every complete pub/sub message frame at the front of the buffer, calling `body` for each
    /// without building ``RESPValue``s, and stops at the first frame of another shape or an incomplete one
    /// (which ``next()`` then handles). Only valid between values (``next()`` has no partial aggregate).
    ///
    /// - Parameter allowArrays: also accept RESP2 arrays (`*3`, `*4`); pass `true` only when the connection
    ///   is in RESP2 subscribed mode, where no ordinary reply can look like a message. RESP3 push frames
    ///   (`>3`, `>4`) are always accepted.
    /// - Returns: how many messages were consumed.
    /// - Throws: what `body` throws. The messages before the one it threw for stay consumed; that one and the
    ///   rest stay buffered.
    public mutating func drainPubSubMessages(
        allowArrays: Bool,
        _ body: (RESPMessageView) throws -> Void
    ) rethrows -> Int {
        try drainPubSubFrames(allowArrays: allowArrays, message: body, confirmation: nil)
    }

    /// Like ``drainPubSubMessages(allowArrays:_:)``, and also consumes (un)subscribe confirmation frames
    /// (`subscribe`, `psubscribe`, `ssubscribe`, `unsubscribe`, `punsubscribe`, `sunsubscribe` with a
    /// channel name and a count), calling `confirmation` for each: replaying 100,000 channels yields
    /// 100,000 of them, and building values for each would dominate the replay.
    /// - Returns: how many frames (messages and confirmations) were consumed.
    public mutating func drainPubSubFrames(
        allowArrays: Bool,
        message body: (RESPMessageView) throws -> Void,
        confirmation: ((RESPConfirmationView) throws -> Void)?
    ) rethrows -> Int {
        guard failure == nil, stack.isEmpty else { return 0 }
        let maxBulk = configuration.maxBulkLength
        var index = readIndex
        // Also when `body` throws: the messages it already accepted must not be delivered twice.
        defer { readIndex = index }
        let count = try buffer.withUnsafeBytes { raw -> Int in
            let base = raw.baseAddress!
            let end = raw.count
            var consumed = 0
            while true {
                // Smallest frame: ">3\r\n$7\r\nmessage\r\n$0\r\n\r\n$0\r\n\r\n" = 29 bytes.
                guard end - index >= 29 else { break }
                let t = raw[index]
                guard t == 62 || (allowArrays && t == 42), raw[index + 2] == 13, raw[index + 3] == 10 else { break }
                let n = raw[index + 1]
                guard n == 51 || n == 52 else { break }  // '3' or '4'
                var p = index + 4
                if let confirmation, n == 51, raw[p] == 36, raw[p + 1] == 57 || raw[p + 1] == 49 {
                    // "$9\r\nsubscribe\r\n", "$10\r\n[ps]subscribe\r\n", "$11\r\nunsubscribe\r\n",
                    // "$12\r\n[ps]unsubscribe\r\n", then "$<len>\r\n<name>\r\n:<count>\r\n".
                    guard let end1 = Self.confirmationFrame(raw, at: p, end: end, maxBulk: maxBulk) else { break }
                    try confirmation(end1.view)
                    index = end1.next
                    consumed += 1
                    continue
                }
                // Kind: "$7\r\nmessage\r\n" or "$8\r\npmessage\r\n" / "$8\r\nsmessage\r\n".
                guard raw[p] == 36, raw[p + 2] == 13, raw[p + 3] == 10 else { break }
                let kind: RESPMessageView.Kind
                if raw[p + 1] == 55 {  // '7'
                    guard n == 51, memcmp(base + p + 4, "message\r\n", 9) == 0 else { break }
                    kind = .message
                    p += 13
                } else if raw[p + 1] == 56 {  // '8'
                    guard end - p >= 14, memcmp(base + p + 5, "message\r\n", 9) == 0 else { break }
                    let first = raw[p + 4]
                    if first == 112, n == 52 {  // 'p', 4 elements
                        kind = .pmessage
                    } else if first == 115, n == 51 {  // 's', 3 elements
                        kind = .smessage
                    } else {
                        break
                    }
                    p += 14
                } else {
                    break
                }
                var parts: (Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0)
                var ok = true
                for element in 0..<(kind == .pmessage ? 3 : 2) {
                    guard let (s, len, next) = Self.completeBulk(raw, at: p, end: end, maxBulk: maxBulk) else { ok = false; break }
                    switch element {
                    case 0: parts.0 = s; parts.1 = len
                    case 1: parts.2 = s; parts.3 = len
                    default: parts.4 = s; parts.5 = len
                    }
                    p = next
                }
                guard ok else { break }
                let view: RESPMessageView
                if kind == .pmessage {
                    view = RESPMessageView(
                        kind: kind,
                        pattern: UnsafeRawBufferPointer(start: base + parts.0, count: parts.1),
                        channel: UnsafeRawBufferPointer(start: base + parts.2, count: parts.3),
                        payload: UnsafeRawBufferPointer(start: base + parts.4, count: parts.5))
                } else {
                    view = RESPMessageView(
                        kind: kind,
                        pattern: UnsafeRawBufferPointer(start: base, count: 0),
                        channel: UnsafeRawBufferPointer(start: base + parts.0, count: parts.1),
                        payload: UnsafeRawBufferPointer(start: base + parts.2, count: parts.3))
                }
                try body(view)
                index = p
                consumed += 1
            }
            return consumed
        }
        return count
    }
}

extension RESPParser {
    /// A complete bulk string `$<len>\r\n<bytes>\r\n` at `p`: its bytes' start and length and where the next
    /// element starts; nil when it is anything else (null included), over `maxBulk`, or not all there yet.
    @inline(__always)
    static func completeBulk(_ raw: UnsafeRawBufferPointer, at start: Int, end: Int, maxBulk: Int) -> (start: Int, length: Int, next: Int)? {
        var p = start
        guard p < end, raw[p] == 36 else { return nil }
        p += 1
        var length = 0
        var digits = 0
        while p < end, raw[p] &- 48 < 10, digits < 11 {
            length = length &* 10 &+ Int(raw[p] &- 48)
            p += 1
            digits += 1
        }
        guard digits > 0, length <= maxBulk, end - p >= length + 4, raw[p] == 13, raw[p + 1] == 10,
              raw[p + 2 + length] == 13, raw[p + 3 + length] == 10
        else { return nil }
        return (p + 2, length, p + 4 + length)
    }

    /// Recognises the elements of a confirmation frame starting at `p` (after the `>3\r\n` header).
    /// Returns nil for anything else or an incomplete frame (left to ``next()``).
    private static func confirmationFrame(
        _ raw: UnsafeRawBufferPointer, at start: Int, end: Int, maxBulk: Int
    ) -> (view: RESPConfirmationView, next: Int)? {
        var p = start + 1
        let verbLength: Int
        if raw[p] == 57, p + 1 < end, raw[p + 1] == 13 {  // "9"
            verbLength = 9
            p += 1
        } else if p + 2 < end, raw[p] == 49, raw[p + 1] >= 48, raw[p + 1] <= 50, raw[p + 2] == 13 {  // "10"..."12"
            verbLength = 10 + Int(raw[p + 1] - 48)
            p += 2
        } else {
            return nil
        }
        guard end - p >= verbLength + 4, raw[p + 1] == 10 else { return nil }
        let verb = p + 2
        guard raw[verb + verbLength] == 13, raw[verb + verbLength + 1] == 10,
              memcmp(raw.baseAddress! + verb + verbLength - 9, "subscribe", 9) == 0
        else { return nil }
        switch verbLength {
        case 9: break
        case 10: guard raw[verb] == 112 || raw[verb] == 115 else { return nil }  // p, s
        case 11: guard raw[verb] == 117, raw[verb + 1] == 110 else { return nil }  // un
        default: guard raw[verb] == 112 || raw[verb] == 115, raw[verb + 1] == 117, raw[verb + 2] == 110 else { return nil }
        }
        p = verb + verbLength + 2
        // The name: "$<len>\r\n<bytes>\r\n" (a null name, after a bare UNSUBSCRIBE, is left to next()).
        guard let (name, len, afterName) = completeBulk(raw, at: p, end: end, maxBulk: maxBulk) else { return nil }
        p = afterName
        var digits = 0
        // The count: ":<digits>\r\n".
        guard p < end, raw[p] == 58 else { return nil }
        p += 1
        var count: Int64 = 0
        while p < end, raw[p] &- 48 < 10, digits < 18 {
            count = count &* 10 &+ Int64(raw[p] &- 48)
            p += 1
            digits += 1
        }
        guard digits > 0, end - p >= 2, raw[p] == 13, raw[p + 1] == 10 else { return nil }
        let base = raw.baseAddress!
        return (RESPConfirmationView(
            verb: UnsafeRawBufferPointer(start: base + verb, count: verbLength),
            name: UnsafeRawBufferPointer(start: base + name, count: len),
            count: count), p + 2)
    }
}

/// The parts of one (un)subscribe confirmation frame, pointing into the parser's buffer. Valid only inside
/// the closure it is passed to.
public struct RESPConfirmationView {
    /// `subscribe`, `psubscribe`, `ssubscribe`, `unsubscribe`, `punsubscribe` or `sunsubscribe`.
    public let verb: UnsafeRawBufferPointer
    /// The channel or pattern.
    public let name: UnsafeRawBufferPointer
    /// The connection's subscription count after this change.
    public let count: Int64

    /// Creates a view over bytes the caller keeps alive for the view's lifetime.
    public init(verb: UnsafeRawBufferPointer, name: UnsafeRawBufferPointer, count: Int64) {
        self.verb = verb
        self.name = name
        self.count = count
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
