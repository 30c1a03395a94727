/// Where a parsed value goes on a connection used for pub/sub: the reply queue, the message path, the
/// (un)subscribe confirmation counter, or elsewhere. The general path of pub/sub decoding (the parser's fast
/// path takes the common frames without building values); both decide what a frame is with ``PubSubFrame``.
/// A pure function of the value, shared by the connection and the fuzzing oracle.
///
/// In RESP3 pub/sub frames are pushes (`>`). In RESP2 subscribed mode they are arrays; there the server
/// accepts nothing but (un)subscribe commands and PING, whose reply is the array `pong ""`, so an array is
/// a reply only when it is that or has no pub/sub shape.
public enum RESPFrameRoute: Equatable, Sendable {
    /// A published message.
    case message(kind: MessageKind, pattern: [UInt8], channel: [UInt8], payload: [UInt8])
    /// A `subscribe`/`psubscribe`/`ssubscribe`/`unsubscribe`/`punsubscribe`/`sunsubscribe` confirmation
    /// (see ``PubSubFrame/confirmation(_:subscribe:)``); a null name reads as empty.
    case confirmation(kind: MessageKind, subscribe: Bool, name: [UInt8])
    /// A reply to the oldest pending command.
    case reply
    /// A push that is neither (client tracking invalidation, …).
    case otherPush

    /// Routes a value. `arraysArePubSub` is true on a RESP2 connection in subscribed mode.
    public static func route(_ value: RESPValue, arraysArePubSub: Bool) -> RESPFrameRoute {
        switch value {
        case .push(let elements):
            return pubSub(elements) ?? .otherPush
        case .array(let elements) where arraysArePubSub:
            if elements.count == 2, elements[0].bytes == pong { return .reply }
            return pubSub(elements) ?? .reply
        case .attribute(_, let inner):
            return route(inner, arraysArePubSub: arraysArePubSub)
        default:
            return .reply
        }
    }

    private static func pubSub(_ e: [RESPValue]) -> RESPFrameRoute? {
        guard let verb = e.first?.bytes,
              let frame = verb.withUnsafeBytes({ PubSubFrame(elementCount: e.count, verb: $0) })
        else { return nil }
        switch frame {
        case .confirmation(let kind, let subscribe):
            return .confirmation(kind: kind, subscribe: subscribe, name: e[1].bytes ?? [])
        case .message(let kind):
            return .message(
                kind: kind, pattern: kind == .pmessage ? (e[1].bytes ?? []) : [],
                channel: e[e.count - 2].bytes ?? [], payload: e[e.count - 1].bytes ?? [])
        }
    }

    private static let pong = Array("pong".utf8)
}
