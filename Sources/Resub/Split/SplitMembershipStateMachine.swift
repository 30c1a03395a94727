/// A member's lease, with no I/O: when to run the next membership round, how long the lease lasts, and
/// when it is lost. The lease a successful round grants ends one TTL after the round was *sent* (the
/// server stamped it no earlier), so a member frozen or cut off finds its lease over, by its own clock,
/// no later than the others do, and drops its blocks at once.
package struct SplitMembershipStateMachine<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration, Instant: Sendable {
    /// The member's standing.
    package enum State: Equatable, Sendable {
        /// No lease: never granted yet, or lost.
        case joining
        /// The lease is held until `expiry`.
        case holding(expiry: Instant)
        /// The lease was given up (SIGTERM); rounds only read the group while the blocks are handed off.
        case leaving
        /// Stopped; nothing more happens.
        case stopped
    }

    /// What the driver must do.
    package enum Action: Equatable, Sendable {
        /// Run a membership round now (``MembershipScript``) in this mode; its answer names `round`.
        case runRound(MembershipScript.Mode, round: Int)
        /// The round in flight took too long: drop its connection (the next round opens a fresh one).
        case abandonRound
        /// The lease is gone: serve nothing at once.
        case leaseLost
        /// The group as the last round found it.
        case view(GroupView)
    }

    package private(set) var state: State = .joining
    private let ttl: Duration
    private let period: Duration
    private let roundTimeout: Duration
    private var nextRound: Instant
    private var roundSentAt: Instant?
    private var round = 0

    /// - Parameters:
    ///   - ttl: the lease's length.
    ///   - period: time between rounds (see ``SplitConfiguration/renewalPeriod``).
    ///   - now: the first round is due at once.
    package init(ttl: Duration, period: Duration, now: Instant) {
        self.ttl = ttl
        self.period = period
        self.roundTimeout = max(period, ttl / 3)
        self.nextRound = now
    }

    /// Whether a round is in flight.
    package var isRoundInFlight: Bool { roundSentAt != nil }

    /// Time passes: the lease may run out, a round may be due or overdue.
    package mutating func tick(now: Instant) -> [Action] {
        guard state != .stopped else { return [] }
        var actions = expire(now: now)
        if let sentAt = roundSentAt, sentAt.duration(to: now) >= roundTimeout {
            roundSentAt = nil
            nextRound = now
            actions.append(.abandonRound)
        }
        if roundSentAt == nil, now >= nextRound {
            roundSentAt = now
            round += 1
            actions.append(.runRound(state == .leaving ? .leave : .renew, round: round))
        }
        return actions
    }

    /// Asks for a round as soon as none is in flight (the confirmed blocks changed: publish them now).
    package mutating func roundWanted(now: Instant) -> [Action] {
        nextRound = min(nextRound, now)
        return tick(now: now)
    }

    /// Round `round` answered.
    package mutating func roundSucceeded(_ round: Int, _ view: GroupView, now: Instant) -> [Action] {
        // An abandoned round, or a renewal overtaken by leave(): its answer is stale.
        guard round == self.round, let sentAt = roundSentAt else { return [] }
        roundSentAt = nil
        nextRound = sentAt.advanced(by: period)
        // The lease may have run out while the answer was on its way (a freeze): that comes first.
        var actions = expire(now: now)
        switch state {
        case .stopped:
            return []
        case .leaving:
            break
        case .joining, .holding:
            let expiry = sentAt.advanced(by: ttl)
            // An answer that grants a lease already over (sent before a freeze) is stale: no view from it.
            guard now < expiry else { return actions + tick(now: now) }
            if case .holding = state, view.wasAbsent {
                // Others saw the lease expire and may serve its blocks already.
                actions.append(.leaseLost)
            }
            state = .holding(expiry: expiry)
        }
        actions.append(.view(view))
        return actions + tick(now: now)
    }

    /// Round `round` failed (connection lost, error reply); the next one is due soon.
    package mutating func roundFailed(_ round: Int, now: Instant) -> [Action] {
        guard round == self.round, roundSentAt != nil else { return [] }
        roundSentAt = nil
        nextRound = now.advanced(by: min(period, .milliseconds(200)))
        return tick(now: now)
    }

    private mutating func expire(now: Instant) -> [Action] {
        guard case .holding(let expiry) = state, now >= expiry else { return [] }
        state = .joining
        return [.leaseLost]
    }

    /// SIGTERM: give the lease up at once, then keep reading the group while the blocks are handed off.
    package mutating func leave(now: Instant) -> [Action] {
        switch state {
        case .stopped, .leaving:
            return []
        case .joining, .holding:
            state = .leaving
            roundSentAt = nil  // an answer to a renewal still in flight is ignored
            nextRound = now
            return tick(now: now)
        }
    }

    /// Stops for good.
    package mutating func stop() {
        state = .stopped
        roundSentAt = nil
    }
}
