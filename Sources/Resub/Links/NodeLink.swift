import DequeModule
import LibeventLoop
import RESP

/// One server's subscription link. It keeps a connection open under a ``LinkSupervisor`` (idle PING,
/// timeout, reconnect with backoff and jitter), converges the server's subscriptions to the desired set
/// through a ``SubscriptionStateMachine`` (the whole set is replayed on every connect and the
/// confirmations counted), and turns incoming messages into batches. Loop-only.
package final class NodeLink: @unchecked Sendable {
    /// The supervisor of a node link: the continuous clock and the system's random generator.
    package typealias Supervisor = LinkSupervisor<ContinuousClock.Instant, SystemRandomNumberGenerator>
    /// The subscription machine of a node link, on the continuous clock.
    package typealias Subscriptions = SubscriptionStateMachine<ContinuousClock.Instant>

    /// Keeps the connection alive (Sentinel's monitor hooks its ROLE check and the master's endpoint in here).
    package let supervisor: Supervisor
    private let timers: any TimerScheduler
    private let now: () -> ContinuousClock.Instant
    package private(set) var subscriptions: Subscriptions
    /// The current connection (nil between connections).
    package var connection: Connection? { supervisor.connection }
    /// `host:port` (or `unix:/path`).
    package var node: String { supervisor.node }
    /// When set, asked for the endpoint before each new connection after the first (a link that may move
    /// to another node: the cluster's link for plain channels and patterns).
    package var nextEndpoint: (() -> RedisEndpoint?)? {
        get { supervisor.nextEndpoint }
        set { supervisor.nextEndpoint = newValue }
    }
    /// Whether a subscription the server drops on its own is asked for again on this link (standalone), or
    /// left to the owner to re-route (a cluster shard link: the slot moved elsewhere).
    package var resubscribesLost = true

    /// Changes waiting for the server, by ticket.
    private var waiters: [Int: (SubscriptionChangeResult) -> Void] = [:]
    /// The refused names' retry timer and when it fires.
    private var retryTimer: (any ScheduledTimer)?
    private var retryDue: ContinuousClock.Instant?
    /// Commands the machine emitted and not written yet, oldest first, for `unsentConnection`. They go out a
    /// slice of ``sliceNames`` names per loop turn: encoded all at once, a replay of 1,000,000 names (20 MB of
    /// commands) kept the server idle for the ~0.4 s that took; sliced, it starts on the first slice at once.
    private var unsent: Deque<Subscriptions.Command> = []
    private weak var unsentConnection: Connection?
    private var unsentTimer: (any ScheduledTimer)?
    /// About 0.7 MB of commands: well under what the server takes to process before the next turn comes.
    package static let sliceNames = 32_768

    /// Why the link last went down (cleared when it is healthy again).
    package var lastError: ResubError? { supervisor.lastError }
    private let onBatch: (MessageBatch) -> Void
    private let onEvent: (SubscriberEvent) -> Void

    /// Creates an idle link in `environment` (`.loop(loop)`; tests pass fake transports and a manual
    /// scheduler); call ``start()``. Loop-only.
    package init(
        environment: LinkEnvironment<ContinuousClock.Instant>,
        configuration: ConnectionConfiguration,
        health: HealthConfiguration,
        configured: SubscriptionTable,
        replayBatchSize: Int,
        onBatch: @escaping (MessageBatch) -> Void,
        onEvent: @escaping (SubscriberEvent) -> Void
    ) {
        self.supervisor = Supervisor(
            configuration: configuration, health: health, random: SystemRandomNumberGenerator(), environment: environment)
        self.timers = environment.timers
        self.now = environment.now
        self.subscriptions = Subscriptions(configured: configured, batchSize: replayBatchSize, retryBackoff: health.backoff)
        self.onBatch = onBatch
        self.onEvent = onEvent
        supervisor.onEvent = onEvent
        supervisor.setUp = { [unowned self] _ in self.replay() }
        supervisor.collector.onFull = { [unowned self] in self.flushBatch() }
        supervisor.onReadFinished = { [unowned self] in self.flushBatch() }
        supervisor.onUnsolicited = { [unowned self] connection, event in self.unsolicited(event, on: connection) }
        supervisor.onClose = { [unowned self] _ in
            self.flushBatch()
            self.dropUnsent()
            self.carry(self.subscriptions.disconnected())
        }
        supervisor.onSetUpCompleted = { [unowned self] duration in
            self.onEvent(.resubscribed(
                node: self.node, channels: self.desiredCount(.channel), patterns: self.desiredCount(.pattern),
                shardChannels: self.desiredCount(.shardChannel), duration: duration))
        }
        supervisor.onGap = { [unowned self] from, to in
            self.onEvent(.gap(Gap(from: from, to: to, node: self.node, names: self.subscriptions.table)))
        }
    }

    /// The link's health state.
    package var state: LinkState { supervisor.state }
    /// Whether ``stop()`` was called.
    package var isStopped: Bool { supervisor.state == .stopped }

    /// Opens the first connection. Loop-only.
    package func start() {
        supervisor.start()
    }

    /// The desired set (a view built on demand).
    package var desired: SubscriptionSet { subscriptions.desired }
    /// What the server has confirmed (a view built on demand).
    package var confirmed: SubscriptionSet { subscriptions.confirmed }
    /// The desired keyspace/keyevent channels and patterns (no other name copied).
    package var desiredNodeLocal: [String] { subscriptions.desiredNodeLocal }
    /// How many names of `kind` are desired.
    package func desiredCount(_ kind: SubscriptionKind) -> Int { subscriptions.desiredCount(kind) }
    /// The desired names the server refuses.
    package var refusals: [SubscriptionRefusal] { subscriptions.refusals }

    /// Pauses or resumes reading from the server, on this and later connections. Loop-only.
    package var isReadingPaused: Bool {
        get { supervisor.isReadingPaused }
        set { supervisor.isReadingPaused = newValue }
    }

    /// Serves `endpoint` from now on (Sentinel named a new master); see ``LinkSupervisor/follow(_:)``. Loop-only.
    package func follow(_ endpoint: RedisEndpoint) {
        supervisor.follow(endpoint)
    }

    /// Replays the desired set on the current connection, pipelined; the supervisor hears of it only when
    /// every replayed name was confirmed or refused. A refused name does not fail the replay: it is reported
    /// once and retried on its own backoff (reconnecting would not change the server's answer).
    private func replay() {
        carry(subscriptions.connected())
    }

    // MARK: Changing subscriptions

    /// Adds or removes names. `completion` gets, name by name, whether the server confirmed it, whether it
    /// is queued (no connection ready: the replay on connect applies it) or the server's refusal. Loop-only.
    package func apply(_ change: SubscriptionChange, completion: @escaping (SubscriptionChangeResult) -> Void) {
        timers.assertInLoop(file: #fileID, line: #line)
        guard !isStopped else {
            var result = SubscriptionChangeResult()
            result.queued = change.names  // a stopped link sends nothing more
            return completion(result)
        }
        let (ticket, output) = subscriptions.apply(change, now: now())
        waiters[ticket] = completion
        carry(output)
    }

    /// Carries out the subscription machine's output: sends its commands pipelined (``sendUnsent()``), answers
    /// finished changes, reports refusals and restorations, and keeps the retry timer on the next due name.
    private func carry(_ output: Subscriptions.Output) {
        if !output.commands.isEmpty, let connection, connection.state == .ready {
            if unsentConnection !== connection {
                dropUnsent()
                unsentConnection = connection
            }
            unsent.append(contentsOf: output.commands)
            sendUnsent()
        }
        for refusal in output.refusals {
            onEvent(.subscriptionFailed(
                kind: refusal.kind, names: [refusal.name],
                error: ResubError(.serverError, refusal.error, serverError: refusal.error)))
        }
        for restored in output.restored {
            onEvent(.subscriptionRestored(kind: restored.kind, name: restored.name, node: node))
        }
        for finished in output.finished {
            waiters.removeValue(forKey: finished.ticket)?(finished.result)
        }
        if output.replayCompleted { supervisor.setUpCompleted() }
        scheduleRetry()
    }

    /// Writes the oldest unsent commands, up to ``sliceNames`` names (at least one command), in one write, and
    /// comes back on the next loop turn for the rest. Commands keep the order the machine emitted them in.
    private func sendUnsent() {
        unsentTimer?.cancel()
        unsentTimer = nil
        guard let connection = unsentConnection, connection === self.connection, connection.state == .ready else {
            return dropUnsent()  // that connection is gone: the machine's disconnected() answers for its commands
        }
        var names = 0
        while names < Self.sliceNames, let command = unsent.popFirst() {
            names += command.rows.count
            connection.sendSubscription(command.kind, subscribe: command.subscribe, names: subscriptions.names(command)) { [weak self] result in
                guard let self else { return }
                switch result {
                case .success:
                    self.onEvent(command.subscribe
                        ? .subscribed(kind: command.kind, count: command.rows.count, node: connection.node)
                        : .unsubscribed(kind: command.kind, count: command.rows.count, node: connection.node))
                    self.carry(self.subscriptions.completed(command))
                case .failure(let error) where error.code == .serverError:
                    self.carry(self.subscriptions.refused(command, error: error.serverError ?? error.message, now: self.now()))
                case .failure:
                    break  // the connection closed: the machine's disconnected() answers for it
                }
            }
        }
        connection.flush()
        if !unsent.isEmpty {
            unsentTimer = timers.scheduleOnce(after: .zero) { [weak self] in self?.sendUnsent() }
        }
    }

    private func dropUnsent() {
        unsent.removeAll()
        unsentConnection = nil
        unsentTimer?.cancel()
        unsentTimer = nil
    }

    /// Keeps one timer on the earliest refused name's retry.
    private func scheduleRetry() {
        guard let due = subscriptions.nextRetry, subscriptions.isConnected, !isStopped else {
            retryTimer?.cancel()
            retryTimer = nil
            return
        }
        if let retryDue, retryTimer != nil, retryDue <= due { return }
        retryTimer?.cancel()
        retryDue = due
        retryTimer = timers.scheduleOnce(after: max(.zero, now().duration(to: due))) { [weak self] in
            guard let self else { return }
            self.retryTimer = nil
            self.carry(self.subscriptions.retryDue(now: self.now()))
        }
    }

    // MARK: Stopping

    /// Closes the connection at once and stops reconnecting. Harmless when repeated. Loop-only.
    package func stop() {
        supervisor.stop()
        dropUnsent()
        flushBatch()
        carry(subscriptions.disconnected())
        retryTimer?.cancel()
        retryTimer = nil
    }

    // MARK: What the connection delivers

    private func flushBatch() {
        guard !supervisor.collector.isEmpty else { return }
        onBatch(supervisor.collector.take(node: node))
    }

    private func unsolicited(_ event: ConnectionEvent, on connection: Connection) {
        // Other pushes (client tracking invalidations, …) are not ours to handle.
        guard case .unsolicited(let kind, let subscribe, let bytes) = event else { return }
        guard !subscribe else { return }  // nothing unasks us to subscribe; ignore such a frame
        let name = String(decoding: bytes, as: UTF8.self)
        onEvent(.subscriptionLost(kind: kind, name: name, node: node))
        carry(subscriptions.lost(kind, name: name, resubscribe: resubscribesLost))
    }
}
