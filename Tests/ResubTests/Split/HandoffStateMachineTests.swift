import Resub
import TestSupport
import Testing

private typealias Machine = HandoffStateMachine<ManualInstant>

private func t(_ seconds: Double) -> ManualInstant { .zero + .milliseconds(Int64(seconds * 1000)) }

private func served(_ actions: [Machine.Action]) -> BlockSet? {
    for case .serve(let set, _) in actions { return set }
    return nil
}

@Suite("Handoff: make-before-break between split members, with no I/O")
struct HandoffStateMachineTests {
    private let a = "0001-a", b = "0002-b", c = "0003-c"

    private func machine(_ member: String) -> Machine {
        Machine(member: member, releaseBound: .seconds(6), leaveBound: .milliseconds(1500))
    }

    @Test("a lone member serves every block and the plain channels")
    func alone() {
        var m = machine(a)
        #expect(served(m.viewArrived(GroupView(members: [a]), now: t(0))) == BlockSet.all)
        #expect(m.acquiring == BlockSet.all)
        _ = m.confirmedChanged(BlockSet.all, now: t(0.1))
        #expect(m.acquiring.isEmpty)
    }

    @Test("when a member joins, the old owner keeps the joiner's blocks until the joiner confirmed them")
    func makeBeforeBreakOnJoin() {
        var m = machine(a)
        _ = m.viewArrived(GroupView(members: [a]), now: t(0))
        _ = m.confirmedChanged(BlockSet.all, now: t(0))
        let theirs = SlotAssignment(members: [a, b]).blocks(of: b)
        #expect(m.viewArrived(GroupView(members: [a, b]), now: t(1)).isEmpty, "nothing dropped before the joiner confirms")
        #expect(m.releasing.count == theirs.count)
        // The joiner confirmed half of its blocks: exactly those go.
        let half = BlockSet(theirs.elements.prefix(theirs.count / 2))
        let afterHalf = served(m.viewArrived(GroupView(members: [a, b], confirmed: [b: half]), now: t(1.5)))
        #expect(afterHalf == BlockSet.all.subtracting(half))
        let afterAll = served(m.viewArrived(GroupView(members: [a, b], confirmed: [b: theirs]), now: t(2)))
        #expect(afterAll == SlotAssignment(members: [a, b]).blocks(of: a))
        #expect(m.releasing.isEmpty)
    }

    @Test("a new owner that never confirms is given up on after the bound")
    func releaseBound() {
        var m = machine(a)
        _ = m.viewArrived(GroupView(members: [a]), now: t(0))
        _ = m.viewArrived(GroupView(members: [a, b]), now: t(1))
        #expect(m.tick(now: t(6.9)).isEmpty)
        #expect(served(m.tick(now: t(7))) == SlotAssignment(members: [a, b]).blocks(of: a))
    }

    @Test("a member that gets a block back while releasing it stops releasing it")
    func regain() {
        var m = machine(a)
        _ = m.viewArrived(GroupView(members: [a]), now: t(0))
        _ = m.viewArrived(GroupView(members: [a, b]), now: t(1))
        #expect(!m.releasing.isEmpty)
        #expect(m.viewArrived(GroupView(members: [a]), now: t(2)).isEmpty)
        #expect(m.releasing.isEmpty)
        #expect(m.serving == BlockSet.all)
    }

    @Test("when a member dies, the survivors take its blocks at once (nobody to wait for)")
    func takeover() {
        var m = machine(b)
        _ = m.viewArrived(GroupView(members: [a, b, c]), now: t(0))
        let before = m.serving
        let after = served(m.viewArrived(GroupView(members: [b, c]), now: t(3)))
        #expect(after == SlotAssignment(members: [b, c]).blocks(of: b))
        #expect(after.map { $0.subtracting(before).count } ?? 0 > 0)
        #expect(m.acquiring == after?.subtracting(m.confirmed))
    }

    @Test("losing the lease drops everything at once, even blocks being handed off")
    func leaseLost() {
        var m = machine(a)
        _ = m.viewArrived(GroupView(members: [a]), now: t(0))
        _ = m.viewArrived(GroupView(members: [a, b]), now: t(1))
        #expect(m.leaseLost(now: t(2)) == [.serve(BlockSet(), previous: BlockSet.all)])
        #expect(m.releasing.isEmpty)
        #expect(m.leaseLost(now: t(2.1)).isEmpty)
    }

    @Test("leaving hands every block to its new owner as it confirms, and everything goes by the leave bound")
    func leave() {
        var m = machine(a)
        _ = m.viewArrived(GroupView(members: [a, b]), now: t(0))
        let mine = m.serving
        #expect(m.leave(now: t(1)).isEmpty)
        #expect(!m.isDone)
        // The group without the leaver; b confirmed part of what it takes over.
        let part = BlockSet(mine.elements.prefix(10))
        #expect(served(m.viewArrived(GroupView(members: [b], confirmed: [b: part]), now: t(1.5))) == mine.subtracting(part))
        #expect(served(m.tick(now: t(2.5))) == BlockSet())
        #expect(m.isDone)
    }

    @Test("no block is dropped by both of two members that each see the other confirm it (no cycle)")
    func noCycle() {
        // a and b each hold all blocks and confirmed them; each drops only what the other owns by the rule.
        var ma = machine(a), mb = machine(b)
        for m in [0, 1] {
            if m == 0 { _ = ma.viewArrived(GroupView(members: [a]), now: t(0)); _ = ma.confirmedChanged(.all, now: t(0)) }
            else { _ = mb.viewArrived(GroupView(members: [b]), now: t(0)); _ = mb.confirmedChanged(.all, now: t(0)) }
        }
        let both = GroupView(members: [a, b], confirmed: [a: .all, b: .all])
        _ = ma.viewArrived(both, now: t(1))
        _ = mb.viewArrived(both, now: t(1))
        #expect(ma.serving.union(mb.serving) == BlockSet.all, "some block was dropped by both")
        #expect(ma.serving.intersection(mb.serving).isEmpty, "settled: one owner per block")
    }
}
