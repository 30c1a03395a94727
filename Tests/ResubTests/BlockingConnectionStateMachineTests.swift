import LibeventLoop
import Resub
import Testing

/// The blocking connection's decisions with no I/O: opening on the first command, the ROLE check and the
/// wait for a master when following Sentinel, and how every command ends on a close, a move or a disconnect.
@Suite("Blocking connection state machine")
struct BlockingConnectionStateMachineTests {
    typealias Machine = BlockingConnectionStateMachine

    static let fixed = RedisEndpoint(address: .tcp(host: "127.0.0.1", port: 6379))
    static let master = RedisEndpoint(address: .tcp(host: "127.0.0.1", port: 6380), password: "pw")
    static let promoted = RedisEndpoint(address: .tcp(host: "127.0.0.1", port: 6381), password: "pw")

    /// A machine following Sentinel whose connection to `master` is ready, ROLE checked, `sent` written.
    static func following(readyAt master: RedisEndpoint, sent: [Int]) -> Machine {
        var m = Machine(followingMasterWithin: .seconds(5))
        _ = m.masterNamed(master)
        guard let first = sent.first else { return m }
        _ = m.send(first)
        _ = m.connectionReady()
        _ = m.roleChecked(nil)
        for id in sent.dropFirst() { _ = m.send(id) }
        return m
    }

    static func failures(_ actions: [Machine.Action]) -> [(ids: [Int], error: ResubError)] {
        actions.compactMap { if case .fail(let ids, let error) = $0 { (ids, error) } else { nil } }
    }

    @Test("a fixed endpoint opens on the first command, writes what waited after the handshake (CLIENT ID first), and never checks ROLE")
    func fixedEndpoint() {
        var m = Machine(endpoint: Self.fixed)
        #expect(m.state == .idle)
        #expect(m.send(1) == [.open(Self.fixed)])
        #expect(m.send(2) == [])
        #expect(m.queued == [1, 2])
        #expect(m.connectionReady() == [.identify, .write([1, 2])])
        #expect(m.state == .ready(Self.fixed))
        #expect(m.send(3) == [.write([3])])
        m.replied(1)
        #expect(m.sent == [2, 3])
    }

    @Test("a fixed endpoint's connection failure fails only the commands still waiting, and the next command opens again; no master is asked for")
    func fixedEndpointFailure() {
        var m = Machine(endpoint: Self.fixed)
        _ = m.send(1)
        let refused = ResubError(.connectionFailed, "connection refused")
        #expect(m.connectionClosed(refused) == [.fail([1], refused)])
        #expect(m.state == .idle)
        #expect(m.send(2) == [.open(Self.fixed)])
        _ = m.connectionReady()
        _ = m.send(3)
        // Written commands are failed by their connection; the machine only forgets them.
        #expect(m.connectionClosed(ResubError(.disconnected, "reset")) == [])
        #expect(m.sent.isEmpty)
    }

    @Test("following Sentinel, a command before any master is known waits for one, and goes there once it is named")
    func waitsForMaster() {
        var m = Machine(followingMasterWithin: .seconds(5))
        #expect(m.send(1) == [.schedule(.init(id: 1, delay: .seconds(5)))])
        #expect(m.state == .waitingForMaster(timer: 1))
        #expect(m.send(2) == [], "one wait for all of them")
        #expect(m.masterNamed(Self.master) == [.open(Self.master)])
        #expect(m.timerFired(1) == [], "the wait ended: its timer is ignored")
        #expect(m.connectionReady() == [.checkRole])
        #expect(m.state == .checkingRole(Self.master))
        #expect(m.send(3) == [], "nothing is written before ROLE answered")
        #expect(m.roleChecked(nil) == [.identify, .write([1, 2, 3])])
        #expect(m.state == .ready(Self.master))
    }

    @Test("following Sentinel, commands waiting longer than the connect timeout for a master fail with connectionFailed")
    func masterWaitTimesOut() throws {
        var m = Machine(followingMasterWithin: .seconds(2))
        _ = m.send(1)
        _ = m.send(2)
        let failures = Self.failures(m.timerFired(1))
        let failure = try #require(failures.first)
        #expect(failures.count == 1 && failure.ids == [1, 2])
        #expect(failure.error.code == .connectionFailed)
        #expect(failure.error.message.contains("no master known within 2.00s"), "\(failure.error.message)")
        #expect(m.state == .idle)
        #expect(m.send(3) == [.schedule(.init(id: 2, delay: .seconds(2)))], "the next command waits afresh")
    }

    @Test("a master named while nothing is pending is only remembered: the connection still opens on the first command")
    func masterNamedWhileIdle() {
        var m = Machine(followingMasterWithin: .seconds(5))
        #expect(m.masterNamed(Self.master) == [])
        #expect(m.state == .idle)
        #expect(m.send(1) == [.open(Self.master)])
    }

    /// A machine whose command 1 waits after `master` refused the master role with `refusal`.
    static func refusedOnce(_ refusal: ResubError) -> Machine {
        var m = Machine(followingMasterWithin: .seconds(5))
        _ = m.masterNamed(Self.master)  // a stale sentinel's answer: a replica
        _ = m.send(1)
        _ = m.connectionReady()
        _ = m.roleChecked(refusal)
        return m
    }

    static let refusal = ResubError(.serverError, "127.0.0.1:6380 answers ROLE slave, not master")

