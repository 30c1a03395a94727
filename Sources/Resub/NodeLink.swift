import LibeventLoop
import RESP

/// One server's subscription link: keeps a connection open (reconnecting with backoff), converges the
/// server's subscriptions to the desired set (replaying all of it on every connect), and turns incoming
/// messages into batches. Loop-only.
package final class NodeLink: ConnectionDelegate, @unchecked Sendable {
    package let loop: EventLoop
    package let configuration: ConnectionConfiguration
    package let backoff: BackoffConfiguration
    package private(set) var subscriptions: SubscriptionStateMachine
    package private(set) var connection: Connection?
    /// Failed attempts since the last connection that stayed healthy for `backoff.resetAfter`.
    package private(set) var attempt = 0
    package private(set) var isStopped = false
    /// `host:port` (or `unix:/path`).
    package let node: String

    private var reconnectTimer: TimerEvent?
    private var readySince: ContinuousClock.Instant?
    private var builder = MessageBatchBuilder()
    private var random = SystemRandomNumberGenerator()
    private let onBatch: (MessageBatch) -> Void
    private let onEvent: (SubscriberEvent) -> Void
    /// Flush a batch mid-read once it holds this many bytes, to bound memory per batch.
    private let maxBatchBytes = 1 << 20

    /// Creates a stopped link; call ``start()``. Loop-only.
    package init(
        loop: EventLoop,
        configuration: ConnectionConfiguration,
        backoff: BackoffConfiguration,
        desired: SubscriptionSet,
        replayBatchSize: Int,
        onBatch: @escaping (MessageBatch) -> Void,
        onEvent: @escaping (SubscriberEvent) -> Void
    ) {
        self.loop = loop
        self.configuration = configuration
        self.backoff = backoff
        self.subscriptions = SubscriptionStateMachine(desired: desired, batchSize: replayBatchSize)
        self.node = configuration.endpoint.address.description
        self.onBatch = onBatch
        self.onEvent = onEvent
    }

    /// Opens the first connection. Loop-only.
    package func start() {
        loop.assertInLoop()
        connect()
    }

    private func connect() {
        guard !isStopped else { return }
        reconnectTimer = nil
        onEvent(.connecting(node: node, attempt: attempt))
        connection = Connection(loop: loop, configuration: configuration, delegate: self)
        connection?.isReadingPaused = isReadingPaused
    }

    /// Pauses or resumes reading from the server, on this and later connections. Loop-only.
    package var isReadingPaused = false {
        didSet { connection?.isReadingPaused = isReadingPaused }
    }

    // MARK: Changing subscriptions

    /// Adds names to the desired set. `completion` runs once the server confirmed them, or at once when no
    /// connection is ready (they are replayed on connect), or with the server's error when it refused them
    /// (they then leave the desired set). Loop-only.
    package func add(_ kind: SubscriptionKind, _ names: [String], completion: @escaping (Result<Void, ResubError>) -> Void) {
        loop.assertInLoop()
        guard !isStopped else {
            completion(.failure(ResubError(.shutDown, "subscriber is shut down")))
            return
        }
        send(subscriptions.add(kind, names), live: true, completion: completion)
    }

    /// Removes names from the desired set; `completion` as for ``add(_:_:completion:)``. Loop-only.
    package func remove(_ kind: SubscriptionKind, _ names: [String], completion: @escaping (Result<Void, ResubError>) -> Void) {
        loop.assertInLoop()
        guard !isStopped else {
            completion(.failure(ResubError(.shutDown, "subscriber is shut down")))
            return
        }
        send(subscriptions.remove(kind, names), live: true, completion: completion)
    }

    private func send(_ commands: [SubscriptionStateMachine.Command], live: Bool, completion: ((Result<Void, ResubError>) -> Void)?) {
        guard let connection, !commands.isEmpty else {
            completion?(.success(()))
            return
        }
        var remaining = commands.count
        var firstError: ResubError?
        for command in commands {
            connection.sendSubscription(command.kind, subscribe: command.subscribe, names: command.names) { [weak self] result in
                self?.commandFinished(command, result: result, live: live)
                if case .failure(let error) = result, error.code == .serverError, firstError == nil { firstError = error }
                remaining -= 1
                if remaining == 0 {
                    completion?(firstError.map { .failure($0) } ?? .success(()))
                }
            }
        }
        connection.flush()
    }

    private func commandFinished(_ command: SubscriptionStateMachine.Command, result: Result<Void, ResubError>, live: Bool) {
        switch result {
        case .success:
            onEvent(command.subscribe
                ? .subscribed(kind: command.kind, count: command.names.count, node: node)
                : .unsubscribed(kind: command.kind, count: command.names.count, node: node))
        case .failure(let error) where error.code == .serverError:
            subscriptions.refused(command, dropDesired: live)
            onEvent(.subscriptionFailed(kind: command.kind, names: command.names, error: error))
            if !live {
                // A refused replay is never a silent success: drop the link and try again with backoff.
                connectionLost(ResubError(.serverError, "replay refused: \(error.serverError ?? error.message)", node: node))
            }
        case .failure:
            break  // the connection closed; the replay on the next connection covers it
        }
    }

    // MARK: Stopping

    /// Closes the connection at once and stops reconnecting. Harmless when repeated. Loop-only.
    package func stop() {
        loop.assertInLoop()
        guard !isStopped else { return }
        isStopped = true
        reconnectTimer?.cancel()
        reconnectTimer = nil
        flushBatch()
        connection?.disconnect()
        connection = nil
        subscriptions.disconnected()
    }

    // MARK: ConnectionDelegate

    package func connectionDidBecomeReady(_ connection: Connection) {
        readySince = .now
        onEvent(.connected(node: node, protocolVersion: connection.protocolVersion))
        send(subscriptions.connected(), live: false, completion: nil)
    }

    package func connection(_ connection: Connection, didReceive message: RESPMessageView) {
        builder.append(
            kind: MessageKind(rawValue: message.kind.rawValue)!, pattern: message.pattern,
            channel: message.channel, payload: message.payload)
        if builder.byteCount >= maxBatchBytes { flushBatch() }
    }

    package func connectionDidFinishReading(_ connection: Connection) {
        flushBatch()
    }

    private func flushBatch() {
        guard !builder.isEmpty else { return }
        onBatch(builder.take(node: node))
    }

    package func connection(_ connection: Connection, confirmed kind: SubscriptionKind, subscribe: Bool, name: [UInt8], solicited: Bool) {
        let name = String(decoding: name, as: UTF8.self)
        if solicited || subscribe {
            subscriptions.confirm(kind, subscribe: subscribe, name: name)
        } else {
            onEvent(.subscriptionLost(kind: kind, name: name, node: node))
            send(subscriptions.lost(kind, name: name), live: false, completion: nil)
        }
    }

    package func connection(_ connection: Connection, didReceivePush value: RESPValue) {
        // Other pushes (client tracking invalidations, …) are not ours to handle.
    }

    package func connection(_ connection: Connection, didCloseWith error: ResubError) {
        guard connection === self.connection else { return }
        connectionLost(error)
    }

    /// Closes the current connection (if still open) and schedules the next attempt.
    private func connectionLost(_ error: ResubError) {
        flushBatch()
        connection?.disconnect()
        connection = nil
        subscriptions.disconnected()
        onEvent(.disconnected(node: node, reason: error))
        guard !isStopped else { return }
        if let readySince, ContinuousClock.now - readySince >= backoff.resetAfter {
            attempt = 0
        }
        readySince = nil
        let delay = Backoff.delay(attempt: attempt, configuration: backoff, random: &random)
        onEvent(.reconnectScheduled(node: node, attempt: attempt, delay: delay))
        attempt += 1
        reconnectTimer = loop.scheduleTimer(after: delay) { [weak self] in self?.connect() }
    }
}
