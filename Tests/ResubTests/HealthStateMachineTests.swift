import Testing
import TestSupport
import Resub

// Unit tests: no sockets, no loop. The machine is driven with a manual clock and a seeded random source;
// timers are simulated by `HealthDriver`, which fires every armed timer (stale ones included, as NodeLink
// does: it never cancels a timer before shutdown) in order of its due time.

private typealias Machine = HealthStateMachine<ManualInstant, SeededRandom>
private typealias Action = Machine.Action

/// Defaults of these tests: PING after 5 s idle, dead 3 s later, backoff 100 ms … 2 s, reset after 30 s.
private func configuration(
    pingInterval: Duration = .seconds(5), pingTimeout: Duration = .seconds(3),
    minimum: Duration = .milliseconds(100), maximum: Duration = .seconds(2), resetAfter: Duration = .seconds(30)
) -> HealthConfiguration {
    HealthConfiguration(
        pingInterval: pingInterval, pingTimeout: pingTimeout,
        backoff: BackoffConfiguration(minimum: minimum, maximum: maximum, multiplier: 2, resetAfter: resetAfter))
}

private let eof = ResubError(.disconnected, "end of file")
private let refused = ResubError(.connectionFailed, "connection refused")

/// A machine, a manual clock and the timers the machine asked for, with a log of every action.
private struct HealthDriver {
    var machine: Machine
    var clock = ManualClock()
    /// Armed timers by id, with their due instants (fired ones are removed).
    var timers: [Int: ManualInstant] = [:]
    /// Every action so far, with the instant it was returned at.
    var log: [(at: ManualInstant, action: Action)] = []

    init(_ configuration: HealthConfiguration = configuration(), seed: UInt64 = 1) {
        machine = Machine(configuration: configuration, random: SeededRandom(seed: seed))
    }

    var now: ManualInstant { clock.now }
    var state: LinkState { machine.state }

    private mutating func record(_ actions: [Action]) -> [Action] {
        for action in actions {
            log.append((clock.now, action))
            if case .schedule(let timer) = action { timers[timer.id] = clock.now + timer.delay }
        }
        return actions
    }

    @discardableResult mutating func start() -> [Action] { record(machine.start(now: now)) }
    @discardableResult mutating func socketConnected() -> [Action] { record(machine.socketConnected(now: now)) }
    @discardableResult mutating func handshakeCompleted() -> [Action] { record(machine.handshakeCompleted(now: now)) }
    @discardableResult mutating func replayCompleted() -> [Action] { record(machine.replayCompleted(now: now)) }
    @discardableResult mutating func failed(_ error: ResubError) -> [Action] { record(machine.failed(error, now: now)) }
    @discardableResult mutating func stop() -> [Action] { record(machine.stop(now: now)) }
    mutating func activity() { machine.activity(now: now) }

    /// Fires timer `id` now, whether or not it is due (an owner firing a stale or early timer).
    @discardableResult mutating func fire(_ id: Int) -> [Action] {
        timers[id] = nil
        return record(machine.timerFired(id, now: now))
    }

    /// Moves the clock to `end`, firing every armed timer due on the way (at its due instant, in order).
    @discardableResult mutating func advance(to end: ManualInstant) -> [Action] {
        var fired: [Action] = []
        for _ in 0..<100_000 {
            let due = timers.filter { $0.value <= end }
            guard let next = due.min(by: { ($0.value, $0.key) < ($1.value, $1.key) }) else { break }
            clock.advance(to: next.value)
            fired += fire(next.key)
        }
        clock.advance(to: end)
        return fired
    }

    @discardableResult mutating func advance(by duration: Duration) -> [Action] { advance(to: now + duration) }

    /// Keeps the link busy: a byte arrives every `every` until `duration` has passed (timers fire on the way).
    @discardableResult mutating func busy(for duration: Duration, every: Duration = .seconds(1)) -> [Action] {
        let end = now + duration
        var actions: [Action] = []
        for _ in 0..<100_000 where now < end {
            actions += advance(to: min(now + every, end))
            activity()
        }
        return actions
    }

