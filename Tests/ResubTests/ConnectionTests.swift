import LibeventLoop
import RESP
import Resub
import Testing
import TestSupport

/// The real `Connection` driven over a fake transport and a manual scheduler: no socket, no loop thread.
@Suite("Connection over a fake transport")
struct ConnectionTests {
    /// Records what the connection tells its owner.
    private final class Recorder: ConnectionDelegate {
        var events: [String] = []
        var messages: [String] = []
        var closeErrors: [ResubError] = []

        func connection(_ connection: Connection, didReport event: ConnectionEvent) {
            switch event {
            case .connected: events.append("connect")
            case .ready: events.append("ready \(connection.protocolVersion)")
            case .readFinished: break
            case .unsolicited(let kind, let subscribe, let name):
                events.append("unsolicited \(subscribe ? kind.subscribeCommand : kind.unsubscribeCommand) \(String(decoding: name, as: UTF8.self))")
            case .push(let value): events.append("push \(value)")
            case .closed(let error): closeErrors.append(error)
            }
        }
        func connection(_ connection: Connection, didReceive message: RESPMessageView) {
            let text = { (bytes: UnsafeRawBufferPointer) in String(decoding: bytes, as: UTF8.self) }
            messages.append("\(message.kind.name) \(text(message.pattern))|\(text(message.channel))|\(text(message.payload))")
        }
    }

    /// One connection under test with everything it talks to.
    private struct Rig {
        let scheduler = ManualScheduler()
        let transport = FakeTransport()
        let recorder = Recorder()
        let connection: Connection

        init(clientName: String? = nil, preference: RESPProtocolPreference = .resp3) {
            let configuration = ConnectionConfiguration(
                endpoint: RedisEndpoint(address: .tcp(host: "127.0.0.1", port: 6379)),
                clientName: clientName, protocolPreference: preference)
            let transport = self.transport
            connection = Connection(scheduler: scheduler, configuration: configuration, delegate: recorder) { delegate in
                transport.delegate = delegate
                return transport
            }
        }

        /// Connects and answers the handshake; what the handshake wrote is taken.
        func ready() {
            transport.connect()
            #expect(transport.takeWritten() == Array("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n".utf8))
            transport.receive("%1\r\n$5\r\nproto\r\n:3\r\n")
            #expect(connection.state == .ready)
        }
    }

    @Test("the handshake and commands are written as exact RESP, and subscriptions pipeline into one write")
    func exactBytes() throws {
        let rig = Rig()
        #expect(rig.connection.state == .connecting)
        rig.ready()
        #expect(rig.recorder.events == ["connect", "ready 3"])
        var reply: Result<RESPValue, ResubError>?
        rig.connection.send(["GET", "key"]) { reply = $0 }
        #expect(rig.transport.writtenText == "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n")
        _ = rig.transport.takeWritten()
        rig.connection.sendSubscription(.channel, subscribe: true, names: ["a", "b"]) { _ in }
        rig.connection.sendSubscription(.pattern, subscribe: false, names: ["p*"]) { _ in }
        #expect(rig.transport.written.isEmpty, "subscriptions wait for flush()")
        rig.connection.flush()
        #expect(rig.transport.writtenText == "*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$1\r\nb\r\n*2\r\n$12\r\nPUNSUBSCRIBE\r\n$2\r\np*\r\n")
        rig.transport.receive("$5\r\nvalue\r\n")
        #expect(try reply?.get() == .bulkString(Array("value".utf8)))
    }

    @Test("a read split at every byte offset still completes the subscription, delivers the message once and answers PING")
    func splitEverywhere() throws {
        let stream = RESPBuilder.subscribeConfirmation(kind: .subscribe, name: "news", count: 1)
            + RESPBuilder.subscribeConfirmation(kind: .subscribe, name: "sport", count: 2)
            + RESPBuilder.message(channel: "news", payload: "hello")
            + RESPBuilder.pmessage(pattern: "n*", channel: "news", payload: "again")
            + Array("+PONG\r\n".utf8)
        for cut in 0...stream.count {
            let rig = Rig()
            rig.ready()
            var subscribed: [Result<Void, ResubError>] = []
            var pongs: [RESPValue] = []
            rig.connection.sendSubscription(.channel, subscribe: true, names: ["news", "sport"]) { subscribed.append($0) }
            rig.connection.ping { if case .success(let value) = $0 { pongs.append(value) } }
            rig.transport.receive(Array(stream[..<cut]))
            rig.transport.receive(Array(stream[cut...]))
            #expect(subscribed.count == 1 && (try? subscribed[0].get()) != nil, "cut at \(cut)")
            #expect(pongs == [.simpleString(Array("PONG".utf8))], "cut at \(cut)")
            #expect(rig.recorder.messages == ["message |news|hello", "pmessage n*|news|again"], "cut at \(cut)")
            #expect(rig.recorder.closeErrors.isEmpty)
            #expect(rig.connection.pendingCount == 0)
        }
    }

