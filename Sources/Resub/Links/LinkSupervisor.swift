import LibeventLoop
import RESP

/// Keeps one link's connection alive: carries out a ``HealthStateMachine``'s actions (connect through the
/// environment's factory, PING when idle, close a dead connection, arm timers, reconnect with backoff) and
/// reports the link's life as ``SubscriberEvent``s. It is the delegate of the connections it opens.
///
/// What the link does once connected is not its business: every kind of link (subscriber node links,
/// stream readers, the Sentinel link) plugs in through the hooks. ``setUp`` runs once per connection after
/// the handshake (replay the subscriptions, prepare the streams…) and ends with ``setUpCompleted()`` or
/// ``fail(_:)``; ``collector`` gathers the connection's pub/sub messages, ``onClose`` runs after a connection
/// was dropped. Loop-only.
package final class LinkSupervisor<Instant: InstantProtocol, Random: RandomNumberGenerator>: ConnectionDelegate
where Instant.Duration == Duration {
    /// The health monitor this supervisor drives.
    package typealias Health = HealthStateMachine<Instant, Random>

    private let environment: LinkEnvironment<Instant>
    /// The health monitor's state (and attempt count).
    package private(set) var health: Health
    /// The configuration of the next connection.
    package private(set) var configuration: ConnectionConfiguration
    /// The current connection (nil between connections).
    package private(set) var connection: Connection?
    /// `host:port` (or `unix:/path`) of the current or last connection.
    package private(set) var node: String
    /// Why the link last went down (cleared when it is healthy again).
    package private(set) var lastError: ResubError?
    private var timers: [Int: any ScheduledTimer] = [:]

    /// When set, asked for the endpoint before each new connection after the first (a link that may move
    /// to another node: the cluster's link for plain channels and patterns).
    package var nextEndpoint: (() -> RedisEndpoint?)?
    /// Runs once per connection after the handshake: set the link up on it, then call
    /// ``setUpCompleted()`` (or ``fail(_:)``).
    package var setUp: (Connection) -> Void = { _ in }
    /// Gathers the current connection's pub/sub messages into a batch (the owner takes it at
    /// ``onReadFinished``). A `let` of the supervisor, not a closure: the per-message call then costs no
    /// reference counting (a closure stored in a `var` is retained and released around every call).
    package let collector = MessageCollector(maxBatchBytes: 1 << 20)
    /// Everything of one read has been delivered (bytes arrived: the health monitor has been told).
    package var onReadFinished: () -> Void = {}
    /// A frame of the current connection that nothing was waiting for (unsolicited confirmation, push).
    package var onUnsolicited: (Connection, ConnectionEvent) -> Void = { _, _ in }
    /// The current connection was dropped (failure or stop); runs before the link reports the disconnect.
    package var onClose: (ResubError) -> Void = { _ in }
    /// The set-up completed after `duration` (for a subscriber: every subscription confirmed again).
    package var onSetUpCompleted: (Duration) -> Void = { _ in }
    /// An outage ended: between `from` and `to` (wall-clock seconds) the link could not receive.
    package var onGap: (_ from: Double, _ to: Double) -> Void = { _, _ in }
    /// The link's events: connecting, connected, state changes, disconnects, reconnects scheduled.
    package var onEvent: (SubscriberEvent) -> Void = { _ in }

    /// Creates an idle supervisor; call ``start()``. Loop-only.
    package init(
        configuration: ConnectionConfiguration, health: HealthConfiguration, random: Random,
        environment: LinkEnvironment<Instant>
    ) {
        self.environment = environment
        self.configuration = configuration
        self.health = Health(configuration: health, random: random)
        self.node = configuration.endpoint.address.description
    }

    /// The link's health state.
    package var state: LinkState { health.state }

    /// Pauses or resumes reading from the server, on this and later connections. Loop-only.
    package var isReadingPaused = false {
        didSet { connection?.isReadingPaused = isReadingPaused }
    }

    /// Opens the first connection. Loop-only.
    package func start() {
        environment.timers.assertInLoop(file: #fileID, line: #line)
        apply(health.start(now: environment.now()))
    }

    /// The set-up of the current connection finished: the link is healthy. Loop-only.
    package func setUpCompleted() {
        apply(health.replayCompleted(now: environment.now()))
    }

    /// Gives up on the current connection (a refused set-up, a bad reply): close it and reconnect with
    /// backoff. Loop-only.
    package func fail(_ error: ResubError) {
        apply(health.failed(error, now: environment.now()))
    }

    /// Closes the connection at once and stops reconnecting. Harmless when repeated. Loop-only.
    package func stop() {
        environment.timers.assertInLoop(file: #fileID, line: #line)
        apply(health.stop(now: environment.now()))
        for timer in timers.values { timer.cancel() }
        timers = [:]
        if let connection = connection.take() {
            connection.disconnect()
            onClose(ResubError(.shutDown, "link stopped"))
        }
    }

    /// Serves `endpoint` from now on (Sentinel named a new master): starts there when idle; otherwise leaves
    /// the current node at once and connects to `endpoint` without waiting out a backoff delay. Nothing
    /// happens when it already is the node. Loop-only.
    package func follow(_ endpoint: RedisEndpoint) {
        environment.timers.assertInLoop(file: #fileID, line: #line)
        guard health.state != .stopped else { return }
        let moved = endpoint != configuration.endpoint
        configuration.endpoint = endpoint
        if health.state == .idle { return start() }
        guard moved else { return }
        if let connection {
            // Coded as a timeout: the old node may have been frozen or cut off for a while, so the outage (the
            // gap) starts at the last byte received, not now.
            fail(ResubError(.timeout, "leaving for the new master \(endpoint.address)", node: connection.node))
        }
        // Fire the pending reconnect now: the new node is known, a backoff delay would only add latency (the
        // health monitor ignores the ids it no longer waits for).
        guard health.state == .waitingToReconnect else { return }
        let armed = timers
        timers = [:]
        for timer in armed.values { timer.cancel() }
        for id in armed.keys.sorted() { apply(health.timerFired(id, now: environment.now())) }
    }

    // MARK: Carrying out the health monitor's actions

    private func apply(_ actions: [Health.Action]) {
        for action in actions {
            switch action {
            case .connect:
                if health.attempt > 0, let endpoint = nextEndpoint?() { configuration.endpoint = endpoint }
                node = configuration.endpoint.address.description
                onEvent(.connecting(node: node, attempt: health.attempt))
                let connection = environment.open(configuration, self)
                connection.isReadingPaused = isReadingPaused
                self.connection = connection
            case .sendPing:
                // Any byte received is life; the reply itself needs no handling. On a blocked stream read
                // it queues behind the read and is answered when the read returns.
                connection?.ping { _ in }
            case .replay:
                if let connection { setUp(connection) }
            case .close(let error):
                // Forget the connection before closing it: disconnect() fails its pending commands
                // synchronously, and their completions must see a stale connection.
                connection.take()?.disconnect()
                onClose(error)
                if error.code != .shutDown { onEvent(.disconnected(node: node, reason: error)) }
            case .schedule(let timer):
                let id = timer.id
                timers[id] = environment.timers.scheduleOnce(after: timer.delay) { [weak self] in
                    guard let self else { return }
                    self.timers[id] = nil
                    self.apply(self.health.timerFired(id, now: self.environment.now()))
                }
            case .stateChanged(let from, let to, let reason):
                if let reason { lastError = reason } else if to == .healthy { lastError = nil }
                onEvent(.stateChanged(node: node, from: from, to: to, reason: reason))
            case .reconnectScheduled(let attempt, let delay):
                onEvent(.reconnectScheduled(node: node, attempt: attempt, delay: delay))
            case .replayed(let duration):
                onSetUpCompleted(duration)
            case .gap(let from, let to):
                let now = environment.now()
                let wall = environment.wallClock()
                onGap(wall - from.duration(to: now).seconds, wall - to.duration(to: now).seconds)
            }
        }
    }

    // MARK: ConnectionDelegate

    package func connection(_ connection: Connection, didReport event: ConnectionEvent) {
        guard connection === self.connection else { return }  // an older connection's last words
        switch event {
        case .connected:
            apply(health.socketConnected(now: environment.now()))
        case .ready:
            onEvent(.connected(node: node, protocolVersion: connection.protocolVersion))
            apply(health.handshakeCompleted(now: environment.now()))
        case .readFinished:
            health.activity(now: environment.now())
            onReadFinished()
        case .unsolicited, .push:
            onUnsolicited(connection, event)
        case .closed(let error):
            apply(health.failed(error, now: environment.now()))
        }
    }

    package func connection(_ connection: Connection, didReceive message: RESPMessageView) {
        collector.append(message)
    }
}
