#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a pub/sub frame is, decided from its element count and its first element: the one decoder of
/// pub/sub framing. The parser's fast path (``RESPParser/drainPubSubFrames(allowArrays:message:confirmation:)``)
/// runs it on bytes in its buffer, ``RESPFrameRoute`` on parsed values, so the two readings of a frame cannot
/// disagree about what it is; they differ only in which frames they take (the fast path: complete frames of
/// bulk strings, as Redis sends them; the general path: everything else).
public enum PubSubFrame: Equatable, Sendable {
    /// A published message: `message channel payload` (3 elements), `pmessage pattern channel payload` (4),
    /// `smessage channel payload` (3).
    case message(MessageKind)
    /// A (un)subscribe confirmation, `<verb> name count`: `kind` is the kind of message the name delivers
    /// (`subscribe`/`unsubscribe` → `.message`, `psubscribe`/`punsubscribe` → `.pmessage`,
    /// `ssubscribe`/`sunsubscribe` → `.smessage`); `subscribe` is false for the unsubscribes.
    case confirmation(MessageKind, subscribe: Bool)

    /// Decodes a frame of `elementCount` elements whose first element's bytes are `verb`; nil when the frame
    /// has no pub/sub shape (another verb, or a message with the wrong number of parts).
    @inline(__always)
    public init?(elementCount: Int, verb: UnsafeRawBufferPointer) {
        guard let base = verb.baseAddress else { return nil }
        let first = base.load(as: UInt8.self)
        switch verb.count {
        case 7:
            guard elementCount == 3, Self.matches(base, "message") else { return nil }
            self = .message(.message)
        case 8:
            guard Self.matches(base + 1, "message") else { return nil }
            if first == UInt8(ascii: "p"), elementCount == 4 {
                self = .message(.pmessage)
            } else if first == UInt8(ascii: "s"), elementCount == 3 {
                self = .message(.smessage)
            } else {
                return nil
            }
        case 9...12:
            // [p|s][un]subscribe: 9 subscribe, 10 [ps]subscribe, 11 unsubscribe, 12 [ps]unsubscribe.
            guard elementCount >= 2, Self.matches(base + verb.count - 9, "subscribe") else { return nil }
            var kind = MessageKind.message
            var rest = base
            if verb.count % 2 == 0 {
                switch first {
                case UInt8(ascii: "p"): kind = .pmessage
                case UInt8(ascii: "s"): kind = .smessage
                default: return nil
                }
                rest += 1
            }
            let subscribe = verb.count < 11
            guard subscribe || Self.matches(rest, "un") else { return nil }
            self = .confirmation(kind, subscribe: subscribe)
        default:
            return nil
        }
    }

    @inline(__always)
    private static func matches(_ bytes: UnsafeRawPointer, _ text: StaticString) -> Bool {
        memcmp(bytes, text.utf8Start, text.utf8CodeUnitCount) == 0
    }
}
