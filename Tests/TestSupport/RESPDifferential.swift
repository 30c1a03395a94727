#if canImport(RESP)
import RESP
#endif

/// The fuzzing oracle: one byte stream read two ways must yield the same events.
///
/// - A: fed whole, read with ``RESPParser/next()`` only, each value routed with ``RESPFrameRoute`` (the
///   general path).
/// - B: fed in chunks chosen by the input, read the way a connection reads: the fast path
///   (``RESPParser/drainPubSubFrames(allowArrays:message:confirmation:)``) first, then `next()` + routing.
///
/// Both paths decide what a frame is with the one decoder, ``PubSubFrame``; what this checks is that the fast
/// path takes only frames it reads exactly as the general path does (parts, limits, splits, errors).
/// Both must produce the same messages, confirmations, replies and pushes in the same order, and fail (or
/// not) alike; neither may crash, and both respect the given limits. The first input byte sets the mode
/// (RESP2 arrays as pub/sub; small limits); the second seeds the chunk sizes.
public enum RESPDifferential {
    /// One event of a connection's read loop.
    public enum Event: Equatable, CustomStringConvertible {
        case message(MessageKind, [UInt8], [UInt8], [UInt8])
        case confirmation(MessageKind, subscribe: Bool, [UInt8])
        case reply(RESPValue)
        case push(RESPValue)
        case failed(RESPParseError.Code)

        public var description: String {
            switch self {
            case .message(let k, let p, let c, let m): return "message(\(k), \(p.count), \(c.count), \(m.count))"
            case .confirmation(let k, let s, let n): return "confirmation(\(k), \(s ? "subscribe" : "unsubscribe"), \(n.count))"
            case .reply(let v): return "reply(\(v))"
            case .push(let v): return "push(\(v))"
            case .failed(let code): return "failed(\(code))"
            }
        }
    }

    /// Returns nil when both readings agree, else a description of the first difference.
    public static func check(_ input: [UInt8]) -> String? {
        guard input.count >= 2 else { return nil }
        let arrays = input[0] & 1 == 1
        let limits = input[0] & 2 == 2
            ? RESPParserConfiguration(maxBulkLength: 1024, maxDepth: 4, maxElements: 64, maxLineLength: 128)
            : RESPParserConfiguration()
        var seed = UInt64(input[1]) | 1
        let stream = Array(input.dropFirst(2))
        let a = readWhole(stream, arrays: arrays, limits: limits)
        let b = readChunked(stream, arrays: arrays, limits: limits, seed: &seed)
        if a == b { return nil }
        let i = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
        return "event \(i): whole \(i < a.count ? a[i].description : "end") vs chunked \(i < b.count ? b[i].description : "end")"
    }

    private static func routed(_ value: RESPValue, arrays: Bool) -> Event {
        switch RESPFrameRoute.route(value, arraysArePubSub: arrays) {
        case .message(let k, let p, let c, let m): return .message(k, p, c, m)
        case .confirmation(let k, let s, let n): return .confirmation(k, subscribe: s, n)
        case .reply: return .reply(value)
        case .otherPush: return .push(value)
        }
    }

    private static func readWhole(_ stream: [UInt8], arrays: Bool, limits: RESPParserConfiguration) -> [Event] {
        var parser = RESPParser(configuration: limits)
        parser.feed(stream)
        var events: [Event] = []
        while events.count < 100_000 {
            do {
                guard let value = try parser.next() else { break }
                events.append(routed(value, arrays: arrays))
            } catch {
                events.append(.failed(error.code))
                break
            }
        }
        return events
    }

    private static func readChunked(_ stream: [UInt8], arrays: Bool, limits: RESPParserConfiguration, seed: inout UInt64) -> [Event] {
        var parser = RESPParser(configuration: limits)
        var events: [Event] = []
        var offset = 0
        var failed = false
        while offset < stream.count && !failed {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let size = Int((seed >> 33) % 64) + 1
            let end = min(stream.count, offset + size)
            parser.feed(stream[offset..<end])
            offset = end
            while events.count < 100_000 {
                _ = parser.drainPubSubFrames(
                    allowArrays: arrays,
                    message: { events.append(.message($0.kind, Array($0.pattern), Array($0.channel), Array($0.payload))) },
                    confirmation: { events.append(.confirmation($0.kind, subscribe: $0.subscribe, Array($0.name))) })
                do {
                    guard let value = try parser.next() else { break }
                    events.append(routed(value, arrays: arrays))
                } catch {
                    events.append(.failed(error.code))
                    failed = true
                    break
                }
            }
        }
        return events
    }
}