    /// From idle or waiting-to-reconnect to healthy: (fire the reconnect timer,) connect, handshake, replay.
    @discardableResult mutating func bringUp(handshake: Duration = .zero, replay: Duration = .zero) -> [Action] {
        var actions: [Action] = []
        if state == .idle { actions += start() }
        if state == .waitingToReconnect, let id = awaitedReconnectTimer { actions += advance(to: timers[id]!) }
        precondition(state == .connecting, "bringUp from \(state)")
        actions += socketConnected()
        actions += advance(by: handshake)
        actions += handshakeCompleted()
        actions += advance(by: replay)
        actions += replayCompleted()
        return actions
    }

    /// The id of the reconnect timer the last failure asked for.
    var awaitedReconnectTimer: Int? {
        guard let index = log.lastIndex(where: { if case .reconnectScheduled = $0.action { true } else { false } }) else { return nil }
        return log[index...].lazy.compactMap { if case .schedule(let t) = $0.action { t.id } else { nil } }.first
    }

    /// Drives a fresh machine to `state` (stopped excluded).
    mutating func drive(to target: LinkState) {
        switch target {
        case .idle: break
        case .connecting: start()
        case .handshaking: start(); socketConnected()
        case .replaying: start(); socketConnected(); handshakeCompleted()
        case .healthy: bringUp()
        case .waitingToReconnect: start(); failed(refused)
        case .stopped: stop()
        }
        precondition(state == target, "drive(to: \(target)) ended in \(state)")
    }

    /// The instants at which PINGs were asked for.
    var pings: [ManualInstant] { log.filter { $0.action == .sendPing }.map(\.at) }
}

private func closes(_ actions: [Action]) -> [ResubError] {
    actions.compactMap { if case .close(let e) = $0 { e } else { nil } }
}

private func scheduled(_ actions: [Action]) -> [Machine.Timer] {
    actions.compactMap { if case .schedule(let t) = $0 { t } else { nil } }
}

private func reconnects(_ actions: [Action]) -> [(attempt: Int, delay: Duration)] {
    actions.compactMap { if case .reconnectScheduled(let a, let d) = $0 { (a, d) } else { nil } }
}

private func gaps(_ actions: [Action]) -> [(from: ManualInstant, to: ManualInstant)] {
    actions.compactMap { if case .gap(let f, let t) = $0 { (f, t) } else { nil } }
}

private func seconds(_ s: Double) -> ManualInstant { ManualInstant(offset: .seconds(s)) }

// MARK: - Transitions

@Suite("Health state machine: transitions")
struct HealthStateMachineTransitionTests {
    @Test("start moves idle to connecting and asks for one connection; a second start does nothing")
    func startConnects() {
        var d = HealthDriver()
        #expect(d.state == .idle)
        #expect(d.start() == [.stateChanged(from: .idle, to: .connecting, reason: nil), .connect])
        #expect(d.start() == [])
        #expect(d.state == .connecting)
    }

    @Test("a connected socket starts the handshake and arms a liveness timer of one ping interval")
    func connectedStartsHandshake() {
        var d = HealthDriver()
        d.start()
        let actions = d.socketConnected()
        #expect(actions.count == 2)
        #expect(actions.first == .stateChanged(from: .connecting, to: .handshaking, reason: nil))
        #expect(scheduled(actions).map(\.delay) == [.seconds(5)])
        #expect(d.socketConnected() == [])
    }

    @Test("a completed handshake replays the subscriptions and re-arms the liveness timer")
    func handshakeStartsReplay() {
        var d = HealthDriver()
        d.start()
        d.socketConnected()
        d.advance(by: .seconds(1))
        let actions = d.handshakeCompleted()
        #expect(actions.count == 3)
        #expect(Array(actions.prefix(2)) == [.stateChanged(from: .handshaking, to: .replaying, reason: nil), .replay])
        #expect(scheduled(actions).map(\.delay) == [.seconds(5)])
        #expect(d.handshakeCompleted() == [])
    }

