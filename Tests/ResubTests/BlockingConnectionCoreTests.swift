import LibeventLoop
import RESP
import Resub
import TestSupport
import Testing

/// The blocking connection's driver over fake transports and a manual scheduler, following a fake Sentinel
/// monitor (a ``MasterSource`` whose ROLE check the test answers): what reaches which node, and how a
/// blocked command ends when the master moves.
@Suite("Blocking connection driver")
struct BlockingConnectionCoreTests {
    /// A driver following a fake monitor, with everything it asked of the monitor and every result.
    final class Harness {
        let scheduler = ManualScheduler()
        let connections: FakeConnections
        let core: BlockingConnection.Core
        /// The ROLE checks asked for, oldest first: the connection and the callback the test answers.
        var roleChecks: [(connection: Connection, done: (ResubError?) -> Void)] = []
        var failuresReported = 0
        var results: [Int: Result<RESPValue, ResubError>] = [:]

        init(masterWait: Duration = .seconds(5)) {
            connections = FakeConnections(scheduler: scheduler)
            let connections = self.connections
            core = BlockingConnection.Core(
                configuration: ConnectionConfiguration(endpoint: RedisEndpoint(address: .unix(path: "sentinel/mymaster"))),
                machine: BlockingConnectionStateMachine(followingMasterWithin: masterWait), timers: scheduler,
                open: { connections.open($0, $1) })
            core.use(MasterSource(
                endpoint: { nil },
                verifyRole: { [unowned self] connection, done in self.roleChecks.append((connection, done)) },
                failed: { [unowned self] in self.failuresReported += 1 }))
        }

        func send(_ number: Int, _ command: [String]) {
            core.send(command) { [unowned self] in self.results[number] = $0 }
        }

        /// Connects the last transport, answers its handshake and passes the ROLE check; returns what the
        /// driver wrote after it.
        func connectAndPass() throws -> [[String]] {
            let transport = try #require(connections.last)
            FakeConnections.handshake(transport)
            let check = try #require(roleChecks.last)
            check.done(nil)
            return FakeConnections.commands(transport.takeWritten())
        }
    }

    static let old = RedisEndpoint(address: .tcp(host: "127.0.0.1", port: 6380))
    static let new = RedisEndpoint(address: .tcp(host: "127.0.0.1", port: 6381))

    @Test("a BLPOP blocked on the old master fails with disconnected saying the master changed, its socket is closed, and the next BLPOP runs on the new master after its ROLE check")
    func blockedCommandFollowsTheMaster() throws {
        let h = Harness()
        h.send(1, ["BLPOP", "jobs", "0"])
        #expect(h.connections.transports.isEmpty, "no master known yet: nothing opens")
        h.core.follow(Self.old)
        #expect(h.connections.configurations.map(\.endpoint) == [Self.old])
        let oldTransport = try #require(h.connections.last)
        FakeConnections.handshake(oldTransport)
        #expect(FakeConnections.commands(oldTransport.takeWritten()).isEmpty, "nothing before ROLE answered")
        try #require(h.roleChecks.count == 1)
        h.roleChecks[0].done(nil)
        #expect(FakeConnections.commands(oldTransport.takeWritten()) == [["CLIENT", "ID"], ["BLPOP", "jobs", "0"]])
        oldTransport.receive(":7\r\n")
        #expect(h.results.isEmpty)

        h.core.follow(Self.new)
        #expect(oldTransport.isClosed)
        guard case .failure(let error)? = h.results[1] else {
            Issue.record("the blocked BLPOP did not fail: \(String(describing: h.results[1]))")
            return
        }
        #expect(error.code == .disconnected)
        #expect(error.message.contains("master changed to 127.0.0.1:6381"), "\(error.message)")
        #expect(error.command == "BLPOP")
        #expect(h.connections.transports.count == 1, "the connection to the new master opens on the next command")

        h.send(2, ["BLPOP", "jobs", "0"])
        #expect(h.connections.configurations.map(\.endpoint) == [Self.old, Self.new])
        #expect(try h.connectAndPass() == [["CLIENT", "ID"], ["BLPOP", "jobs", "0"]])
        try #require(h.connections.last).receive(":8\r\n*2\r\n$4\r\njobs\r\n$1\r\nx\r\n")
        #expect((try? h.results[2]?.get())?.elements?.last?.string == "x")
        #expect(h.failuresReported == 0, "a move is no failure")
    }

    @Test("a node that fails the ROLE check is left before any command is written there; the command runs on the master named next")
    func roleRefusal() throws {
        let h = Harness()
        h.core.follow(Self.old)
        h.send(1, ["SET", "k", "v"])
        let stale = try #require(h.connections.last)
        FakeConnections.handshake(stale)
        try #require(h.roleChecks.last).done(ResubError(.serverError, "127.0.0.1:6380 answers ROLE slave, not master"))
        #expect(stale.isClosed)
        #expect(FakeConnections.commands(stale.takeWritten()).isEmpty)
        #expect(h.results[1] == nil, "still waiting for the master")
        #expect(h.failuresReported == 1)
        h.core.follow(Self.new)
        #expect(try h.connectAndPass() == [["CLIENT", "ID"], ["SET", "k", "v"]])
        try #require(h.connections.last).receive(":9\r\n+OK\r\n")
        #expect((try? h.results[1]?.get())?.string == "OK")
    }

    @Test("a command waits for a first master at most the master wait, then fails with connectionFailed; a later answer opens nothing for it")
    func masterWait() throws {
        let h = Harness(masterWait: .seconds(2))
        h.send(1, ["BLPOP", "jobs", "0"])
        h.scheduler.advance(by: .milliseconds(1_999))
        #expect(h.results[1] == nil)
        h.scheduler.advance(by: .milliseconds(1))
        guard case .failure(let error)? = h.results[1] else {
            Issue.record("still waiting: \(String(describing: h.results[1]))")
            return
        }
        #expect(error.code == .connectionFailed)
        h.core.follow(Self.old)
        #expect(h.connections.transports.isEmpty)
    }

    @Test("a connection that fails under a blocked command sends the resolution back to the monitor")
    func failureReported() throws {
        let h = Harness()
        h.core.follow(Self.old)
        h.send(1, ["BLPOP", "jobs", "0"])
        _ = try h.connectAndPass()
        try #require(h.connections.last).fail(.endOfFile)
        #expect(h.failuresReported == 1)
        if case .failure? = h.results[1] {} else { Issue.record("the BLPOP did not fail: \(String(describing: h.results[1]))") }
    }

    @Test("disconnect after a move fails nothing twice and opens nothing; the wait's timer does nothing afterwards")
    func disconnectAfterMove() throws {
        let h = Harness()
        h.send(1, ["BLPOP", "jobs", "0"])
        h.core.disconnect()
        guard case .failure(let error)? = h.results[1] else {
            Issue.record("the waiting BLPOP did not fail")
            return
        }
        #expect(error.code == .disconnected)
        h.core.follow(Self.new)
        h.scheduler.advance(by: .seconds(10))
        #expect(h.connections.transports.isEmpty)
        #expect(h.scheduler.pendingCount == 0, "the wait's timer was cancelled")
    }
}
