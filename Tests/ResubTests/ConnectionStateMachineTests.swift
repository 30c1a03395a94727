import RESP
import Resub
import Testing
import TestSupport

/// The connection's logic with no transport and no clock: reply matching, confirmation counting, routing,
/// the handshake's fallback and closing.
@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    private typealias Machine = ConnectionStateMachine
    private static let node = "127.0.0.1:6379"
    private static let ok = RESPValue.simpleString(Array("OK".utf8))
    private static let helloReply = RESPValue.map([RESPPair(.bulkString(Array("proto".utf8)), .integer(3))])

    private static func error(_ text: String) -> RESPValue { .error(Array(text.utf8)) }
    private static func bulk(_ text: String) -> RESPValue { .bulkString(Array(text.utf8)) }

    private static func machine(preference: RESPProtocolPreference = .resp3, clientName: String? = nil) -> Machine {
        Machine(node: node, handshake: HandshakeStateMachine(
            username: nil, password: nil, clientName: clientName, preference: preference))
    }

    /// A machine past its handshake, speaking `version`.
    private static func ready(version: Int = 3) -> Machine {
        var m = machine(preference: version == 3 ? .resp3 : .resp2)
        let actions = m.connected()
        if version == 3 {
            #expect(actions == [.notifyConnected, .write(["HELLO", "3"])])
            #expect(m.received(helloReply) == [.ready(protocolVersion: 3)])
        } else {
            #expect(actions == [.notifyConnected, .ready(protocolVersion: 2)])
        }
        #expect(m.phase == .ready)
        return m
    }

    private static func confirmation(_ kind: RESPBuilder.SubscriptionKind, _ name: String, count: Int = 1, resp3: Bool = true) -> RESPValue {
        RESPBuilder.subscribeConfirmationValue(kind: kind, name: Array(name.utf8), count: count, resp3: resp3)
    }

    // MARK: Replies

    @Test("replies complete the commands in the order they were sent")
    func repliesInOrder() {
        var m = Self.ready()
        let (first, a1) = m.send(["GET", "a"])
        let (second, a2) = m.send(["GET", "b"])
        #expect(a1 == [.write(["GET", "a"])])
        #expect(a2 == [.write(["GET", "b"])])
        #expect(first != second)
        #expect(m.pendingCount == 2)
        #expect(m.received(Self.bulk("1")) == [.reply(first, Self.bulk("1"))])
        #expect(m.received(Self.error("ERR nope")) == [.reply(second, Self.error("ERR nope"))])
        #expect(m.pendingCount == 0)
    }

    @Test("a command sent before the connection is ready fails at once")
    func sendBeforeReady() {
        var m = Self.machine()
        let (id, actions) = m.send(["PING"])
        #expect(actions == [.fail(id, ResubError(.disconnected, "connection is not ready (connecting)"))])
    }

    // MARK: Confirmations

    @Test("a SUBSCRIBE of three names completes only after its three confirmations")
    func threeConfirmations() {
        var m = Self.ready()
        let (id, actions) = m.sendSubscription(.channel, subscribe: true, names: ["a", "b", "c"])
        #expect(actions == [.write(["SUBSCRIBE", "a", "b", "c"])])
        #expect(m.received(Self.confirmation(.subscribe, "a", count: 1)) == [])
        #expect(m.confirmed(.channel, subscribe: true, name: Array("b".utf8)) == [])
        #expect(m.pendingCount == 1)
        #expect(m.received(Self.confirmation(.subscribe, "c", count: 3)) == [.subscribed(id)])
        #expect(m.pendingCount == 0)
    }

    @Test("an error reply in place of the confirmations fails the whole command, and the next command goes on")
    func refusedSubscription() {
        var m = Self.ready()
        let (id, _) = m.sendSubscription(.pattern, subscribe: true, names: ["a*", "b*", "c*"])
        let (ping, _) = m.send(["PING"])
        let refusal = Self.error("NOPERM this user has no permissions to access one of the channels")
        #expect(m.received(refusal) == [.fail(id, ResubError(
            .serverError, "server refused PSUBSCRIBE", serverError: "NOPERM this user has no permissions to access one of the channels"))])
        #expect(m.received(Self.bulk("PONG")) == [.reply(ping, Self.bulk("PONG"))])
        #expect(m.phase == .ready)
    }

    @Test("confirmations no command waits for go to the owner: another kind, another direction, or nothing pending")
    func unsolicited() {
        var m = Self.ready()
        #expect(m.received(Self.confirmation(.sunsubscribe, "{s}1", count: 0))
            == [.unsolicited(.shardChannel, subscribe: false, name: Array("{s}1".utf8))])
        let (id, _) = m.sendSubscription(.channel, subscribe: true, names: ["a"])
        #expect(m.confirmed(.pattern, subscribe: true, name: Array("p*".utf8)) == [.unsolicited(.pattern, subscribe: true, name: Array("p*".utf8))])
        #expect(m.confirmed(.channel, subscribe: false, name: Array("x".utf8)) == [.unsolicited(.channel, subscribe: false, name: Array("x".utf8))])
        #expect(m.confirmed(.channel, subscribe: true, name: Array("a".utf8)) == [.subscribed(id)])
    }

    // MARK: Routing

    @Test("RESP3 pushes are messages, confirmations or other pushes; arrays are replies")
    func resp3Routing() {
        var m = Self.ready()
        #expect(m.routing == .pubSub(arraysArePubSub: false))
        let message = RESPBuilder.pmessageValue(pattern: Array("n*".utf8), channel: Array("news".utf8), payload: Array("hi".utf8))
        #expect(m.received(message) == [.message(.pmessage, pattern: Array("n*".utf8), channel: Array("news".utf8), payload: Array("hi".utf8))])
        let invalidate = RESPValue.push([Self.bulk("invalidate"), .array([Self.bulk("k")])])
        #expect(m.received(invalidate) == [.push(invalidate)])
        let (id, _) = m.send(["LRANGE", "l", "0", "-1"])
        let array = RESPValue.array([Self.bulk("message"), Self.bulk("c"), Self.bulk("p")])
        #expect(m.received(array) == [.reply(id, array)])
    }

    @Test("in RESP2 subscribed mode an array message is a message, and PING's pong \"\" is its reply")
    func resp2SubscribedRouting() {
        var m = Self.ready(version: 2)
        #expect(m.routing == .pubSub(arraysArePubSub: false))
        let (sub, _) = m.sendSubscription(.channel, subscribe: true, names: ["news"])
        #expect(m.routing == .pubSub(arraysArePubSub: true))
        #expect(m.received(Self.confirmation(.subscribe, "news", resp3: false)) == [.subscribed(sub)])
        let (ping, _) = m.send(["PING"])
        let message = RESPBuilder.messageValue(channel: Array("news".utf8), payload: Array("hello".utf8), resp3: false)
        #expect(m.received(message) == [.message(.message, pattern: [], channel: Array("news".utf8), payload: Array("hello".utf8))])
        let pong = RESPValue.array([Self.bulk("pong"), Self.bulk("")])
        #expect(m.received(pong) == [.reply(ping, pong)])
    }

    @Test("a RESP2 connection that never subscribed reads arrays as replies")
    func resp2Unsubscribed() {
        var m = Self.ready(version: 2)
        let (id, _) = m.send(["LRANGE", "l", "0", "-1"])
        let array = RESPValue.array([Self.bulk("message"), Self.bulk("c"), Self.bulk("p")])
        #expect(m.received(array) == [.reply(id, array)])
    }

    // MARK: Handshake

    @Test("a server without HELLO gets RESP2's CLIENT SETNAME and the connection is ready in RESP2")
    func helloFallback() {
        var m = Self.machine(clientName: "resub")
        #expect(m.routing == .values)
        #expect(m.connected() == [.notifyConnected, .write(["HELLO", "3", "SETNAME", "resub"])])
        #expect(m.phase == .handshaking)
        #expect(m.pendingCount == 1)
        #expect(m.received(Self.error("ERR unknown command 'HELLO'")) == [.write(["CLIENT", "SETNAME", "resub"])])
        #expect(m.pendingCount == 1)
        #expect(m.received(Self.ok) == [.ready(protocolVersion: 2)])
        #expect(m.protocolVersion == 2)
        #expect(m.phase == .ready)
    }

    @Test("refused credentials close the connection with an authentication error and tell the owner")
    func refusedCredentials() {
        var m = Machine(node: Self.node, handshake: HandshakeStateMachine(
            username: "u", password: "p", clientName: nil, preference: .resp3))
        _ = m.connected()
        let expected = ResubError(.authenticationFailed, "server refused the credentials", serverError: "WRONGPASS invalid username-password pair")
        #expect(m.received(Self.error("WRONGPASS invalid username-password pair")) == [.closeTransport, .notifyClosed(expected)])
        #expect(m.isClosed)
    }

    // MARK: Closing

    @Test("an error reply with no command pending closes the connection")
    func errorWithNothingPending() {
        var m = Self.ready()
        let actions = m.received(Self.error("ERR max number of clients reached"))
        let expected = ResubError(
            .protocolError, "error reply with no command pending: ERR max number of clients reached",
            serverError: "ERR max number of clients reached")
        #expect(actions == [.closeTransport, .notifyClosed(expected)])
        #expect(m.phase == .closed)
        #expect(m.routing == .closed)
    }

    @Test("a close fails every pending command, then tells the owner")
    func closeFailsPending() {
        var m = Self.ready()
        let (a, _) = m.send(["GET", "a"])
        let (b, _) = m.sendSubscription(.shardChannel, subscribe: true, names: ["{x}1", "{x}2"])
        let (c, _) = m.send(["PING"])
        let lost = ResubError(.disconnected, "connection closed by peer")
        #expect(m.transportClosed(.endOfFile) == [.closeTransport, .fail(a, lost), .fail(b, lost), .fail(c, lost), .notifyClosed(lost)])
        #expect(m.disconnect() == [])
    }

    @Test("disconnect fails pending commands without telling the owner")
    func disconnect() {
        var m = Self.ready()
        let (a, _) = m.send(["BLPOP", "q", "0"])
        let closed = ResubError(.disconnected, "connection closed by the client")
        #expect(m.disconnect() == [.closeTransport, .fail(a, closed)])
    }

    @Test("a connect that fails is a connection failure")
    func connectFails() {
        var m = Self.machine()
        let actions = m.transportClosed(.endOfFile)
        #expect(actions == [.closeTransport, .notifyClosed(ResubError(.connectionFailed, "connection closed by peer"))])
    }

    @Test("quit sends QUIT and arms the fallback; the reply closes quietly")
    func quit() {
        var m = Self.ready()
        #expect(m.quit() == [.write(["QUIT"]), .startQuitTimer(.seconds(1))])
        #expect(m.phase == .quitting)
        let message = RESPBuilder.messageValue(channel: Array("c".utf8), payload: Array("late".utf8))
        #expect(m.received(message) == [.message(.message, pattern: [], channel: Array("c".utf8), payload: Array("late".utf8))])
        #expect(m.received(Self.ok) == [.closeTransport])
        #expect(m.isClosed)
    }

    @Test("quit with a command pending is a disconnect")
    func quitWithPending() {
        var m = Self.ready()
        let (a, _) = m.send(["BLPOP", "q", "0"])
        #expect(m.quit() == [.closeTransport, .fail(a, ResubError(.disconnected, "connection closed by the client"))])
    }
}
