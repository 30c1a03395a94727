import LibeventLoop
import RESP

/// One server's subscription link. It keeps a connection open under a ``LinkSupervisor`` (idle PING,
/// timeout, reconnect with backoff and jitter), converges the server's subscriptions to the desired set
/// through a ``SubscriptionStateMachine`` (the whole set is replayed on every connect and the
/// confirmations counted), and turns incoming messages into batches. Loop-only.
package final class NodeLink: @unchecked Sendable {
    /// The supervisor of a node link: the continuous clock and the system's random generator.
    package typealias Supervisor = LinkSupervisor<ContinuousClock.Instant, SystemRandomNumberGenerator>

    /// Keeps the connection alive (Sentinel's monitor hooks its ROLE check and the master's endpoint in here).
    package let supervisor: Supervisor
    private let timers: any TimerScheduler
    package private(set) var subscriptions: SubscriptionStateMachine
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

    /// Why the link last went down (cleared when it is healthy again).
    package var lastError: ResubError? { supervisor.lastError }
    private var builder = MessageBatchBuilder()
    private let onBatch: (MessageBatch) -> Void
    private let onEvent: (SubscriberEvent) -> Void
    /// Flush a batch mid-read once it holds this many bytes, to bound memory per batch.
    private let maxBatchBytes = 1 << 20

    /// Creates an idle link in `environment` (`.loop(loop)`; tests pass fake transports and a manual
    /// scheduler); call ``start()``. Loop-only.
    package init(
        environment: LinkEnvironment<ContinuousClock.Instant>,
        configuration: ConnectionConfiguration,
        health: HealthConfiguration,
        desired: SubscriptionSet,
        replayBatchSize: Int,
        onBatch: @escaping (MessageBatch) -> Void,
        onEvent: @escaping (SubscriberEvent) -> Void
    ) {
        self.supervisor = Supervisor(
            configuration: configuration, health: health, random: SystemRandomNumberGenerator(), environment: environment)
        self.timers = environment.timers
        self.subscriptions = SubscriptionStateMachine(desired: desired, batchSize: replayBatchSize)
        self.onBatch = onBatch
        self.onEvent = onEvent
        supervisor.onEvent = onEvent
        supervisor.setUp = { [unowned self] _ in self.replay() }
        supervisor.onMessage = { [unowned self] message in self.received(message) }
        supervisor.onReadFinished = { [unowned self] in self.flushBatch() }
        supervisor.onUnsolicited = { [unowned self] connection, event in self.unsolicited(event, on: connection) }
        supervisor.onClose = { [unowned self] _ in
            self.flushBatch()
            self.subscriptions.disconnected()
        }
        supervisor.onSetUpCompleted = { [unowned self] duration in
            let desired = self.subscriptions.desired
            self.onEvent(.resubscribed(
                node: self.node, channels: desired.channels.count, patterns: desired.patterns.count,
                shardChannels: desired.shardChannels.count, duration: duration))
        }
        supervisor.onGap = { [unowned self] from, to in
            self.onEvent(.gap(Gap(from: from, to: to, node: self.node, subscriptions: self.subscriptions.desired)))
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

    /// The desired set.
    package var desired: SubscriptionSet { subscriptions.desired }
    /// What the server has confirmed.
    package var confirmed: SubscriptionSet { subscriptions.confirmed }

    /// Pauses or resumes reading from the server, on this and later connections. Loop-only.
    package var isReadingPaused: Bool {
        get { supervisor.isReadingPaused }
        set { supervisor.isReadingPaused = newValue }
    }

    /// Serves `endpoint` from now on (Sentinel named a new master); see ``LinkSupervisor/follow(_:)``. Loop-only.
    package func follow(_ endpoint: RedisEndpoint) {
        supervisor.follow(endpoint)
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
                self.supervisor.setUpCompleted()
            case .failure(let error) where error.code == .serverError:
                // A refused replay is never a silent success: drop the link and retry with backoff.
                self.supervisor.fail(
                    ResubError(.serverError, "replay refused: \(error.serverError ?? error.message)", serverError: error.serverError, node: self.node))
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
        timers.assertInLoop(file: #fileID, line: #line)
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

    // MARK: Stopping

    /// Closes the connection at once and stops reconnecting. Harmless when repeated. Loop-only.
    package func stop() {
        supervisor.stop()
    }

    // MARK: What the connection delivers

    private func received(_ message: RESPMessageView) {
        builder.append(
            kind: message.kind, pattern: message.pattern,
            channel: message.channel, payload: message.payload)
        if builder.byteCount >= maxBatchBytes { flushBatch() }
    }

    private func flushBatch() {
        guard !builder.isEmpty else { return }
        onBatch(builder.take(node: node))
    }

    private func unsolicited(_ event: ConnectionEvent, on connection: Connection) {
        // Other pushes (client tracking invalidations, …) are not ours to handle.
        guard case .unsolicited(let kind, let subscribe, let bytes) = event else { return }
        guard !subscribe else { return }  // nothing unasks us to subscribe; ignore such a frame
        let name = String(decoding: bytes, as: UTF8.self)
        onEvent(.subscriptionLost(kind: kind, name: name, node: node))
        if resubscribesLost {
            send(subscriptions.lost(kind, name: name), on: connection, live: false) { _ in }
        } else {
            _ = subscriptions.dropped(kind, name: name)
        }
    }
}
