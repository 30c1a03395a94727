import LibeventLoop
import RESP

/// One server's subscription link. It keeps a connection open under a ``HealthStateMachine`` (idle PING,
/// timeout, reconnect with backoff and jitter), converges the server's subscriptions to the desired set
/// through a ``SubscriptionStateMachine`` (the whole set is replayed on every connect and the
/// confirmations counted), and turns incoming messages into batches. Loop-only.
package final class NodeLink: ConnectionDelegate, @unchecked Sendable {
    package typealias Health = HealthStateMachine<ContinuousClock.Instant, SystemRandomNumberGenerator>

    package let loop: EventLoop
    package private(set) var configuration: ConnectionConfiguration
    package private(set) var health: Health
    package private(set) var subscriptions: SubscriptionStateMachine
    package private(set) var connection: Connection?
    /// `host:port` (or `unix:/path`).
    package private(set) var node: String
    /// When set, asked for the endpoint before each new connection after the first (a link that may move
    /// to another node: the cluster's link for plain channels and patterns).
    package var nextEndpoint: (() -> RedisEndpoint?)?
    /// Whether a subscription the server drops on its own is asked for again on this link (standalone), or
    /// left to the owner to re-route (a cluster shard link: the slot moved elsewhere).
    package var resubscribesLost = true
    /// When set, run on every new connection before the replay (Sentinel's ROLE check); an error fails the
    /// link instead of subscribing.
    package var beforeReplay: ((Connection, @escaping (ResubError?) -> Void) -> Void)?

    private var timers: [Int: TimerEvent] = [:]
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
        self.subscriptions = SubscriptionStateMachine(desired: desired, batchSize: replayBatchSize)
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

    /// The desired set.
    package var desired: SubscriptionSet { subscriptions.desired }
    /// What the server has confirmed.
    package var confirmed: SubscriptionSet { subscriptions.confirmed }

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
                guard let beforeReplay, let connection else {
                    replay()
                    break
                }
                beforeReplay(connection) { [weak self] error in
                    guard let self, connection === self.connection else { return }
                    if let error { self.apply(self.health.failed(error, now: .now)) } else { self.replay() }
                }
            case .close(let error):
                flushBatch()
                connection?.disconnect()
                connection = nil
                subscriptions.disconnected()
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
                let desired = subscriptions.desired
                onEvent(.resubscribed(
                    node: node, channels: desired.channels.count, patterns: desired.patterns.count,
                    shardChannels: desired.shardChannels.count, duration: duration))
            case .gap(let from, let to):
                let now = ContinuousClock.now
                let wall = RFC3339.wallClockSeconds()
                func toWall(_ instant: ContinuousClock.Instant) -> Double { wall - instant.duration(to: now).seconds }
                onEvent(.gap(Gap(from: toWall(from), to: toWall(to), node: node, subscriptions: subscriptions.desired)))
            }
        }
    }

    /// Replays the whole desired set on the current connection, pipelined, and reports completion to the
    /// health monitor only when every command's confirmations have all arrived.
    private func replay() {
        guard let connection else { return }
        let commands = subscriptions.connected()
        send(commands, on: connection, live: false) { [weak self] result in
            guard let self, connection === self.connection else { return }  // an older connection's replay
            switch result {
            case .success:
                self.apply(self.health.replayCompleted(now: .now))
            case .failure(let error) where error.code == .serverError:
                // A refused replay is never a silent success: drop the link and retry with backoff.
                self.apply(self.health.failed(
                    ResubError(.serverError, "replay refused: \(error.serverError ?? error.message)", serverError: error.serverError, node: self.node),
                    now: .now))
            case .failure:
                break  // the connection closed; its close is reported by the connection itself
            }
        }
    }

    // MARK: Changing subscriptions

    /// Adds names to the desired set. `completion` runs once the server confirmed them, or at once when no
    /// connection is ready (they are replayed on connect), or with the server's error when it refused them
    /// (they then leave the desired set). Loop-only.
    package func add(_ kind: SubscriptionKind, _ names: [String], completion: @escaping (Result<Void, ResubError>) -> Void) {
        change(subscriptions.add(kind, names), completion: completion)
    }

    /// Removes names from the desired set; `completion` as for ``add(_:_:completion:)``. Loop-only.
    package func remove(_ kind: SubscriptionKind, _ names: [String], completion: @escaping (Result<Void, ResubError>) -> Void) {
        change(subscriptions.remove(kind, names), completion: completion)
    }

    private func change(_ commands: [SubscriptionStateMachine.Command], completion: @escaping (Result<Void, ResubError>) -> Void) {
        loop.assertInLoop()
        guard !isStopped else {
            completion(.failure(ResubError(.shutDown, "subscriber is shut down")))
            return
        }
        guard let connection, connection.state == .ready else {
            completion(.success(()))  // recorded in the desired set; the replay on connect applies it
            return
        }
        send(commands, on: connection, live: true) { result in
            if case .failure(let error) = result, error.code == .serverError {
                completion(.failure(error))
            } else {
                completion(.success(()))  // confirmed, or the connection closed and the replay covers it
            }
        }
    }

    /// Sends commands pipelined in one write; `completion` gets the first failure or success once all
    /// commands finished.
    private func send(
        _ commands: [SubscriptionStateMachine.Command], on connection: Connection, live: Bool,
        completion: @escaping (Result<Void, ResubError>) -> Void
    ) {
        guard !commands.isEmpty else {
            completion(.success(()))
            return
        }
        var remaining = commands.count
        var firstError: ResubError?
        for command in commands {
            connection.sendSubscription(command.kind, subscribe: command.subscribe, names: command.names) { [weak self] result in
                switch result {
                case .success:
                    self?.subscriptions.completed(command)
                    self?.onEvent(command.subscribe
                        ? .subscribed(kind: command.kind, count: command.names.count, node: connection.node)
                        : .unsubscribed(kind: command.kind, count: command.names.count, node: connection.node))
                case .failure(let error):
                    if error.code == .serverError {
                        self?.subscriptions.refused(command, dropDesired: live)
                        self?.onEvent(.subscriptionFailed(kind: command.kind, names: command.names, error: error))
                    }
                    if firstError == nil || firstError?.code != .serverError { firstError = error }
                }
                remaining -= 1
                if remaining == 0 {
                    completion(firstError.map { .failure($0) } ?? .success(()))
                }
            }
        }
        connection.flush()
    }

    // MARK: Moving

    /// Serves `endpoint` from now on: starts there when idle; otherwise leaves the current node at once (an
    /// outage: reported as a gap once the replay there is confirmed) and connects to `endpoint` without
    /// waiting out a backoff delay. Nothing happens when it is already the node. Loop-only.
    package func follow(_ endpoint: RedisEndpoint) {
        loop.assertInLoop()
        guard !isStopped else { return }
        let moved = endpoint != configuration.endpoint
        configuration.endpoint = endpoint
        node = endpoint.address.description
        if health.state == .idle { return start() }
        guard moved else { return }
        if connection != nil {
            // Coded as a timeout: the old node may have been frozen or cut off for a while, so the outage (the
            // gap) starts at the last byte received, not now.
            apply(health.failed(ResubError(.timeout, "leaving for the new master \(node)", node: connection?.node), now: .now))
        }
        // Fire the pending reconnect timer now: the new node is known, a backoff delay would only add latency.
        if health.state == .waitingToReconnect {
            for id in timers.cancelAllForFiringNow() { apply(health.timerFired(id, now: .now)) }
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
        subscriptions.disconnected()
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
            kind: MessageKind(rawValue: message.kind.rawValue)!, pattern: message.pattern,
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
        if resubscribesLost {
            send(subscriptions.lost(kind, name: name), on: connection, live: false) { _ in }
        } else {
            _ = subscriptions.dropped(kind, name: name)
        }
    }

    package func connection(_ connection: Connection, didReceivePush value: RESPValue) {
        // Other pushes (client tracking invalidations, …) are not ours to handle.
    }

    package func connection(_ connection: Connection, didCloseWith error: ResubError) {
        guard connection === self.connection else { return }
        apply(health.failed(error, now: .now))
    }
}