    @Test("a node that answers ROLE with another role is left before anything is written there; the waiting commands wait for the master named next and go there")
    func roleRefused() {
        var m = Machine(followingMasterWithin: .seconds(5))
        _ = m.masterNamed(Self.master)
        _ = m.send(1)
        _ = m.connectionReady()
        #expect(m.roleChecked(Self.refusal) == [.close, .schedule(.init(id: 1, delay: .seconds(5))), .masterFailed])
        #expect(m.state == .waitingForMaster(timer: 1))
        #expect(m.queued == [1])
        #expect(m.endpoint == nil, "the monitor forgot it too")
        #expect(m.send(2) == [])
        #expect(m.masterNamed(Self.promoted) == [.open(Self.promoted)])
        _ = m.connectionReady()
        #expect(m.roleChecked(nil) == [.identify, .write([1, 2])])
    }

    @Test("the sentinels naming a node that refused already: the waiting commands fail with the refusal instead of looping; the next command starts afresh")
    func roleRefusedAgain() {
        var m = Self.refusedOnce(Self.refusal)
        #expect(m.masterNamed(Self.master) == [.fail([1], Self.refusal)])
        #expect(m.state == .idle)
        #expect(m.send(2) == [.open(Self.master)], "the refusals were forgotten with the commands that met them")
    }

    @Test("after a refusal the wait for the next master is bounded too, and ends with the refusal")
    func roleRefusedThenNoMaster() {
        var m = Self.refusedOnce(Self.refusal)
        #expect(m.timerFired(1) == [.fail([1], Self.refusal)])
        #expect(m.state == .idle)
        #expect(m.send(2) == [.schedule(.init(id: 2, delay: .seconds(5)))])
        let failures = Self.failures(m.timerFired(2))
        #expect(failures.first?.error.code == .connectionFailed, "a new wait knows no refusal")
    }

    @Test("a new master closes the connection to the old one at once: the blocked commands fail with disconnected saying the master changed, and the next command opens at the new master")
    func masterChangedWhileBlocked() throws {
        var m = Self.following(readyAt: Self.master, sent: [1, 2])
        m.replied(1)
        let actions = m.masterNamed(Self.promoted)
        #expect(actions.count == 2)
        #expect(actions.last == .close, "failed first, so the close's plain disconnect finds nothing")
        let failure = try #require(Self.failures(actions).first)
        #expect(failure.ids == [2])
        #expect(failure.error.code == .disconnected)
        #expect(failure.error.message.contains("master changed to 127.0.0.1:6381"), "\(failure.error.message)")
        #expect(failure.error.node == "127.0.0.1:6380")
        #expect(m.state == .idle)
        #expect(m.sent.isEmpty)
        #expect(m.send(3) == [.open(Self.promoted)])
        #expect(m.connectionReady() == [.checkRole])
    }

    @Test("an idle connection to the old master is closed too; a resolution naming the same master changes nothing")
    func masterChangedWhileIdle() {
        var m = Self.following(readyAt: Self.master, sent: [1])
        m.replied(1)
        #expect(m.masterNamed(Self.master) == [])
        #expect(m.state == .ready(Self.master))
        #expect(m.masterNamed(Self.promoted) == [.close])
        #expect(m.state == .idle)
    }

    @Test("a new master named while connecting to (or checking) the old one: nothing was written, so the waiting commands go to the new master")
    func masterChangedWhileConnecting() {
        var m = Machine(followingMasterWithin: .seconds(5))
        _ = m.masterNamed(Self.master)
        _ = m.send(1)
        #expect(m.masterNamed(Self.promoted) == [.close, .open(Self.promoted)])
        #expect(m.queued == [1])
        _ = m.connectionReady()
        #expect(m.masterNamed(Self.master) == [.close, .open(Self.master)], "during the ROLE check too")
        #expect(m.state == .connecting(Self.master))
        #expect(m.queued == [1])
    }

    @Test("following Sentinel, a failed connection asks for the master again; the commands still waiting fail with its error")
    func connectionFailureAsksAgain() {
        var m = Machine(followingMasterWithin: .seconds(5))
        _ = m.masterNamed(Self.master)
        _ = m.send(1)
        let refused = ResubError(.connectionFailed, "connection refused")
        #expect(m.connectionClosed(refused) == [.fail([1], refused), .masterFailed])
        var ready = Self.following(readyAt: Self.master, sent: [2])
        #expect(ready.connectionClosed(ResubError(.disconnected, "reset")) == [.masterFailed])
        #expect(ready.send(3) == [.open(Self.master)], "the next command goes to the master known now")
    }

    @Test("disconnect closes at once and fails what waits; every later command fails without a connection, and a master named later changes nothing")
    func disconnect() throws {
        var m = Self.following(readyAt: Self.master, sent: [1])
        #expect(m.disconnect() == [.close])
        #expect(m.isClosed)
        let later = try #require(Self.failures(m.send(2)).first)
        #expect(later.ids == [2] && later.error.code == .disconnected)
        #expect(m.masterNamed(Self.promoted) == [])
        #expect(m.disconnect() == [], "idempotent")

        var waiting = Machine(followingMasterWithin: .seconds(5))
        _ = waiting.send(1)
        let failed = try #require(Self.failures(waiting.disconnect()).first)
        #expect(failed.ids == [1] && failed.error.code == .disconnected)
        #expect(waiting.timerFired(1) == [], "the wait's timer is ignored once closed")
    }

    @Test("quit sends QUIT only on a ready, idle connection; otherwise it is disconnect")
    func quit() {
        var idle = Self.following(readyAt: Self.master, sent: [1])
        idle.replied(1)
        #expect(idle.quit() == [.quit])
        #expect(idle.isClosed)

        var busy = Self.following(readyAt: Self.master, sent: [1])
        #expect(busy.quit() == [.close])
        var never = Machine(endpoint: Self.fixed)
        #expect(never.quit() == [])
        #expect(never.isClosed)
    }
}
