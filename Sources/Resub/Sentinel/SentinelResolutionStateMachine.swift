import LibeventLoop

/// Finding the master through the sentinels, as a value with no I/O. The sentinels are asked one at a time,
/// in order, with `SENTINEL GET-MASTER-ADDR-BY-NAME` (and `SENTINEL SENTINELS NAME`, whose answer adds the
/// sentinels not yet known). A sentinel that is down, times out or does not know the name is skipped (one
/// ``Action/skipped(_:reason:)`` each, for one log line); the first that answers moves to the front of the
/// list, so the next resolution asks it first. When none answers, the next round starts after a backoff
/// delay (``Backoff``) that grows with every failed round and resets on success.
///
/// Timers are values, as in ``HealthStateMachine``: a timer the machine no longer waits for is ignored.
package struct SentinelResolutionStateMachine<Random: RandomNumberGenerator> {
    /// A timer request.
    package struct Timer: Equatable, Sendable {
        /// Pass this back to ``timerFired(_:)``.
        package var id: Int
        /// How long from now.
        package var delay: Duration
    }

    /// What one sentinel said.
    package enum Answer: Equatable, Sendable {
        /// The master's address, and the other sentinels it knows.
        case master(SocketAddress, peers: [SocketAddress])
        /// The sentinel does not know the master's name.
        case unknownName
        /// No usable answer: connection refused, closed, error reply.
        case failed(ResubError)
    }

    /// What one sentinel last did, for /readyz.
    package enum SentinelStatus: Equatable, Sendable {
        /// Not asked yet.
        case unasked
        /// Answered with the master's address.
        case answered
        /// Did not answer usefully (the reason).
        case failed(String)
    }

    /// What the owner must do.
    package enum Action: Equatable {
        /// Ask this sentinel (open a connection, send the two commands) and feed the outcome back to
        /// ``answered(_:_:)`` with `query`; drop the connection on ``cancel(query:)``.
        case ask(SocketAddress, query: Int)
        /// Abandon this query (it timed out, or a switch made it moot): close its connection.
        case cancel(query: Int)
        /// Arm a timer.
        case schedule(Timer)
        /// A sentinel was skipped (log one line, count a sentinel error).
        case skipped(SocketAddress, reason: ResubError)
        /// The master is known (it may be the same address as before).
        case resolved(SocketAddress)
        /// No sentinel answered; the next round starts after `delay`.
        case retryScheduled(attempt: Int, delay: Duration)
    }

    private enum State: Equatable {
        /// Not started.
        case idle
        /// Waiting for sentinel number `index` of this round (query `query`).
        case asking(query: Int, index: Int)
        /// A round failed; waiting for the retry timer.
        case waitingToRetry
        /// The master is known; nothing in flight.
        case resolved
        /// Stopped for good.
        case stopped
    }

    /// The known sentinels, the one that answered last first.
    package private(set) var sentinels: [SocketAddress]
    /// The master, once known.
    package private(set) var master: SocketAddress?
    /// Each sentinel's last outcome.
    package private(set) var status: [SocketAddress: SentinelStatus] = [:]
    /// Failed rounds since the last answer.
    package private(set) var failedRounds = 0
    private var state: State = .idle
    private let queryTimeout: Duration
    private let backoff: BackoffConfiguration
    private var random: Random
    private var nextID = 0
    private var currentTimer: Int?
    /// The sentinel whose answer gave ``master`` (nil when a `+switch-master` did).
    private var source: SocketAddress?

    /// Creates the machine for `sentinels` (at least one).
    package init(sentinels: [SocketAddress], queryTimeout: Duration, backoff: BackoffConfiguration, random: Random) {
        precondition(!sentinels.isEmpty, "Sentinel mode needs at least one sentinel")
        self.sentinels = Self.unique(sentinels)
        self.queryTimeout = queryTimeout
        self.backoff = backoff
        self.random = random
        for sentinel in self.sentinels { status[sentinel] = .unasked }
    }

    /// Whether a round is in flight.
    package var isAsking: Bool { if case .asking = state { return true } else { return false } }

    /// Find the master (again): at start, after a `+switch-master`, when the master link failed or a node
    /// refused the master role. A resolution already in flight, or waiting for its retry, covers this one.
    package mutating func resolve() -> [Action] {
        switch state {
        case .idle, .resolved:
            return ask(index: 0)
        case .asking, .waitingToRetry, .stopped:
            return []
        }
    }

    /// The outcome of query `query`.
    package mutating func answered(_ query: Int, _ answer: Answer) -> [Action] {
        guard case .asking(let current, let index) = state, current == query else { return [] }  // a stale query
        currentTimer = nil
        let sentinel = sentinels[index]
        switch answer {
        case .master(let address, let peers):
            status[sentinel] = .answered
            sentinels.remove(at: index)
            sentinels.insert(sentinel, at: 0)
            for peer in peers where !sentinels.contains(peer) {
                sentinels.append(peer)
                status[peer] = .unasked
            }
            failedRounds = 0
            master = address
            source = sentinel
            state = .resolved
            return [.resolved(address)]
        case .unknownName:
            return skip(index, ResubError(.serverError, "sentinel \(sentinel) does not know the master name", node: sentinel.description))
        case .failed(var error):
            if error.node == nil { error.node = sentinel.description }
            return skip(index, error)
        }
    }

    /// A `+switch-master` announced `address`: the master is known at once; a query in flight is moot.
    package mutating func switched(to address: SocketAddress) -> [Action] {
        var actions: [Action] = []
        switch state {
        case .stopped: return []
        case .asking(let query, _): actions.append(.cancel(query: query))
        case .idle, .waitingToRetry, .resolved: break
        }
        currentTimer = nil
        failedRounds = 0
        master = address
        source = nil
        state = .resolved
        actions.append(.resolved(address))
        return actions
    }

    /// The node given as master answered `ROLE` with another role: the sentinel that named it is stale, so it
    /// goes to the back of the list (skipped, with the reason) and the others are asked again.
    package mutating func masterRefused(_ reason: ResubError) -> [Action] {
        guard state == .resolved else { return resolve() }
        var actions: [Action] = []
        if let stale = source, let index = sentinels.firstIndex(of: stale), sentinels.count > 1 {
            sentinels.remove(at: index)
            sentinels.append(stale)
            status[stale] = .failed(reason.message)
            actions.append(.skipped(stale, reason: reason))
        }
        source = nil
        master = nil
        return actions + ask(index: 0)
    }

    /// A timer fired.
    package mutating func timerFired(_ id: Int) -> [Action] {
        guard id == currentTimer else { return [] }
        currentTimer = nil
        switch state {
        case .asking(let query, let index):
            let sentinel = sentinels[index]
            return [.cancel(query: query)] + skip(index, ResubError(.timeout, "sentinel \(sentinel) did not answer within \(queryTimeout.short)", node: sentinel.description))
        case .waitingToRetry:
            return ask(index: 0)
        case .idle, .resolved, .stopped:
            preconditionFailure("a current timer fired in state \(state)")
        }
    }

    /// Stop for good: abandon whatever is in flight.
    package mutating func stop() -> [Action] {
        defer {
            state = .stopped
            currentTimer = nil
        }
        if case .asking(let query, _) = state { return [.cancel(query: query)] }
        return []
    }

    private mutating func skip(_ index: Int, _ reason: ResubError) -> [Action] {
        status[sentinels[index]] = .failed(reason.message)
        let actions: [Action] = [.skipped(sentinels[index], reason: reason)]
        if index + 1 < sentinels.count { return actions + ask(index: index + 1) }
        let delay = Backoff.delay(attempt: failedRounds, configuration: backoff, random: &random)
        failedRounds += 1
        state = .waitingToRetry
        return actions + [.retryScheduled(attempt: failedRounds, delay: delay), schedule(delay)]
    }

    private mutating func ask(index: Int) -> [Action] {
        nextID += 1
        state = .asking(query: nextID, index: index)
        return [.ask(sentinels[index], query: nextID), schedule(queryTimeout)]
    }

    private mutating func schedule(_ delay: Duration) -> Action {
        nextID += 1
        currentTimer = nextID
        return .schedule(Timer(id: nextID, delay: max(delay, .milliseconds(1))))
    }

    private static func unique(_ list: [SocketAddress]) -> [SocketAddress] {
        var seen = Set<SocketAddress>()
        return list.filter { seen.insert($0).inserted }
    }
}
