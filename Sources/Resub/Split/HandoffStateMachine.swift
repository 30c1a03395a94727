/// Which blocks a member serves, with no I/O: make-before-break handoffs between members.
///
/// Each block this member serves is in one of three phases: *acquiring* (assigned to it, subscribed, not
/// confirmed yet), *held* (assigned and confirmed), or *releasing* (assigned to another member now, still
/// served until that member has published the block as confirmed, or until a bound passes). A block is
/// never dropped before its new owner confirmed it (unless the bound passes), so a handoff may deliver a
/// message twice and loses none. Owners form no cycle: the new owner of a block is the member with the
/// highest score in the releasing member's view, which also holds on to it until a higher one confirms.
/// A lost lease drops everything at once: others may serve the blocks already.
package struct HandoffStateMachine<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration, Instant: Sendable {
    /// What the driver must do.
    package enum Action: Equatable, Sendable {
        /// Serve exactly `serving` from now on (it was `previous`).
        case serve(BlockSet, previous: BlockSet)
    }

    /// This member's id.
    package let member: String
    /// The blocks served (subscribed): acquiring, held and releasing ones.
    package private(set) var serving = BlockSet()
    /// The blocks assigned to this member by the last view.
    package private(set) var assigned = BlockSet()
    /// The blocks served and confirmed (as the driver last reported).
    package private(set) var confirmed = BlockSet()
    /// Releasing blocks and when they go at the latest.
    package private(set) var releasing: [Int: Instant] = [:]
    private var view: GroupView?
    private var leaving = false
    private let releaseBound: Duration
    private let leaveBound: Duration

    /// - Parameters:
    ///   - releaseBound: the longest a block is kept for a new owner that does not confirm it.
    ///   - leaveBound: the same while leaving (SIGTERM), shorter so the process stops in time.
    package init(member: String, releaseBound: Duration, leaveBound: Duration) {
        self.member = member
        self.releaseBound = releaseBound
        self.leaveBound = leaveBound
    }

    /// The blocks subscribed but not confirmed yet.
    package var acquiring: BlockSet { assigned.intersection(serving).subtracting(confirmed) }

    /// A membership round's view of the group.
    package mutating func viewArrived(_ view: GroupView, now: Instant) -> [Action] {
        self.view = view
        let assignment = SlotAssignment(members: view.members)
        assigned = leaving ? BlockSet() : assignment.blocks(of: member)
        for block in assigned.elements { releasing[block] = nil }
        let bound = leaving ? leaveBound : releaseBound
        for block in serving.subtracting(assigned).elements where releasing[block] == nil {
            releasing[block] = now.advanced(by: bound)
        }
        return update(serving: serving.union(assigned), now: now)
    }

    /// The blocks confirmed by the servers changed (the driver publishes them in its next round).
    package mutating func confirmedChanged(_ blocks: BlockSet, now: Instant) -> [Action] {
        confirmed = blocks.intersection(serving)
        return update(serving: serving, now: now)
    }

    /// Time passes: releasing blocks past their bound go.
    package mutating func tick(now: Instant) -> [Action] { update(serving: serving, now: now) }

    /// The lease is gone: serve nothing at once.
    package mutating func leaseLost(now: Instant) -> [Action] {
        releasing = [:]
        assigned = BlockSet()
        let previous = serving
        serving = BlockSet()
        confirmed = BlockSet()
        return previous.isEmpty ? [] : [.serve(serving, previous: previous)]
    }

    /// SIGTERM: every block becomes releasing, with the shorter bound.
    package mutating func leave(now: Instant) -> [Action] {
        leaving = true
        assigned = BlockSet()
        for block in serving.elements { releasing[block] = min(releasing[block] ?? now.advanced(by: leaveBound), now.advanced(by: leaveBound)) }
        return update(serving: serving, now: now)
    }

    /// Whether a leaving member has handed everything off.
    package var isDone: Bool { leaving && serving.isEmpty }

    private mutating func update(serving wanted: BlockSet, now: Instant) -> [Action] {
        var next = wanted
        let assignment = view.map { SlotAssignment(members: $0.members) }
        for (block, deadline) in releasing {
            let newOwner = assignment?.owner(of: block)
            let taken = newOwner.map { $0 != member && (view?.confirmed[$0]?.contains(block) ?? false) } ?? false
            if taken || now >= deadline {
                next.remove(block)
                releasing[block] = nil
            }
        }
        let previous = serving
        serving = next
        confirmed = confirmed.intersection(serving)
        return next == previous ? [] : [.serve(next, previous: previous)]
    }
}
