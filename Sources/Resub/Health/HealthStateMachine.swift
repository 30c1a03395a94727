/// The health monitor of one link, as a value with no I/O: it is told what happened (connected, bytes
/// arrived, a timer fired, a failure) with the current time, and answers with actions for its owner to
/// carry out (connect, send PING, close, schedule a timer, report).
///
/// Liveness rule: a link that has received nothing for `pingInterval` is sent a PING (legal in subscribed
/// mode); if no byte of any kind arrives within `pingTimeout` after it, the link is dead. Any byte counts
/// as life, so a busy link is never PINGed. While handshaking no PING is sent (it could precede AUTH), but
/// the same interval + timeout bounds how long the server may stay silent.
///
/// Timers are values: the machine asks for "timer 7 in 400 ms"; the owner later calls
/// ``timerFired(_:now:)`` with 7. A timer the machine no longer waits for (stale id) is ignored, so the
/// owner never has to cancel timers to stay correct (only to free them at shutdown).
///
/// Backoff: after a failure, attempt `n` waits ``Backoff/delay(attempt:configuration:random:)``; the count
/// resets only when the failed connection had been healthy for `backoff.resetAfter`.
package struct HealthStateMachine<Instant: InstantProtocol, Random: RandomNumberGenerator> where Instant.Duration == Duration {
    /// A timer request.
    package struct Timer: Equatable, Sendable {
        /// Pass this back to ``timerFired(_:now:)``.
        package var id: Int
        /// How long from now.
        package var delay: Duration
    }

    /// What the owner must do, in order.
    package enum Action: Equatable {
        /// Open a new connection.
        case connect
        /// Send PING on the current connection.
        case sendPing
        /// Replay every desired subscription on the (just logged-in) connection.
        case replay
        /// Close the current connection (once; the machine never asks twice for one connection).
        case close(ResubError)
        /// Arm a timer.
        case schedule(Timer)
        /// The state changed (log it: one line per change).
        case stateChanged(from: LinkState, to: LinkState, reason: ResubError?)
        /// The next attempt is due after `delay`.
        case reconnectScheduled(attempt: Int, delay: Duration)
        /// The replay completed: every desired subscription is confirmed again.
        case replayed(duration: Duration)
        /// An outage ended: messages published between `from` and `to` may have been missed.
        case gap(from: Instant, to: Instant)
    }

    package private(set) var state: LinkState = .idle
    /// Failed attempts since the last connection that stayed healthy long enough.
    package private(set) var attempt = 0
    package let configuration: HealthConfiguration
    private var random: Random
    private var nextTimerID = 0
    /// The timer the machine waits for now (liveness, handshake or reconnect); others are stale.
    private var currentTimer: Int?
    private var lastActivity: Instant?
    private var pingSentAt: Instant?
    private var activitySincePing = false
    private var replayStartedAt: Instant?
    private var healthySince: Instant?
    /// When the current outage began (nil while no outage is open).
    private var outageStart: Instant?
    /// Whether a link was ever up (handshake done): an outage is only reported after one.
    private var everUp = false

    /// Creates the machine in ``LinkState/idle``.
    package init(configuration: HealthConfiguration, random: Random) {
        self.configuration = configuration
        self.random = random
    }

    private mutating func transition(_ to: LinkState, reason: ResubError? = nil, into actions: inout [Action]) {
        guard state != to else { return }
        actions.append(.stateChanged(from: state, to: to, reason: reason))
        state = to
    }

    private mutating func schedule(_ delay: Duration, into actions: inout [Action]) {
        nextTimerID += 1
        currentTimer = nextTimerID
        actions.append(.schedule(Timer(id: nextTimerID, delay: max(delay, .milliseconds(1)))))
    }

    // MARK: Inputs

    /// Begin: connect.
    package mutating func start(now: Instant) -> [Action] {
        guard state == .idle else { return [] }
        var actions: [Action] = []
        transition(.connecting, into: &actions)
        actions.append(.connect)
        return actions
    }

    /// The socket connected; the handshake starts.
    package mutating func socketConnected(now: Instant) -> [Action] {
        guard state == .connecting else { return [] }
        var actions: [Action] = []
        transition(.handshaking, into: &actions)
        lastActivity = now
        pingSentAt = nil
        schedule(configuration.pingInterval, into: &actions)
        return actions
    }

    /// The handshake finished: replay the subscriptions.
    package mutating func handshakeCompleted(now: Instant) -> [Action] {
        guard state == .handshaking else { return [] }
        var actions: [Action] = []
        transition(.replaying, into: &actions)
        everUp = true
        replayStartedAt = now
        lastActivity = now
        pingSentAt = nil
        actions.append(.replay)
        schedule(configuration.pingInterval, into: &actions)
        return actions
    }

    /// Every replayed subscription was confirmed.
    package mutating func replayCompleted(now: Instant) -> [Action] {
        guard state == .replaying else { return [] }
        var actions: [Action] = []
        transition(.healthy, into: &actions)
        healthySince = now
        if let started = replayStartedAt { actions.append(.replayed(duration: started.duration(to: now))) }
        if let outageStart {
            actions.append(.gap(from: outageStart, to: now))
            self.outageStart = nil
        }
        return actions
    }

    /// Bytes arrived on the current connection.
    package mutating func activity(now: Instant) {
        lastActivity = now
        activitySincePing = true
    }

    /// The connection failed (socket error, EOF, protocol error, handshake or replay refused) or the owner
    /// gives up on it. Closes it once and schedules the next attempt.
    package mutating func failed(_ error: ResubError, now: Instant) -> [Action] {
        switch state {
        case .connecting, .handshaking, .replaying, .healthy:
            break
        case .idle, .waitingToReconnect, .stopped:
            return []
        }
        var actions: [Action] = [.close(error)]
        if everUp, outageStart == nil, state == .replaying || state == .healthy || state == .handshaking {
            // A timeout means nothing has been received since the last activity; a socket error or EOF means
            // the link could receive until now.
            outageStart = error.code == .timeout ? min(lastActivity ?? now, now) : now
        }
        if let healthySince, state == .healthy, healthySince.duration(to: now) >= configuration.backoff.resetAfter {
            attempt = 0
        }
        healthySince = nil
        pingSentAt = nil
        var delay = Backoff.delay(attempt: attempt, configuration: configuration.backoff, random: &random)
        if error.code == .authenticationFailed {
            // A wrong password will not fix itself in 100 ms: retry at the cap (with a little jitter so a
            // fleet does not retry in lockstep), not in a burst.
            let cap = configuration.backoff.maximum
            delay = cap - cap * Double.random(in: 0...0.1, using: &random)
        }
        transition(.waitingToReconnect, reason: error, into: &actions)
        actions.append(.reconnectScheduled(attempt: attempt, delay: delay))
        attempt += 1
        schedule(delay, into: &actions)
        return actions
    }

    /// A timer fired. Stale ids are ignored.
    package mutating func timerFired(_ id: Int, now: Instant) -> [Action] {
        guard id == currentTimer else { return [] }
        currentTimer = nil
        var actions: [Action] = []
        switch state {
        case .waitingToReconnect:
            transition(.connecting, into: &actions)
            actions.append(.connect)
        case .handshaking, .replaying, .healthy:
            let last = lastActivity ?? now
            if let sent = pingSentAt {
                if activitySincePing {
                    pingSentAt = nil
                    schedule(configuration.pingInterval - last.duration(to: now), into: &actions)
                } else if sent.duration(to: now) >= configuration.pingTimeout {
                    let waited = last.duration(to: now)
                    return failed(ResubError(.timeout, "no reply within \(configuration.pingTimeout.short) of a PING (nothing received for \(waited.short))"), now: now)
                } else {
                    // Look again when the timeout ends, or sooner (one interval) so that an answered PING is
                    // noticed in time for the next one to keep the ping-interval period.
                    schedule(min(configuration.pingTimeout - sent.duration(to: now), configuration.pingInterval), into: &actions)
                }
            } else if last.duration(to: now) >= configuration.pingInterval {
                pingSentAt = now
                activitySincePing = false
                if state != .handshaking { actions.append(.sendPing) }
                schedule(min(configuration.pingTimeout, configuration.pingInterval), into: &actions)
            } else {
                schedule(configuration.pingInterval - last.duration(to: now), into: &actions)
            }
        case .idle, .connecting, .stopped:
            break
        }
        return actions
    }

    /// Stop for good: close whatever is open.
    package mutating func stop(now: Instant) -> [Action] {
        guard state != .stopped else { return [] }
        var actions: [Action] = []
        if state != .idle && state != .waitingToReconnect {
            actions.append(.close(ResubError(.shutDown, "link stopped")))
        }
        currentTimer = nil
        transition(.stopped, into: &actions)
        return actions
    }
}