    @Test("a completed replay makes the link healthy, reports the replay time measured from the handshake, and no gap on the first connection")
    func replayMakesHealthy() {
        var d = HealthDriver()
        d.start()
        d.advance(by: .seconds(1))
        d.socketConnected()
        d.advance(by: .milliseconds(700))
        d.handshakeCompleted()
        d.advance(by: .milliseconds(250))
        let actions = d.replayCompleted()
        #expect(actions == [
            .stateChanged(from: .replaying, to: .healthy, reason: nil),
            .replayed(duration: .milliseconds(250)),
        ])
        #expect(d.state == .healthy)
        #expect(d.replayCompleted() == [])
    }

    @Test(
        "a failure in each live state closes the connection exactly once and waits to reconnect",
        arguments: [LinkState.connecting, .handshaking, .replaying, .healthy])
    func failureClosesOnce(from state: LinkState) throws {
        var d = HealthDriver()
        d.drive(to: state)
        let actions = d.failed(eof)
        #expect(actions.first == .close(eof))
        #expect(closes(actions) == [eof])
        #expect(actions.contains(.stateChanged(from: state, to: .waitingToReconnect, reason: eof)))
        let reconnect = try #require(reconnects(actions).first)
        #expect(reconnect.attempt == 0)
        #expect(reconnect.delay == .milliseconds(100), "attempt 0 waits exactly the minimum")
        let timer = try #require(scheduled(actions).last)
        #expect(timer.delay == reconnect.delay)
        #expect(d.state == .waitingToReconnect)

        // Later failures of the same (closed) connection ask for nothing, above all not a second close.
        #expect(d.failed(eof) == [])
        #expect(d.failed(ResubError(.timeout, "late")) == [])

        // The reconnect timer starts a new attempt.
        #expect(d.fire(timer.id) == [.stateChanged(from: .waitingToReconnect, to: .connecting, reason: nil), .connect])
        #expect(d.state == .connecting)
    }

    @Test(
        "a failure reported while idle, waiting to reconnect or stopped is ignored",
        arguments: [LinkState.idle, .waitingToReconnect, .stopped])
    func failureIgnoredWhenNothingIsOpen(in state: LinkState) {
        var d = HealthDriver()
        d.drive(to: state)
        let attempt = d.machine.attempt
        #expect(d.failed(eof) == [])
        #expect(d.state == state)
        #expect(d.machine.attempt == attempt)
    }

    @Test("stop closes an open connection, ends in stopped from every state, and nothing happens after it", arguments: LinkState.allCases)
    func stopFromEveryState(from state: LinkState) {
        var d = HealthDriver()
        d.drive(to: state)
        let actions = d.stop()
        let hasConnection: Set<LinkState> = [.connecting, .handshaking, .replaying, .healthy]
        if state == .stopped {
            #expect(actions == [])
        } else {
            #expect(closes(actions).map(\.code) == (hasConnection.contains(state) ? [.shutDown] : []))
            #expect(actions.last == .stateChanged(from: state, to: .stopped, reason: nil))
            #expect(actions.count == (hasConnection.contains(state) ? 2 : 1))
        }
        #expect(d.state == .stopped)
        // Every armed timer, the reconnect timer included, is now stale; no input revives the link.
        #expect(d.advance(by: .seconds(60)) == [])
        #expect(d.start() == [])
        #expect(d.socketConnected() == [])
        #expect(d.handshakeCompleted() == [])
        #expect(d.replayCompleted() == [])
        #expect(d.failed(eof) == [])
        #expect(d.stop() == [])
        #expect(d.state == .stopped)
    }

    @Test("timers the machine no longer waits for are ignored, and a timer fires only once")
    func staleTimersAreIgnored() throws {
        var d = HealthDriver()
        d.start()
        let handshakeTimer = try #require(scheduled(d.socketConnected()).first)
        let replayTimer = try #require(scheduled(d.handshakeCompleted()).first)
        d.replayCompleted()
        #expect(d.fire(handshakeTimer.id) == [], "superseded by the handshake's timer")
        let reconnectTimer = try #require(scheduled(d.failed(eof)).first)
        #expect(d.fire(replayTimer.id) == [], "the connection it watched is gone")
        #expect(d.fire(12_345) == [])
        #expect(d.state == .waitingToReconnect)
        #expect(d.fire(reconnectTimer.id) == [.stateChanged(from: .waitingToReconnect, to: .connecting, reason: nil), .connect])
        #expect(d.fire(reconnectTimer.id) == [])
        #expect(d.state == .connecting)
        #expect(Set([handshakeTimer.id, replayTimer.id, reconnectTimer.id]).count == 3, "timer ids are never reused")
    }
}

// MARK: - Liveness

