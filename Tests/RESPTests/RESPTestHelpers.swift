import RESP
import Testing
import TestSupport

/// The UTF-8 bytes of `text`.
func bytes(_ text: String) -> [UInt8] {
    RESPBuilder.bytes(text)
}

/// What one call to ``RESPParser/next()`` produced.
enum ParseStep: Equatable, CustomStringConvertible {
    /// A complete value.
    case value(RESPValue)
    /// `nil`: more bytes are needed.
    case needMore
    /// A thrown error, by code.
    case failed(RESPParseError.Code)

    var description: String {
        switch self {
        case .value(let v): return "value(\(v))"
        case .needMore: return "needMore"
        case .failed(let code): return "failed(\(code.rawValue))"
        }
    }
}

/// One pub/sub message handed out by the fast path, copied out of its ``RESPMessageView``.
struct DeliveredMessage: Equatable, CustomStringConvertible {
    var kind: MessageKind
    var pattern: [UInt8]
    var channel: [UInt8]
    var payload: [UInt8]

    init(kind: MessageKind, pattern: [UInt8] = [], channel: [UInt8], payload: [UInt8]) {
        self.kind = kind
        self.pattern = pattern
        self.channel = channel
        self.payload = payload
    }

    /// Copies the view's bytes; must run inside the drain closure.
    init(_ view: RESPMessageView) {
        self.init(kind: view.kind, pattern: Array(view.pattern), channel: Array(view.channel), payload: Array(view.payload))
    }

    var description: String {
        "\(kind)(\(String(decoding: pattern, as: UTF8.self)) \(String(decoding: channel, as: UTF8.self)) \(payload.count) bytes)"
    }
}

/// Something a connection's read loop receives: a message from the fast path or a value from `next()`.
enum Delivery: Equatable {
    case message(DeliveredMessage)
    case value(RESPValue)
}

extension RESPParser {
    /// Calls `next()` once and reports the outcome.
    mutating func step() -> ParseStep {
        do throws(RESPParseError) {
            guard let value = try next() else { return .needMore }
            return .value(value)
        } catch {
            return .failed(error.code)
        }
    }

    /// Calls `next()` once and returns the error it throws, or nil when it does not throw.
    mutating func nextError() -> RESPParseError? {
        do throws(RESPParseError) {
            _ = try next()
            return nil
        } catch {
            return error
        }
    }

    /// Every value complete so far, pulled with `next()` until it returns nil.
    mutating func values() throws(RESPParseError) -> [RESPValue] {
        var result: [RESPValue] = []
        while let value = try next() { result.append(value) }
        return result
    }

    /// Every message the fast path hands out now, copied.
    mutating func drainMessages(allowArrays: Bool) -> [DeliveredMessage] {
        var result: [DeliveredMessage] = []
        let count = drainPubSubMessages(allowArrays: allowArrays) { result.append(DeliveredMessage($0)) }
        #expect(count == result.count, "drain returned a count different from the messages it delivered")
        return result
    }

    /// What a read loop does after each read: drain messages, then take one value, until neither progresses.
    mutating func deliverAll(allowArrays: Bool) throws(RESPParseError) -> [Delivery] {
        var result: [Delivery] = []
        while true {
            result += drainMessages(allowArrays: allowArrays).map(Delivery.message)
            guard let value = try next() else { return result }
            result.append(.value(value))
        }
    }
}

/// The values in `wire`, fed in one piece.
func parseAll(_ wire: [UInt8], configuration: RESPParserConfiguration = .init()) throws(RESPParseError) -> [RESPValue] {
    var parser = RESPParser(configuration: configuration)
    parser.feed(wire)
    return try parser.values()
}

/// The values in `wire`, fed in pieces that end at `cuts` (ascending offsets), pulling values after each feed.
func parseAll(_ wire: [UInt8], cuttingAt cuts: [Int]) throws(RESPParseError) -> [RESPValue] {
    var parser = RESPParser()
    var result: [RESPValue] = []
    var start = 0
    for end in cuts + [wire.count] {
        parser.feed(wire[start..<end])
        result += try parser.values()
        start = end
    }
    #expect(parser.bufferedByteCount == 0)
    return result
}

/// The one value that `wire` holds; records an issue if it holds more, less, or leaves bytes behind.
func parseOne(_ wire: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> RESPValue {
    var parser = RESPParser()
    parser.feed(wire)
    let value = try #require(try parser.next(), "incomplete value", sourceLocation: sourceLocation)
    #expect(try parser.next() == nil, "more than one value", sourceLocation: sourceLocation)
    #expect(parser.bufferedByteCount == 0, "bytes left over", sourceLocation: sourceLocation)
    return value
}

/// The one value that the UTF-8 text `wire` holds.
func parseOne(_ wire: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> RESPValue {
    try parseOne(bytes(wire), sourceLocation: sourceLocation)
}

/// The outcome of feeding `wire` to a fresh parser in one piece and calling `next()` once.
func firstStep(_ wire: String, configuration: RESPParserConfiguration = .init()) -> ParseStep {
    firstStep(bytes(wire), configuration: configuration)
}

/// The outcome of feeding `wire` to a fresh parser in one piece and calling `next()` once.
func firstStep(_ wire: [UInt8], configuration: RESPParserConfiguration = .init()) -> ParseStep {
    var parser = RESPParser(configuration: configuration)
    parser.feed(wire)
    return parser.step()
}

/// A deterministic pseudo-random sequence (a 64-bit LCG) so that "random" chunkings are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state
    }
}

extension Delivery {
    /// The delivery with a message frame that `next()` returned as a value turned into the message the fast path
    /// would have handed out, so that deliveries can be compared whichever path a frame took.
    func normalized(allowArrays: Bool) -> Delivery {
        guard case .value(let value) = self, let message = DeliveredMessage(frame: value, allowArrays: allowArrays) else {
            return self
        }
        return .message(message)
    }
}

extension DeliveredMessage {
    /// The message a parsed frame carries, if it has the shape the fast path accepts.
    init?(frame: RESPValue, allowArrays: Bool) {
        let elements: [RESPValue]
        switch frame {
        case .push(let e): elements = e
        case .array(let e) where allowArrays: elements = e
        default: return nil
        }
        var parts: [[UInt8]] = []
        for element in elements {
            guard case .bulkString(let b) = element else { return nil }
            parts.append(b)
        }
        switch (parts.first.map { String(decoding: $0, as: UTF8.self) }, parts.count) {
        case ("message", 3): self.init(kind: .message, channel: parts[1], payload: parts[2])
        case ("smessage", 3): self.init(kind: .smessage, channel: parts[1], payload: parts[2])
        case ("pmessage", 4): self.init(kind: .pmessage, pattern: parts[1], channel: parts[2], payload: parts[3])
        default: return nil
        }
    }
}
