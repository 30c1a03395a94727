import RESP
import Testing
import TestSupport

/// The one pub/sub decoder decides what a frame is from its element count and verb, for both read paths.
@Suite("Pub/sub frame decoder")
struct PubSubFrameTests {
    private static func decode(_ verb: String, _ count: Int) -> PubSubFrame? {
        Array(verb.utf8).withUnsafeBytes { PubSubFrame(elementCount: count, verb: $0) }
    }

    @Test("message, pmessage and smessage are recognised only with their number of parts")
    func messages() {
        #expect(Self.decode("message", 3) == .message(.message))
        #expect(Self.decode("pmessage", 4) == .message(.pmessage))
        #expect(Self.decode("smessage", 3) == .message(.smessage))
        #expect(Self.decode("message", 4) == nil)
        #expect(Self.decode("pmessage", 3) == nil)
        #expect(Self.decode("smessage", 4) == nil)
        #expect(Self.decode("xmessage", 3) == nil)
        #expect(Self.decode("massage", 3) == nil)
    }

    @Test("the six confirmation verbs name the message kind they subscribe to and the direction")
    func confirmations() {
        let expected: [(String, PubSubFrame)] = [
            ("subscribe", .confirmation(.message, subscribe: true)),
            ("psubscribe", .confirmation(.pmessage, subscribe: true)),
            ("ssubscribe", .confirmation(.smessage, subscribe: true)),
            ("unsubscribe", .confirmation(.message, subscribe: false)),
            ("punsubscribe", .confirmation(.pmessage, subscribe: false)),
            ("sunsubscribe", .confirmation(.smessage, subscribe: false)),
        ]
        for (verb, frame) in expected {
            #expect(Self.decode(verb, 3) == frame, "\(verb)")
            #expect(Self.decode(verb, 2) == frame, "\(verb) with no count")
            #expect(Self.decode(verb, 1) == nil, "\(verb) with no name")
        }
    }

    @Test("lookalike verbs and the empty verb are not pub/sub")
    func lookalikes() {
        for verb in ["", "pong", "subscribed", "xsubscribe", "qunsubscribe", "xxsubscribe", "pxxsubscribe", "unsubscribf", "SUBSCRIBE", "MESSAGE"] {
            #expect(Self.decode(verb, 3) == nil, "\(verb)")
        }
    }

    @Test("the general path routes with the same decoder: RESP2 arrays only in subscribed mode, pong is a reply")
    func generalPath() {
        let message = RESPBuilder.messageValue(channel: bytes("c"), payload: bytes("p"), resp3: false)
        #expect(RESPFrameRoute.route(message, arraysArePubSub: true) == .message(kind: .message, pattern: [], channel: bytes("c"), payload: bytes("p")))
        #expect(RESPFrameRoute.route(message, arraysArePubSub: false) == .reply)
        let pong = RESPValue.array([.bulkString(bytes("pong")), .bulkString([])])
        #expect(RESPFrameRoute.route(pong, arraysArePubSub: true) == .reply)
        let bare = RESPValue.push([.bulkString(bytes("unsubscribe")), .null, .integer(0)])
        #expect(RESPFrameRoute.route(bare, arraysArePubSub: false) == .confirmation(kind: .message, subscribe: false, name: []))
        let other = RESPValue.push([.bulkString(bytes("invalidate")), .array([])])
        #expect(RESPFrameRoute.route(other, arraysArePubSub: false) == .otherPush)
    }
}