    @Test("a reply split at every byte offset completes its command exactly once")
    func replySplitEverywhere() {
        let reply = Array("*3\r\n$3\r\none\r\n:2\r\n%1\r\n+k\r\n$1\r\nv\r\n".utf8)
        for cut in 0...reply.count {
            let rig = Rig()
            rig.ready()
            var replies: [RESPValue] = []
            rig.connection.send(["X"]) { if case .success(let value) = $0 { replies.append(value) } }
            rig.transport.receive(Array(reply[..<cut]))
            rig.transport.receive(Array(reply[cut...]))
            #expect(replies == [.array([.bulkString(Array("one".utf8)), .integer(2), .map([RESPPair(.simpleString(Array("k".utf8)), .bulkString(Array("v".utf8)))])])], "cut at \(cut)")
        }
    }

    @Test("QUIT's fallback closes the connection after one second of manual time, without telling the owner")
    func quitFallback() {
        let rig = Rig()
        rig.ready()
        rig.connection.quit()
        #expect(rig.transport.writtenText == "*1\r\n$4\r\nQUIT\r\n")
        #expect(rig.connection.state == .quitting)
        #expect(rig.scheduler.pendingDelays == [.seconds(1)])
        rig.scheduler.advance(by: .milliseconds(999))
        #expect(!rig.transport.isClosed)
        rig.scheduler.advance(by: .milliseconds(1))
        #expect(rig.transport.isClosed)
        #expect(rig.connection.state == .closed)
        #expect(rig.recorder.closeErrors.isEmpty)
    }

    @Test("QUIT answered closes at once and cancels the fallback")
    func quitAnswered() {
        let rig = Rig()
        rig.ready()
        rig.connection.quit()
        rig.transport.receive("+OK\r\n")
        #expect(rig.transport.isClosed)
        #expect(rig.scheduler.pendingCount == 0)
        #expect(rig.recorder.closeErrors.isEmpty)
    }

    @Test("the server hanging up fails pending commands and tells the owner once")
    func serverCloses() {
        let rig = Rig()
        rig.ready()
        var failures: [ResubError.Code] = []
        rig.connection.send(["BLPOP", "q", "0"]) { if case .failure(let e) = $0 { failures.append(e.code) } }
        rig.connection.sendSubscription(.channel, subscribe: true, names: ["a"]) { if case .failure(let e) = $0 { failures.append(e.code) } }
        rig.transport.fail(.endOfFile)
        #expect(failures == [.disconnected, .disconnected])
        #expect(rig.recorder.closeErrors.map(\.code) == [.disconnected])
        #expect(rig.connection.state == .closed)
        var late: ResubError?
        rig.connection.send(["PING"]) { if case .failure(let e) = $0 { late = e } }
        #expect(late?.message == "connection is not ready (closed)")
    }

    @Test("a confirmation nothing asked for reaches the owner through the fast path, and garbage closes with a protocol error")
    func unsolicitedThenGarbage() {
        let rig = Rig()
        rig.ready()
        rig.transport.receive(RESPBuilder.subscribeConfirmation(kind: .sunsubscribe, name: "{s}1", count: 0))
        #expect(rig.recorder.events.last == "unsolicited SUNSUBSCRIBE {s}1")
        rig.transport.receive("?garbage\r\n")
        #expect(rig.recorder.closeErrors.map(\.code) == [.protocolError])
        #expect(rig.transport.isClosed)
    }

    @Test("a RESP2 server falls back from HELLO and routes subscribed-mode arrays as messages")
    func resp2() {
        let rig = Rig(clientName: "resub")
        rig.transport.connect()
        _ = rig.transport.takeWritten()
        rig.transport.receive("-ERR unknown command 'HELLO'\r\n")
        #expect(rig.transport.writtenText == "*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$5\r\nresub\r\n")
        rig.transport.receive("+OK\r\n")
        #expect(rig.connection.protocolVersion == 2)
        rig.connection.sendSubscription(.channel, subscribe: true, names: ["c"]) { _ in }
        rig.connection.flush()
        rig.transport.receive(RESPBuilder.subscribeConfirmation(kind: .subscribe, name: "c", count: 1, resp3: false)
            + RESPBuilder.message(channel: "c", payload: "x", resp3: false))
        #expect(rig.recorder.messages == ["message |c|x"])
    }
}