@Suite("Health state machine: idle PING and timeout")
struct HealthStateMachineLivenessTests {
    @Test("an idle healthy link is sent a PING only after a full ping interval without activity")
    func idlePing() {
        var d = HealthDriver()
        d.bringUp()
        let up = d.now
        #expect(d.advance(to: up + .milliseconds(4_999)).contains(.sendPing) == false)
        let actions = d.advance(to: up + .seconds(5))
        #expect(actions.contains(.sendPing))
        #expect(scheduled(actions).map(\.delay) == [.seconds(3)], "the reply is awaited for the ping timeout")
        #expect(d.pings == [up + .seconds(5)])
        #expect(d.state == .healthy)
    }

    @Test("activity postpones the PING to one ping interval after the last byte")
    func activityPostponesPing() {
        var d = HealthDriver()
        d.bringUp()
        let up = d.now
        d.advance(to: up + .seconds(3))
        d.activity()
        #expect(d.advance(to: up + .milliseconds(7_999)).contains(.sendPing) == false)
        #expect(d.advance(to: up + .seconds(8)).contains(.sendPing))
        #expect(d.pings == [up + .seconds(8)])
    }

    @Test("a busy link is never pinged and stays healthy")
    func busyLinkIsNeverPinged() {
        var d = HealthDriver()
        d.bringUp()
        d.busy(for: .seconds(600), every: .milliseconds(4_900))
        #expect(d.pings.isEmpty)
        #expect(closes(d.log.map(\.action)).isEmpty)
        #expect(d.state == .healthy)
    }

    @Test("no byte within the ping timeout after a PING closes the link with a timeout and schedules a reconnect")
    func pingTimeout() throws {
        var d = HealthDriver()
        d.bringUp()
        let up = d.now
        d.advance(to: up + .seconds(5))
        #expect(d.pings == [up + .seconds(5)])
        #expect(d.advance(to: up + .milliseconds(7_999)) == [])
        let actions = d.advance(to: up + .seconds(8))
        let close = try #require(closes(actions).first)
        #expect(closes(actions).count == 1)
        #expect(close.code == .timeout)
        #expect(actions.contains(.stateChanged(from: .healthy, to: .waitingToReconnect, reason: close)))
        #expect(reconnects(actions).map(\.attempt) == [0])
        #expect(d.state == .waitingToReconnect)
    }

    @Test("a reply after the PING keeps the link healthy and the next PING waits a full interval after it")
    func replyKeepsHealthy() {
        var d = HealthDriver()
        d.bringUp()
        let up = d.now
        d.advance(to: up + .seconds(5))
        d.advance(to: up + .milliseconds(5_200))
        d.activity()  // the PONG
        let quiet = d.advance(to: up + .milliseconds(10_199))
        #expect(closes(quiet).isEmpty)
        #expect(quiet.contains(.sendPing) == false)
        #expect(d.advance(to: up + .milliseconds(10_200)).contains(.sendPing))
        #expect(d.pings == [up + .seconds(5), up + .milliseconds(10_200)])
        #expect(d.state == .healthy)
    }

    @Test("PINGs answered every time keep an otherwise silent link healthy for an hour, one PING per interval of silence")
    func answeredPingsKeepLinkUp() {
        var d = HealthDriver()
        d.bringUp()
        let end = d.now + .seconds(3_600)
        for _ in 0..<100_000 where d.now < end {
            if d.advance(to: min(d.now + .milliseconds(100), end)).contains(.sendPing) {
                d.advance(by: .milliseconds(50))
                d.activity()  // the PONG, 50 ms later
            }
        }
        #expect(d.state == .healthy)
        #expect(closes(d.log.map(\.action)).isEmpty)
        // PING at 5 s, PONG at 5.05 s, next PING 5 s after the PONG: one every 5.05 s.
        #expect((700...720).contains(d.pings.count), "\(d.pings.count) PINGs")
        let spacing = zip(d.pings, d.pings.dropFirst()).map { $0.duration(to: $1) }
        #expect(spacing.allSatisfy { $0 == .milliseconds(5_050) })
    }

    @Test("while handshaking no PING is sent, but a silent handshake dies after ping interval plus ping timeout")
    func handshakeNeverPinged() throws {
        var d = HealthDriver()
        d.start()
        d.socketConnected()
        let connected = d.now
        #expect(d.advance(to: connected + .milliseconds(7_999)).filter { if case .schedule = $0 { false } else { true } } == [])
        let actions = d.advance(to: connected + .seconds(8))
        #expect(closes(actions).map(\.code) == [.timeout])
        #expect(actions.contains(.stateChanged(from: .handshaking, to: .waitingToReconnect, reason: closes(actions).first)))
        #expect(d.pings.isEmpty)
    }

