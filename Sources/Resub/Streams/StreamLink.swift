import LibeventLoop
import RESP

/// Reads streams with XREAD / XREADGROUP BLOCK on a connection of its own, under the same
/// ``LinkSupervisor`` (health monitor and backoff) as the subscription links. Loop-only.
///
/// Liveness and BLOCK work together: each read blocks at most `min(block, ping-interval)`, so a healthy
/// blocked read always answers (entries, or null when the block times out) before the link has been silent
/// for a ping interval. If it has not, a PING is pipelined behind the read; no byte within the ping timeout
/// after that and the link is dead. A blocked read is therefore never mistaken for a dead link, and a dead
/// one is found within ping-interval + ping-timeout.
///
/// Plain XREAD resolves `$` to the stream's last ID once, then always reads after the last ID delivered,
/// so a reconnect resumes with no gap and no duplicate. A consumer group first reads its own pending
/// entries (ID 0, which also recovers what a read interrupted by a disconnect had already claimed), then
/// optionally claims stale entries of dead consumers (XAUTOCLAIM), then new ones (`>`): the phases are a
/// ``StreamReadStateMachine`` this class drives, under a ``LinkSupervisor``. XACK and CLIENT UNBLOCK go on a
/// ``SideConnection``, never behind the blocked read.
package final class StreamLink: @unchecked Sendable {
    /// The supervisor of a stream reader: the continuous clock and the system's random generator.
    package typealias Supervisor = LinkSupervisor<ContinuousClock.Instant, SystemRandomNumberGenerator>

    private let configuration: StreamReaderConfiguration
    private let environment: LinkEnvironment<ContinuousClock.Instant>
    /// Keeps the reading connection alive (Sentinel's monitor hooks its ROLE check and the master's endpoint
    /// in here).
    package let supervisor: Supervisor
    private var reader: StreamReadStateMachine<ContinuousClock.Instant>
    private let side: SideConnection
    private var clientID: Int64?
    private let onEntries: ([StreamEntry]) -> Void
    /// `host:port` (or `unix:/path`) of the current or last reading connection.
    package var node: String { supervisor.node }

    /// Creates an idle reader in `environment` (`.loop(loop)`; tests pass fake transports and a manual
    /// scheduler); call ``start()``. Loop-only.
    package init(
        environment: LinkEnvironment<ContinuousClock.Instant>, configuration: StreamReaderConfiguration,
        onEntries: @escaping ([StreamEntry]) -> Void, onEvent: @escaping (SubscriberEvent) -> Void
    ) {
        self.configuration = configuration
        self.environment = environment
        var socket = SocketOptions(connectTimeout: configuration.connectTimeout)
        socket.useTLS(configuration.sentinel?.tls ?? configuration.endpoint.tls, context: configuration.tls)
        let connection = ConnectionConfiguration(endpoint: configuration.endpoint, clientName: configuration.clientName, socket: socket)
        self.supervisor = Supervisor(
            configuration: connection, health: configuration.health, random: SystemRandomNumberGenerator(), environment: environment)
        self.side = SideConnection(
            configuration: connection, timeout: configuration.health.pingInterval + configuration.health.pingTimeout,
            timers: environment.timers, open: environment.open)
        self.reader = StreamReadStateMachine(configuration: configuration)
        self.onEntries = onEntries
        supervisor.onEvent = onEvent
        supervisor.setUp = { [unowned self] connection in self.prepare(connection) }
        supervisor.onClose = { [unowned self] _ in self.reader.disconnected() }
        // Streams keep their entries: an outage is no gap for a reader that resumes by ID, so neither the
        // set-up time nor gaps are reported.
    }

    /// The link's health state.
    package var state: LinkState { supervisor.state }
    /// The resume position per stream: the last ID delivered (plain XREAD), or the pending-phase position
    /// (group).
    package var lastIDs: [String: String] { reader.lastIDs }

    /// The reading connection's settings (Sentinel's monitor uses them for the sentinels too).
    package var template: ConnectionConfiguration { supervisor.configuration }

    /// Opens the reading connection. Loop-only.
    package func start() {
        supervisor.start()
    }

    /// After the handshake: learn our CLIENT ID (for unblock), resolve `$`, create groups, then read.
    private func prepare(_ connection: Connection) {
        side.retarget(supervisor.configuration)  // the reading connection may have moved (Sentinel)
        clientID = nil  // the last connection's; kept until now so that unblock() after stop() still fails
        connection.send(["CLIENT", "ID"]) { [weak self] result in
            guard let self, connection === self.supervisor.connection else { return }
            if case .success(let value) = result { self.clientID = value.int }
            self.setUpStreams(on: connection, remaining: self.configuration.streams.map(\.key))
        }
    }

    private func setUpStreams(on connection: Connection, remaining: [String]) {
        guard let key = remaining.first else {
            supervisor.setUpCompleted()
            apply(reader.connected(now: environment.now()), on: connection)
            return
        }
        let rest = Array(remaining.dropFirst())
        if let group = configuration.group {
            guard group.create else { return setUpStreams(on: connection, remaining: rest) }
            connection.send(["XGROUP", "CREATE", key, group.name, "$", "MKSTREAM"]) { [weak self] result in
                guard let self, connection === self.supervisor.connection else { return }
                if case .success(let v) = result, v.isError, !(v.string ?? "").hasPrefix("BUSYGROUP") {
                    return self.supervisor.fail(ResubError(.serverError, "XGROUP CREATE refused", serverError: v.string, command: "XGROUP", node: self.node))
                }
                self.setUpStreams(on: connection, remaining: rest)
            }
        } else if reader.unresolved.contains(key) {
            connection.send(["XREVRANGE", key, "+", "-", "COUNT", "1"]) { [weak self] result in
                guard let self, connection === self.supervisor.connection else { return }
                if case .success(let v) = result, let entries = v.elements {
                    self.reader.resolved(key, lastID: entries.first?.elements?.first?.string)
                }
                self.setUpStreams(on: connection, remaining: rest)
            }
        } else {
            setUpStreams(on: connection, remaining: rest)
        }
    }

    /// Reads from `endpoint` from now on (Sentinel named a new master): plain XREAD resumes after the last ID
    /// delivered, a group with its own pending entries; XACK and CLIENT UNBLOCK go there too. See
    /// ``LinkSupervisor/follow(_:)``. Loop-only.
    package func follow(_ endpoint: RedisEndpoint) {
        supervisor.follow(endpoint)
        side.retarget(supervisor.configuration)
    }

    // MARK: Reading

    /// Holds the next read back (a slow sink). Reads are pulled, so pausing costs nothing on the server side.
    package var isPaused: Bool {
        get { reader.isPaused }
        set {
            guard !newValue else { return reader.pause() }
            let actions = reader.resume(now: environment.now())
            if let connection = supervisor.connection { apply(actions, on: connection) }
        }
    }

    /// Carries out the reader's actions on the reading connection.
    private func apply(_ actions: [StreamReadStateMachine<ContinuousClock.Instant>.Action], on connection: Connection) {
        for action in actions {
            switch action {
            case .send(let command):
                connection.send(command) { [weak self] result in
                    guard let self, connection === self.supervisor.connection else { return }
                    switch result {
                    case .success(let reply):
                        self.apply(self.reader.received(reply, now: self.environment.now()), on: connection)
                        // After the entries were handed over: the consumer may have paused meanwhile.
                        self.apply(self.reader.next(now: self.environment.now()), on: connection)
                    case .failure:
                        break  // the connection closed: the close is reported (and handled) by the connection
                    }
                }
            case .deliver(let entries):
                onEntries(entries)
            case .acknowledge(let entries):
                acknowledge(entries) { _ in }
            case .setUpAgain:
                setUpStreams(on: connection, remaining: configuration.streams.map(\.key))
            case .fail(var error):
                error.node = node
                supervisor.fail(error)
            }
        }
    }

    // MARK: Side connection: XACK, CLIENT UNBLOCK

    /// Sends `command` on the side connection (never behind the blocked read).
    private func sendSide(_ command: [String], completion: @escaping (Result<RESPValue, ResubError>) -> Void) {
        guard supervisor.state != .stopped else { return completion(.failure(ResubError(.disconnected, "the reader is disconnected", command: command.first, node: node))) }
        side.send(command, completion: completion)
    }

    /// XACKs entries of a consumer group (no-op for plain XREAD).
    package func acknowledge(_ entries: [StreamEntry], completion: @escaping (Result<Int, ResubError>) -> Void) {
        guard let group = configuration.group, !entries.isEmpty else { return completion(.success(0)) }
        let byStream = Dictionary(grouping: entries, by: \.stream)
        var remaining = byStream.count
        var total = 0
        var failure: ResubError?
        for (stream, list) in byStream {
            sendSide(["XACK", stream, group.name] + list.map(\.id)) { result in
                switch result {
                case .success(let v) where !v.isError: total += Int(v.int ?? 0)
                case .success(let v): failure = ResubError(.serverError, "XACK refused", serverError: v.string, command: "XACK")
                case .failure(let e): failure = e
                }
                remaining -= 1
                if remaining == 0 { completion(failure.map { .failure($0) } ?? .success(total)) }
            }
        }
    }

    /// Ends the current blocked read with CLIENT UNBLOCK from the side connection; the reading connection
    /// stays open and reads again. Returns whether a read was unblocked.
    package func unblock(completion: @escaping (Result<Bool, ResubError>) -> Void) {
        guard let clientID else { return completion(.success(false)) }
        sendSide(["CLIENT", "UNBLOCK", String(clientID)]) { result in
            completion(result.map { $0.int == 1 })
        }
    }

    /// Closes both connections at once; the outstanding read fails with ``ResubError/Code/disconnected``
    /// and is not sent again. Loop-only.
    package func stop() {
        supervisor.stop()
        side.close()
    }
}
