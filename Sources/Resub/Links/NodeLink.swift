import LibeventLoop
import RESP

/// One server's subscription link. It keeps a connection open under a ``HealthStateMachine`` (idle PING,
/// timeout, reconnect with backoff and jitter), converges the server's subscriptions to the desired set
/// through a ``SubscriptionStateMachine`` (the whole set is replayed on every connect and the
/// confirmations counted), and turns incoming messages into batches. Loop-only.
package final class NodeLink: ConnectionDelegate, @unchecked Sendable {
    package typealias Health = HealthStateMachine<ContinuousClock.Instant, SystemRandomNumberGenerator>
    package typealias Subscriptions = SubscriptionStateMachine<ContinuousClock.Instant>

    package let loop: EventLoop
    package private(set) var configuration: ConnectionConfiguration
    package private(set) var health: Health
    package private(set) var subscriptions: Subscriptions
    package private(set) var connection: Connection?
    /// `host:port` (or `unix:/path`).
    package private(set) var node: String
    /// When set, asked for the endpoint before each new connection after the first (a link that may move
    /// to another node: the cluster's link for plain channels and patterns).
    package var nextEndpoint: (() -> RedisEndpoint?)?
    /// Whether a subscription the server drops on its own is asked for again on this link (standalone), or
    /// left to the owner to re-route (a cluster shard link: the slot moved elsewhere).
    package var resubscribesLost = true

    private var timers: [Int: TimerEvent] = [:]
    /// Changes waiting for the server, by ticket.
    private var waiters: [Int: (SubscriptionChangeResult) -> Void] = [:]
    /// The refused names' retry timer and when it fires.
    private var retryTimer: TimerEvent?
    private var retryDue: ContinuousClock.Instant?
    /// Why the link last went down (cleared when it is healthy again).
    package private(set) var lastError: ResubError?
    private var builder = MessageBatchBuilder()
    private let onBatch: (MessageBatch) -> Void
    private let onEvent: (SubscriberEvent) -> Void
    /// Flush a batch mid-read once it holds this many bytes, to bound memory per batch.
    private let maxBatchBytes = 1 << 20

    /// Creates an idle link; call ``start()``. Loop-only.
    package init(
        loop: EventLoop,
        configuration: ConnectionConfiguration,
        health: HealthConfiguration,
        desired: SubscriptionSet,
        replayBatchSize: Int,
        onBatch: @escaping (MessageBatch) -> Void,
        onEvent: @escaping (SubscriberEvent) -> Void
    ) {
        self.loop = loop
        self.configuration = configuration
        self.health = Health(configuration: health, random: SystemRandomNumberGenerator())
        self.subscriptions = Subscriptions(desired: desired, batchSize: replayBatchSize, retryBackoff: health.backoff)
        self.node = configuration.endpoint.address.description
        self.onBatch = onBatch
        self.onEvent = onEvent
    }

    /// The link's health state.
    package var state: LinkState { health.state }
    /// Whether ``stop()`` was called.
    package var isStopped: Bool { health.state == .stopped }

    /// Opens the first connection. Loop-only.
    package func start() {
        loop.assertInLoop()
        apply(health.start(now: .now))
    }

    /// The desired set (a view built on demand).
    package var desired: SubscriptionSet { subscriptions.desired }
    /// What the server has confirmed (a view built on demand).
    package var confirmed: SubscriptionSet { subscriptions.confirmed }
    /// How many names of `kind` are desired.
    package func desiredCount(_ kind: SubscriptionKind) -> Int { subscriptions.desiredCount(kind) }
    /// The desired names the server refuses.
    package var refusals: [SubscriptionRefusal] { subscriptions.refusals }

    /// Pauses or resumes reading from the server, on this and later connections. Loop-only.
    package var isReadingPaused = false {
        didSet { connection?.isReadingPaused = isReadingPaused }
    }

    // MARK: Carrying out the health monitor's actions

    private func apply(_ actions: [Health.Action]) {
        for action in actions {
            switch action {
            case .connect:
                if health.attempt > 0, let endpoint = nextEndpoint?() {
                    configuration.endpoint = endpoint
                    node = endpoint.address.description
                }
                onEvent(.connecting(node: node, attempt: health.attempt))
                let connection = Connection(loop: loop, configuration: configuration, delegate: self)
                connection.isReadingPaused = isReadingPaused
                self.connection = connection
            case .sendPing:
                connection?.ping { _ in }  // any byte received is life; the reply itself needs no handling
            case .replay:
                replay()
            case .close(let error):
                flushBatch()
                connection?.disconnect()
                connection = nil
                carry(subscriptions.disconnected())
                if error.code != .shutDown { onEvent(.disconnected(node: node, reason: error)) }
            case .schedule(let timer):
                let id = timer.id
                timers[id] = loop.scheduleTimer(after: timer.delay) { [weak self] in
                    guard let self else { return }
                    self.timers[id] = nil
                    self.apply(self.health.timerFired(id, now: .now))
                }
            case .stateChanged(let from, let to, let reason):
                if let reason { lastError = reason } else if to == .healthy { lastError = nil }
                onEvent(.stateChanged(node: node, from: from, to: to, reason: reason))
            case .reconnectScheduled(let attempt, let delay):
                onEvent(.reconnectScheduled(node: node, attempt: attempt, delay: delay))
            case .replayed(let duration):
                onEvent(.resubscribed(
                    node: node, channels: desiredCount(.channel), patterns: desiredCount(.pattern),
                    shardChannels: desiredCount(.shardChannel), duration: duration))
            case .gap(let from, let to):
                let now = ContinuousClock.now
                let wall = RFC3339.wallClockSeconds()
                func toWall(_ instant: ContinuousClock.Instant) -> Double { wall - instant.duration(to: now).seconds }
                onEvent(.gap(Gap(from: toWall(from), to: toWall(to), node: node, subscriptions: subscriptions.desired)))
            }
        }
    }

    /// Replays the desired set on the current connection, pipelined; the health monitor hears of it only
    /// when every replayed name was confirmed or refused. A refused name does not fail the replay: it is
    /// reported once and retried on its own backoff (reconnecting would not change the server's answer).
    private func replay() {
        carry(subscriptions.connected())
    }

    // MARK: Changing subscriptions

    /// Adds or removes names. `completion` gets, name by name, whether the server confirmed it, whether it
    /// is queued (no connection ready: the replay on connect applies it) or the server's refusal. Loop-only.
    package func apply(_ change: SubscriptionChange, completion: @escaping (SubscriptionChangeResult) -> Void) {
        loop.assertInLoop()
        guard !isStopped else {
            var result = SubscriptionChangeResult()
            result.queued = change.names  // a stopped link sends nothing more
            return completion(result)
        }
        let (ticket, output) = subscriptions.apply(change, now: .now)
        waiters[ticket] = completion
        carry(output)
    }

    /// Carries out the subscription machine's output: sends its commands pipelined in one write, answers
    /// finished changes, reports refusals and restorations, and keeps the retry timer on the next due name.
    private func carry(_ output: Subscriptions.Output) {
        if !output.commands.isEmpty, let connection, connection.state == .ready {
            for command in output.commands {
                connection.sendSubscription(command.kind, subscribe: command.subscribe, names: subscriptions.names(command)) { [weak self] result in
                    guard let self else { return }
                    switch result {
                    case .success:
                        self.onEvent(command.subscribe
                            ? .subscribed(kind: command.kind, count: command.rows.count, node: connection.node)
                            : .unsubscribed(kind: command.kind, count: command.rows.count, node: connection.node))
                        self.carry(self.subscriptions.completed(command))
                    case .failure(let error) where error.code == .serverError:
                        self.carry(self.subscriptions.refused(command, error: error.serverError ?? error.message, now: .now))
                    case .failure:
                        break  // the connection closed: the machine's disconnected() answers for it
                    }
                }
            }
            connection.flush()
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
        if output.replayCompleted { apply(health.replayCompleted(now: .now)) }
        scheduleRetry()
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
        retryTimer = loop.scheduleTimer(after: max(.zero, ContinuousClock.now.duration(to: due))) { [weak self] in
            guard let self else { return }
            self.retryTimer = nil
            self.carry(self.subscriptions.retryDue(now: .now))
        }
    }

    // MARK: Stopping

    /// Closes the connection at once and stops reconnecting. Harmless when repeated. Loop-only.
    package func stop() {
        loop.assertInLoop()
        apply(health.stop(now: .now))
        for timer in timers.values { timer.cancel() }
        timers = [:]
        flushBatch()
        connection?.disconnect()
        connection = nil
        carry(subscriptions.disconnected())
        retryTimer?.cancel()
        retryTimer = nil
    }

    // MARK: ConnectionDelegate

    package func connectionDidConnect(_ connection: Connection) {
        guard connection === self.connection else { return }
        apply(health.socketConnected(now: .now))
    }

    package func connectionDidBecomeReady(_ connection: Connection) {
        guard connection === self.connection else { return }
        onEvent(.connected(node: node, protocolVersion: connection.protocolVersion))
        apply(health.handshakeCompleted(now: .now))
    }

    package func connection(_ connection: Connection, didReceive message: RESPMessageView) {
        builder.append(
            kind: message.kind, pattern: message.pattern,
            channel: message.channel, payload: message.payload)
        if builder.byteCount >= maxBatchBytes { flushBatch() }
    }

    package func connectionDidFinishReading(_ connection: Connection) {
        health.activity(now: .now)
        flushBatch()
    }

    private func flushBatch() {
        guard !builder.isEmpty else { return }
        onBatch(builder.take(node: node))
    }

    package func connection(_ connection: Connection, unsolicited kind: SubscriptionKind, subscribe: Bool, name: [UInt8]) {
        guard !subscribe else { return }  // nothing unasks us to subscribe; ignore such a frame
        let name = String(decoding: name, as: UTF8.self)
        onEvent(.subscriptionLost(kind: kind, name: name, node: node))
        carry(subscriptions.lost(kind, name: name, resubscribe: resubscribesLost))
    }

    package func connection(_ connection: Connection, didReceivePush value: RESPValue) {
        // Other pushes (client tracking invalidations, …) are not ours to handle.
    }

    package func connection(_ connection: Connection, didCloseWith error: ResubError) {
        guard connection === self.connection else { return }
        apply(health.failed(error, now: .now))
    }
}
