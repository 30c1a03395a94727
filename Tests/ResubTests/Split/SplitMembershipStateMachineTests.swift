import Resub
import TestSupport
import Testing

private typealias Machine = SplitMembershipStateMachine<ManualInstant>

private func t(_ seconds: Double) -> ManualInstant { .zero + .milliseconds(Int64(seconds * 1000)) }

private func round(in actions: [Machine.Action]) -> Int? {
    for case .runRound(_, let round) in actions { return round }
    return nil
}

@Suite("Split membership: lease renewal and loss, with no I/O")
struct SplitMembershipStateMachineTests {
    private let view = GroupView(members: ["a", "b"])

    @Test("the first round is due at once and the next one a period after it was sent")
    func renewalTiming() throws {
        var machine = Machine(ttl: .seconds(3), period: .seconds(1), now: t(0))
        let first = try #require(round(in: machine.tick(now: t(0))))
        #expect(machine.tick(now: t(0.5)).isEmpty, "one round at a time")
        let actions = machine.roundSucceeded(first, view, now: t(0.2))
        #expect(actions == [.view(view)])
        #expect(machine.state == .holding(expiry: t(3)), "the lease runs one TTL from the sending, not the answer")
        #expect(machine.tick(now: t(0.9)).isEmpty)
        #expect(machine.tick(now: t(1)) == [.runRound(.renew, round: first + 1)])
    }

    @Test("a member whose renewals stop answering loses its lease one TTL after the last successful sending")
    func leaseLostByClock() throws {
        var machine = Machine(ttl: .seconds(3), period: .seconds(1), now: t(0))
        let first = try #require(round(in: machine.tick(now: t(0))))
        _ = machine.roundSucceeded(first, view, now: t(0.1))
        let second = try #require(round(in: machine.tick(now: t(1))))
        _ = machine.roundFailed(second, now: t(1.1))
        #expect(!machine.tick(now: t(2.99)).contains(.leaseLost))
        #expect(machine.tick(now: t(3)).contains(.leaseLost))
        #expect(machine.state == .joining)
    }

    @Test("a frozen member wakes up past its expiry: the lease is lost before anything else, and a stale answer grants nothing")
    func frozen() throws {
        var machine = Machine(ttl: .seconds(2), period: .milliseconds(500), now: t(0))
        let first = try #require(round(in: machine.tick(now: t(0))))
        _ = machine.roundSucceeded(first, view, now: t(0.1))
        let second = try #require(round(in: machine.tick(now: t(0.5))))
        // SIGSTOP for 10 s; the answer to the round sent before it arrives after the wake-up.
        let woke = machine.tick(now: t(10.5))
        #expect(woke.first == .leaseLost)
        #expect(woke.contains(.abandonRound), "the round in flight across the freeze is abandoned")
        #expect(machine.roundSucceeded(second, view, now: t(10.6)).isEmpty, "the abandoned round's answer is ignored")
        #expect(machine.state == .joining)
    }

    @Test("the answer to a round sent before a freeze, read before any tick, reports the lease lost and grants nothing")
    func staleAnswerAfterFreeze() throws {
        var machine = Machine(ttl: .seconds(2), period: .milliseconds(500), now: t(0))
        let first = try #require(round(in: machine.tick(now: t(0))))
        _ = machine.roundSucceeded(first, view, now: t(0.1))
        let second = try #require(round(in: machine.tick(now: t(0.5))))
        let actions = machine.roundSucceeded(second, view, now: t(9))
        #expect(actions.first == .leaseLost)
        #expect(!actions.contains(.view(view)), "a view from before the freeze must not be acted on")
        #expect(machine.state == .joining)
    }

    @Test("a renewal that finds its entry gone (others expired it) reports the lease lost, then holds a new one")
    func expiredByOthers() throws {
        var machine = Machine(ttl: .seconds(2), period: .milliseconds(500), now: t(0))
        let first = try #require(round(in: machine.tick(now: t(0))))
        _ = machine.roundSucceeded(first, GroupView(members: ["a"], wasAbsent: true), now: t(0.1))
        #expect(machine.state == .holding(expiry: t(2)), "a first join is absent too, and loses nothing")
        let second = try #require(round(in: machine.tick(now: t(0.5))))
        let absent = GroupView(members: ["a", "b"], wasAbsent: true)
        #expect(machine.roundSucceeded(second, absent, now: t(0.6)) == [.leaseLost, .view(absent)])
        #expect(machine.state == .holding(expiry: t(2.5)))
    }

    @Test("leaving gives the lease up at once with a leave round, and ignores the answer of a renewal in flight")
    func leaving() throws {
        var machine = Machine(ttl: .seconds(2), period: .milliseconds(500), now: t(0))
        let first = try #require(round(in: machine.tick(now: t(0))))
        _ = machine.roundSucceeded(first, view, now: t(0.1))
        let renewal = try #require(round(in: machine.tick(now: t(0.5))))
        let actions = machine.leave(now: t(0.6))
        #expect(actions == [.runRound(.leave, round: renewal + 1)])
        #expect(machine.roundSucceeded(renewal, view, now: t(0.61)).isEmpty)
        let gone = GroupView(members: ["b"])
        #expect(machine.roundSucceeded(renewal + 1, gone, now: t(0.62)) == [.view(gone)])
        #expect(machine.state == .leaving)
        #expect(machine.tick(now: t(5)) == [.runRound(.leave, round: renewal + 2)], "no lease to lose while leaving")
    }

    @Test("a round that takes longer than TTL/3 is abandoned and a new one starts")
    func slowRound() throws {
        var machine = Machine(ttl: .seconds(3), period: .milliseconds(500), now: t(0))
        let first = try #require(round(in: machine.tick(now: t(0))))
        #expect(machine.tick(now: t(0.9)).isEmpty)
        #expect(machine.tick(now: t(1)) == [.abandonRound, .runRound(.renew, round: first + 1)])
    }
}