    @Test("a byte during the handshake restarts the silence allowance from that byte")
    func handshakeActivity() {
        var d = HealthDriver()
        d.start()
        d.socketConnected()
        let connected = d.now
        d.advance(to: connected + .seconds(6))
        d.activity()
        #expect(closes(d.advance(to: connected + .milliseconds(13_999))).isEmpty)
        #expect(closes(d.advance(to: connected + .seconds(14))).map(\.code) == [.timeout])
        #expect(d.pings.isEmpty)
    }

    @Test("a replaying link is watched like a healthy one")
    func replayingIsWatched() {
        var d = HealthDriver()
        d.start()
        d.socketConnected()
        d.handshakeCompleted()
        let t = d.now
        #expect(d.advance(to: t + .seconds(5)).contains(.sendPing))
        #expect(closes(d.advance(to: t + .seconds(8))).map(\.code) == [.timeout])
    }
}

// MARK: - Backoff

@Suite("Health state machine: reconnect backoff")
struct HealthStateMachineBackoffTests {
    @Test("repeated failures grow the attempt count and keep each delay between the minimum and the doubling ceiling, capped at the maximum")
    func attemptsGrow() throws {
        for seed in UInt64(1)...20 {
            var d = HealthDriver(seed: seed)
            d.start()
            for n in 0..<15 {
                let actions = d.failed(refused)
                let reconnect = try #require(reconnects(actions).first)
                #expect(reconnect.attempt == n)
                let ceiling = min(Duration.seconds(2), .milliseconds(100) * (1 << n))
                #expect(reconnect.delay >= .milliseconds(100) - .nanoseconds(1))
                #expect(reconnect.delay <= ceiling + .nanoseconds(1), "attempt \(n): \(reconnect.delay) over \(ceiling)")
                #expect(scheduled(actions).map(\.delay) == [reconnect.delay])
                d.advance(by: reconnect.delay)
                #expect(d.state == .connecting)
            }
            #expect(d.machine.attempt == 15)
        }
    }

    @Test("a failure after the link was healthy for resetAfter resets the attempt count to zero")
    func resetAfterLongHealth() throws {
        var d = HealthDriver()
        d.start()
        for _ in 0..<3 {
            d.failed(refused)
            d.advance(to: d.timers.values.max()!)
        }
        #expect(d.machine.attempt == 3)
        d.bringUp()
        d.busy(for: .seconds(30))
        let actions = d.failed(eof)
        #expect(reconnects(actions).map(\.attempt) == [0])
        #expect(reconnects(actions).first?.delay == .milliseconds(100))
        #expect(d.machine.attempt == 1)
    }

    @Test("a failure after a shorter healthy spell keeps counting attempts")
    func noResetAfterShortHealth() {
        var d = HealthDriver()
        d.start()
        for _ in 0..<3 {
            d.failed(refused)
            d.advance(to: d.timers.values.max()!)
        }
        d.bringUp()
        d.busy(for: .milliseconds(29_999))
        #expect(reconnects(d.failed(eof)).map(\.attempt) == [3])
        #expect(d.machine.attempt == 4)
    }

    @Test("time spent replaying does not count as healthy time for the reset")
    func replayTimeDoesNotCount() {
        var d = HealthDriver(configuration(pingInterval: .seconds(60), pingTimeout: .seconds(60)))
        d.start()
        d.failed(refused)
        d.failed(refused)  // ignored: already waiting
        d.advance(to: d.timers.values.max()!)
        d.failed(refused)
        d.advance(to: d.timers.values.max()!)
        #expect(d.machine.attempt == 2)
        d.bringUp(handshake: .seconds(10), replay: .seconds(20))
        d.advance(by: .seconds(15))
        #expect(reconnects(d.failed(eof)).map(\.attempt) == [2])
    }

    @Test("a link that never became healthy does not reset the count, however long it replayed")
    func replayingFailureDoesNotReset() {
        var d = HealthDriver(configuration(pingInterval: .seconds(600), pingTimeout: .seconds(600)))
        d.start()
        d.failed(refused)
        d.advance(to: d.timers.values.max()!)
        d.socketConnected()
        d.handshakeCompleted()
        d.advance(by: .seconds(120))
        #expect(reconnects(d.failed(eof)).map(\.attempt) == [1])
    }
}

