/// Where a parsed value goes on a connection used for pub/sub: the reply queue, the message path, the
/// (un)subscribe confirmation counter, or elsewhere. A pure function of the value, shared by the connection
/// and the fuzzing oracle.
///
/// In RESP3 pub/sub frames are pushes (`>`). In RESP2 subscribed mode they are arrays; there the server
/// accepts nothing but (un)subscribe commands and PING, whose reply is the array `pong ""`, so an array is
/// a reply only when it is that or has no pub/sub shape.
public enum RESPFrameRoute: Equatable, Sendable {
    /// A published message.
    case message(kind: RESPMessageView.Kind, pattern: [UInt8], channel: [UInt8], payload: [UInt8])
    /// A `subscribe`/`psubscribe`/`ssubscribe`/`unsubscribe`/`punsubscribe`/`sunsubscribe` confirmation.
    case confirmation(verb: [UInt8], name: [UInt8])
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
        guard let head = e.first?.bytes else { return nil }
        if e.count >= 2, confirmationVerbs.contains(head) {
            return .confirmation(verb: head, name: e[1].bytes ?? [])
        }
        let kind: RESPMessageView.Kind
        if head == message, e.count == 3 { kind = .message }
        else if head == pmessage, e.count == 4 { kind = .pmessage }
        else if head == smessage, e.count == 3 { kind = .smessage }
        else { return nil }
        return .message(
            kind: kind, pattern: kind == .pmessage ? (e[1].bytes ?? []) : [],
            channel: e[e.count - 2].bytes ?? [], payload: e[e.count - 1].bytes ?? [])
    }

    private static let pong = Array("pong".utf8)
    private static let message = Array("message".utf8)
    private static let pmessage = Array("pmessage".utf8)
    private static let smessage = Array("smessage".utf8)
    private static let confirmationVerbs: Set<[UInt8]> = Set(
        ["subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe"].map { Array($0.utf8) })
}
