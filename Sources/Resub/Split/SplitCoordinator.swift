import LibeventLoop
import RESP

/// The driver of a split group member (`--slots auto`), on the loop thread: runs the membership rounds on
/// the master of the group's hash slot (following MOVED), feeds the answers and the clock to the
/// ``SplitMembershipStateMachine`` and the ``HandoffStateMachine``, and hands the blocks they decide to the
/// ``ShardedManager``, which subscribes them like static `--slots`. Owned by the manager.
package final class SplitCoordinator: ConnectionDelegate, @unchecked Sendable {
    private typealias Instant = ContinuousClock.Instant
    private weak var manager: ShardedManager?
    private let loop: EventLoop
    private let configuration: SplitConfiguration
    private let template: ConnectionConfiguration
    private let onEvent: (SubscriberEvent) -> Void
    private var membership: SplitMembershipStateMachine<Instant>
    private var handoff: HandoffStateMachine<Instant>
    private var connection: Connection?
    /// Where a MOVED reply sent the rounds, until a connection there fails.
    private var redirect: RedisEndpoint?
    /// A round waiting for its connection to be ready.
    private var waiting: (mode: MembershipScript.Mode, round: Int)?
    private var timer: TimerEvent?
    private var members = 0
    private var leaveCompletion: (() -> Void)?
    private var leftGroup = false
    /// Leaving stops waiting for the leave round's answer at this time (the group's master may be down).
    private var leaveDeadline: Instant?
    private var stopped = false

    /// The step timer's period: the lease and handoff bounds are checked this often.
    private static let stepInterval: Duration = .milliseconds(50)

    init(manager: ShardedManager, configuration: SplitConfiguration) {
        self.manager = manager
        self.loop = manager.loop
        self.configuration = configuration
        self.template = manager.template
        self.onEvent = manager.onEvent
        let now = Instant.now
        membership = SplitMembershipStateMachine(ttl: configuration.memberTTL, period: configuration.renewalPeriod, now: now)
        // A new owner that cannot confirm within three TTLs (its node failing over, say) is not waited for.
        handoff = HandoffStateMachine(member: configuration.memberID, releaseBound: configuration.memberTTL * 3, leaveBound: .milliseconds(1500))
    }

    /// The member's state, for `/readyz`.
    package var status: SplitStatus {
        var held = false
        if case .holding = membership.state { held = true }
        return SplitStatus(
            group: configuration.group, member: configuration.memberID, members: members, leaseHeld: held,
            ranges: handoff.serving.slotRanges.description, slots: handoff.serving.slotCount,
            broadcast: handoff.serving.hasBroadcast, acquiring: handoff.acquiring.count, releasing: handoff.releasing.count)
    }

    /// Starts the rounds.
    func start() {
        timer = loop.scheduleTimer(after: Self.stepInterval, repeating: true) { [weak self] in self?.step() }
        step()
    }

    /// SIGTERM: gives the lease up at once and keeps serving until the others confirmed this member's
    /// blocks (at most 1.5 s); then `completion`.
    func leave(completion: @escaping () -> Void) {
        guard !stopped, leaveCompletion == nil else { return completion() }
        leaveCompletion = completion
        let now = Instant.now
        leaveDeadline = now.advanced(by: .seconds(2))
        apply(handoff.leave(now: now), reason: "leaving")
        run(membership.leave(now: now), now: now)
        finishLeaveIfDone()
    }

    /// Stops at once (the lease runs out by itself unless ``leave(completion:)`` gave it up).
    func stop() {
        guard !stopped else { return }
        stopped = true
        membership.stop()
        timer?.cancel()
        timer = nil
        connection.take()?.disconnect()
        leaveCompletion.take()?()
    }

    // MARK: Steps

    private func step() {
        guard !stopped, let manager else { return }
        let now = Instant.now
        // The lease first: after a freeze, blocks whose lease ran out go before anything else is decided.
        run(membership.tick(now: now), now: now)
        let confirmed = manager.confirmedBlocks(among: handoff.serving)
        if confirmed != handoff.confirmed {
            apply(handoff.confirmedChanged(confirmed, now: now), reason: "handoff")
            run(membership.roundWanted(now: now), now: now)  // publish the confirmation at once
        }
        apply(handoff.tick(now: now), reason: "handoff")
        finishLeaveIfDone()
    }

    private func run(_ actions: [SplitMembershipStateMachine<Instant>.Action], now: Instant) {
        for action in actions {
            switch action {
            case .runRound(let mode, let round):
                send(mode, round)
            case .abandonRound:
                waiting = nil
                connection.take()?.disconnect()
            case .leaseLost:
                apply(handoff.leaseLost(now: now), reason: "lease lost")
            case .view(let view):
                members = view.members.count
                if membership.state == .leaving { leftGroup = true }
                apply(handoff.viewArrived(view, now: now), reason: membership.state == .leaving ? "leaving" : "assignment")
            }
        }
    }

    private func apply(_ actions: [HandoffStateMachine<Instant>.Action], reason: String) {
        for case .serve(let serving, let previous) in actions {
            manager?.serve(slots: serving.slotRanges, broadcast: serving.hasBroadcast)
            let gained = serving.subtracting(previous), released = previous.subtracting(serving)
            onEvent(.splitChanged(SplitChange(
                member: configuration.memberID, serving: serving.description, slots: serving.slotCount,
                gained: gained.description, released: released.description,
                gainedBlocks: gained.count, releasedBlocks: released.count, reason: reason)))
        }
    }

    private func finishLeaveIfDone() {
        guard leaveCompletion != nil, handoff.isDone, leftGroup || Instant.now >= leaveDeadline ?? .now else { return }
        leaveCompletion.take()?()
    }

    // MARK: Rounds

    private func send(_ mode: MembershipScript.Mode, _ round: Int) {
        guard let connection, connection.state == .ready else {
            waiting = (mode, round)
            if connection == nil { connect() }
            return
        }
        waiting = nil
        connection.send(MembershipScript.command(configuration, mode: mode, confirmed: handoff.confirmed)) { [weak self] result in
            self?.answered(round, result)
        }
    }

    private func answered(_ round: Int, _ result: Result<RESPValue, ResubError>) {
        let now = Instant.now
        switch result {
        case .success(let reply) where !reply.isError:
            if let view = GroupView(reply: reply) {
                run(membership.roundSucceeded(round, view, now: now), now: now)
                finishLeaveIfDone()
                return
            }
        case .success(let reply):
            // MOVED host:port: the group's slot lives elsewhere now; follow it and refresh the topology.
            let text = reply.string ?? ""
            if text.hasPrefix("MOVED"), let target = text.split(separator: " ").last, let colon = target.lastIndex(of: ":"),
               let port = Int(target[target.index(after: colon)...]), let manager {
                redirect = manager.endpoint(for: ClusterNode(id: "", host: String(target[..<colon]), port: port, isMaster: true))
                manager.refresher?.refresh()
            }
            connection.take()?.disconnect()
        case .failure:
            break
        }
        run(membership.roundFailed(round, now: now), now: now)
    }

    private func connect() {
        guard let manager, !stopped else { return }
        var configuration = template
        configuration.endpoint = redirect ?? manager.splitEndpoint(for: self.configuration) ?? manager.cluster.seeds[0]
        connection = Connection(loop: loop, configuration: configuration, delegate: self)
    }

    // MARK: ConnectionDelegate

    package func connection(_ connection: Connection, didReport event: ConnectionEvent) {
        guard connection === self.connection else { return }
        switch event {
        case .ready:
            guard let (mode, round) = waiting else { return }
            send(mode, round)
        case .closed:
            self.connection = nil
            redirect = nil
            manager?.refresher?.refresh()
            if let (_, round) = waiting.take() { run(membership.roundFailed(round, now: .now), now: .now) }
        case .connected, .readFinished, .unsolicited, .push:
            break
        }
    }
}