@Suite("Backoff, seen from the health monitor")
struct HealthBackoffFunctionTests {
    private let config = BackoffConfiguration(minimum: .milliseconds(100), maximum: .seconds(10), multiplier: 2)

    @Test("the ceiling starts at the minimum, doubles per attempt and stops at the maximum")
    func ceiling() {
        let expected: [Double] = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10, 10, 10]
        for (attempt, seconds) in expected.enumerated() {
            let ceiling = Backoff.ceiling(attempt: attempt, configuration: config)
            #expect(abs(ceiling.seconds - seconds) < 1e-9, "attempt \(attempt): \(ceiling)")
        }
    }

    @Test("huge or negative attempt numbers neither overflow nor leave the range")
    func extremeAttempts() {
        var random = SeededRandom(seed: 7)
        for attempt in [-5, 63, 64, 65, 1_000, Int.max] {
            let ceiling = Backoff.ceiling(attempt: attempt, configuration: config)
            #expect(ceiling <= .seconds(10))
            #expect(ceiling >= .milliseconds(100))
            let delay = Backoff.delay(attempt: attempt, configuration: config, random: &random)
            #expect(delay >= .milliseconds(100) && delay <= .seconds(10))
        }
    }

    @Test("attempt zero waits exactly the minimum")
    func firstDelay() {
        var random = SeededRandom(seed: 3)
        for _ in 0..<100 {
            #expect(Backoff.delay(attempt: 0, configuration: config, random: &random) == .milliseconds(100))
        }
    }

    @Test("delays are jittered over the whole range between the minimum and the ceiling")
    func jitterCoversRange() {
        var random = SeededRandom(seed: 42)
        let samples = (0..<2_000).map { _ in Backoff.delay(attempt: 6, configuration: config, random: &random).seconds }
        #expect(samples.allSatisfy { $0 >= 0.1 && $0 <= 6.4 })
        #expect(samples.min()! < 0.3)
        #expect(samples.max()! > 6.2)
        let mean = samples.reduce(0, +) / Double(samples.count)
        #expect(abs(mean - 3.25) < 0.25, "uniform between 0.1 and 6.4 has mean 3.25, got \(mean)")
    }

    @Test("the same seed gives the same delays")
    func deterministic() {
        var a = SeededRandom(seed: 99)
        var b = SeededRandom(seed: 99)
        for attempt in 0..<20 {
            #expect(Backoff.delay(attempt: attempt, configuration: config, random: &a) == Backoff.delay(attempt: attempt, configuration: config, random: &b))
        }
    }

    @Test("a maximum below the minimum waits the minimum")
    func maximumBelowMinimum() {
        var random = SeededRandom(seed: 5)
        let odd = BackoffConfiguration(minimum: .seconds(1), maximum: .milliseconds(10))
        for attempt in 0..<5 {
            #expect(Backoff.delay(attempt: attempt, configuration: odd, random: &random) == .seconds(1))
        }
    }
}

// MARK: - Gaps

@Suite("Health state machine: gaps")
struct HealthStateMachineGapTests {
    @Test("after an outage ended by a socket error or EOF, the gap runs from the failure to the completed replay")
    func gapAfterEOF() {
        var d = HealthDriver()
        d.bringUp()
        d.busy(for: .seconds(10))
        d.advance(by: .seconds(2))
        let failedAt = d.now
        d.failed(eof)
        // Two refused attempts before the server is back.
        for _ in 0..<2 {
            d.advance(to: d.timers[d.awaitedReconnectTimer!]!)
            #expect(d.state == .connecting)
            d.failed(refused)
        }
        let actions = d.bringUp(handshake: .milliseconds(10), replay: .milliseconds(30))
        #expect(gaps(actions).count == 1)
        #expect(gaps(actions).first?.from == failedAt)
        #expect(gaps(actions).first?.to == d.now)
        #expect(actions.last == .gap(from: failedAt, to: d.now), "reported after the replay")
    }

    @Test("after a timeout the gap starts at the last byte received, not at the moment the link was declared dead")
    func gapAfterTimeout() {
        var d = HealthDriver()
        d.bringUp()
        d.busy(for: .seconds(10))
        let lastByte = d.now
        let died = d.advance(by: .seconds(8))
        #expect(closes(died).map(\.code) == [.timeout])
        let actions = d.bringUp()
        #expect(gaps(actions).map(\.from) == [lastByte])
        #expect(gaps(actions).map(\.to) == [d.now])
    }

    @Test("a failed handshake or replay during an outage does not move the gap's start")
    func failedReconnectKeepsStart() {
        var d = HealthDriver()
        d.bringUp()
        d.advance(by: .seconds(1))
        let failedAt = d.now
        d.failed(eof)
        d.advance(to: d.timers[d.awaitedReconnectTimer!]!)
        d.socketConnected()
        d.advance(by: .seconds(1))
        d.failed(ResubError(.authenticationFailed, "WRONGPASS"))
        d.advance(to: d.timers[d.awaitedReconnectTimer!]!)
        d.socketConnected()
        d.handshakeCompleted()
        d.failed(ResubError(.serverError, "replay refused"))
        let actions = d.bringUp()
        #expect(gaps(actions).map(\.from) == [failedAt])
    }

    @Test("each outage gets its own gap, and a healthy reconnect without an outage none")
    func oneGapPerOutage() {
        var d = HealthDriver()
        let first = d.bringUp()
        #expect(gaps(first).isEmpty)
        var starts: [ManualInstant] = []
        for _ in 0..<3 {
            d.busy(for: .seconds(3))
            starts.append(d.now)
            d.failed(eof)
            let actions = d.bringUp()
            #expect(gaps(actions).map(\.from) == [starts.last!])
        }
        #expect(gaps(d.log.map(\.action)).count == 3)
    }

    @Test("no gap is reported when the first connection never came up")
    func noGapBeforeFirstConnection() {
        var d = HealthDriver()
        d.start()
        d.failed(refused)
        d.advance(to: d.timers[d.awaitedReconnectTimer!]!)
        d.socketConnected()
        d.advance(by: .seconds(8))  // handshake timeout
        #expect(d.state == .waitingToReconnect)
        let actions = d.bringUp()
        #expect(gaps(actions).isEmpty)
    }
}

@Suite("Health state machine: ping period")
struct HealthStateMachinePingPeriodTests {
    @Test("with a ping interval shorter than the timeout, answered PINGs come once per interval, not once per timeout")
    func periodIsTheInterval() {
        var machine = HealthStateMachine<ManualInstant, SeededRandom>(
            configuration: HealthConfiguration(pingInterval: .milliseconds(200), pingTimeout: .seconds(3)),
            random: SeededRandom(seed: 1))
        var now = ManualInstant.zero
        var timers: [Int: ManualInstant] = [:]
        func run(_ actions: [HealthStateMachine<ManualInstant, SeededRandom>.Action]) -> Int {
            var pings = 0
            for action in actions {
                if case .schedule(let t) = action { timers[t.id] = now.advanced(by: t.delay) }
                if case .sendPing = action { pings += 1 }
            }
            return pings
        }
        _ = run(machine.start(now: now))
        _ = run(machine.socketConnected(now: now))
        _ = run(machine.handshakeCompleted(now: now))
        _ = run(machine.replayCompleted(now: now))
        var pings = 0
        // Two seconds of an otherwise idle link whose every PING is answered 10 ms later.
        var pingAt: ManualInstant?
        while now < ManualInstant.zero.advanced(by: .seconds(2)) {
            let next = ([timers.values.min() ?? .zero] + (pingAt.map { [$0.advanced(by: .milliseconds(10))] } ?? [])).min()!
            now = max(now, next)
            if let p = pingAt, now >= p.advanced(by: .milliseconds(10)) {
                machine.activity(now: now)
                pingAt = nil
            }
            for (id, due) in timers where due <= now {
                timers[id] = nil
                let sent = run(machine.timerFired(id, now: now))
                if sent > 0 {
                    pings += sent
                    pingAt = now
                }
            }
            #expect(machine.state == .healthy)
        }
        // One per ~200 ms (+ the 10 ms answer): 8 to 10 in two seconds; with the old behaviour it was 1.
        #expect(pings >= 8 && pings <= 10, "\(pings) PINGs in 2 s")
    }
}
