import LibeventLoop
import RESP

/// Reads streams with XREAD / XREADGROUP BLOCK on a connection of its own, under the same
/// ``HealthStateMachine`` and backoff as the subscription links. Loop-only.
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
/// optionally claims stale entries of dead consumers (XAUTOCLAIM), then new ones (`>`). XACK, group
/// creation and CLIENT UNBLOCK go on a side connection, never behind the blocked read.
package final class StreamLink: ConnectionDelegate, @unchecked Sendable {
    package typealias Health = HealthStateMachine<ContinuousClock.Instant, SystemRandomNumberGenerator>

    private let loop: EventLoop
    private let configuration: StreamReaderConfiguration
    private var connectionConfiguration: ConnectionConfiguration
    private var health: Health
    private var reader: Connection?
    private var control: Connection?
    private let side = SideDelegate()
    private var timers: [Int: TimerEvent] = [:]
    private var readOutstanding = false
    private var clientID: Int64?
    /// Last ID delivered per stream (plain XREAD), or the pending-phase position (group).
    package private(set) var lastIDs: [String: String] = [:]
    private var pendingPhase = true
    private var claimed = false
    private var lastClaim: ContinuousClock.Instant?
    private let onEntries: ([StreamEntry]) -> Void
    private let onEvent: (SubscriberEvent) -> Void
    package private(set) var node: String
    /// When set, asked for the endpoint before each new connection after the first (Sentinel: the master).
    package var nextEndpoint: (() -> RedisEndpoint?)?
    /// When set, run on every new connection before the streams are set up (Sentinel's ROLE check); an
    /// error fails the link.
    package var beforeReplay: ((Connection, @escaping (ResubError?) -> Void) -> Void)?

    package init(
        loop: EventLoop, configuration: StreamReaderConfiguration,
        onEntries: @escaping ([StreamEntry]) -> Void, onEvent: @escaping (SubscriberEvent) -> Void
    ) {
        self.loop = loop
        self.configuration = configuration
        var socket = SocketOptions(connectTimeout: configuration.connectTimeout)
        socket.useTLS(configuration.sentinel?.tls ?? configuration.endpoint.tls, context: configuration.tls)
        self.connectionConfiguration = ConnectionConfiguration(
            endpoint: configuration.endpoint, clientName: configuration.clientName, socket: socket)
        self.health = Health(configuration: configuration.health, random: SystemRandomNumberGenerator())
        self.node = configuration.endpoint.address.description
        self.onEntries = onEntries
        self.onEvent = onEvent
        for (key, start) in configuration.streams { lastIDs[key] = start }
    }

    package var state: LinkState { health.state }
    /// The reading connection's settings (Sentinel's monitor uses them for the sentinels too).
    package var template: ConnectionConfiguration { connectionConfiguration }

    package func start() {
        loop.assertInLoop()
        apply(health.start(now: .now))
    }

    // MARK: Health actions

    private func apply(_ actions: [Health.Action]) {
        for action in actions {
            switch action {
            case .connect:
                if health.attempt > 0, let endpoint = nextEndpoint?() { use(endpoint) }
                onEvent(.connecting(node: node, attempt: health.attempt))
                readOutstanding = false
                clientID = nil
                reader = Connection(loop: loop, configuration: connectionConfiguration, delegate: self)
            case .sendPing:
                reader?.ping { _ in }  // queued behind the blocked read, answered when it returns
            case .replay:
                guard let beforeReplay, let reader else {
                    prepare()
                    break
                }
                beforeReplay(reader) { [weak self] error in
                    guard let self, reader === self.reader else { return }
                    if let error { self.fail(error) } else { self.prepare() }
                }
            case .close(let error):
                reader?.disconnect()
                reader = nil
                readOutstanding = false
                if error.code != .shutDown { onEvent(.disconnected(node: node, reason: error)) }
            case .schedule(let timer):
                let id = timer.id
                timers[id] = loop.scheduleTimer(after: timer.delay) { [weak self] in
                    guard let self else { return }
                    self.timers[id] = nil
                    self.apply(self.health.timerFired(id, now: .now))
                }
            case .stateChanged(let from, let to, let reason):
                onEvent(.stateChanged(node: node, from: from, to: to, reason: reason))
            case .reconnectScheduled(let attempt, let delay):
                onEvent(.reconnectScheduled(node: node, attempt: attempt, delay: delay))
            case .replayed, .gap:
                break  // streams keep their entries: an outage is no gap for a reader that resumes by ID
            }
        }
    }

    private func fail(_ error: ResubError) {
        apply(health.failed(error, now: .now))
    }

    /// After the handshake: learn our CLIENT ID (for unblock), resolve `$`, create groups, then read.
    private func prepare() {
        guard let reader else { return }
        reader.send(["CLIENT", "ID"]) { [weak self] result in
            guard let self, reader === self.reader else { return }
            if case .success(let value) = result { self.clientID = value.int }
            self.setUpStreams(on: reader, remaining: self.configuration.streams.map(\.key))
        }
    }

    private func setUpStreams(on reader: Connection, remaining: [String]) {
        guard let key = remaining.first else {
            apply(health.replayCompleted(now: .now))
            pendingPhase = true
            claimed = false
            if configuration.group != nil {
                for k in configuration.streams.map(\.key) { lastIDs[k] = "0" }
            }
            readNext()
            return
        }
        let rest = Array(remaining.dropFirst())
        if let group = configuration.group {
            guard group.create else { return setUpStreams(on: reader, remaining: rest) }
            reader.send(["XGROUP", "CREATE", key, group.name, "$", "MKSTREAM"]) { [weak self] result in
                guard let self, reader === self.reader else { return }
                if case .success(let v) = result, v.isError, !(v.string ?? "").hasPrefix("BUSYGROUP") {
                    return self.fail(ResubError(.serverError, "XGROUP CREATE refused", serverError: v.string, command: "XGROUP", node: self.node))
                }
                self.setUpStreams(on: reader, remaining: rest)
            }
        } else if lastIDs[key] == "$" {
            reader.send(["XREVRANGE", key, "+", "-", "COUNT", "1"]) { [weak self] result in
                guard let self, reader === self.reader else { return }
                if case .success(let v) = result, let entries = v.elements {
                    self.lastIDs[key] = entries.first?.elements?.first?.string ?? "0-0"
                }
                self.setUpStreams(on: reader, remaining: rest)
            }
        } else {
            setUpStreams(on: reader, remaining: rest)
        }
    }

    // MARK: Reading

    /// Holds the next read back (a slow sink). Reads are pulled, so pausing costs nothing on the server side.
    package var isPaused = false {
        didSet { if !isPaused && oldValue { readNext() } }
    }

    private func readNext() {
        guard !isPaused, let reader, reader.state == .ready, !readOutstanding, health.state == .healthy else { return }
        let keys = configuration.streams.map(\.key)
        var command: [String]
        let blockMs = String(Int64(configuration.effectiveBlock.components.seconds * 1000 + configuration.effectiveBlock.components.attoseconds / 1_000_000_000_000_000))
        if let group = configuration.group {
            if pendingPhase {
                command = ["XREADGROUP", "GROUP", group.name, group.consumer, "COUNT", String(configuration.count), "STREAMS"] + keys + keys.map { lastIDs[$0] ?? "0" }
            } else if let idle = group.claimIdle, !claimed || (lastClaim.map { $0.duration(to: .now) >= idle } ?? true) {
                // Claim stale entries of dead consumers on start, and again every claimIdle while running,
                // so entries of a consumer that died after this one started are taken over too.
                lastClaim = .now
                claimed = false
                claim(keys: keys, group: group, idle: idle, index: 0, start: "0-0")
                return
            } else {
                command = ["XREADGROUP", "GROUP", group.name, group.consumer, "COUNT", String(configuration.count), "BLOCK", blockMs, "STREAMS"] + keys + keys.map { _ in ">" }
            }
        } else {
            command = ["XREAD", "COUNT", String(configuration.count), "BLOCK", blockMs, "STREAMS"] + keys + keys.map { lastIDs[$0] ?? "$" }
        }
        readOutstanding = true
        reader.send(command) { [weak self] result in
            guard let self, reader === self.reader else { return }
            self.readOutstanding = false
            switch result {
            case .success(let reply) where reply.isError:
                let text = reply.string ?? ""
                if text.hasPrefix("NOGROUP"), self.configuration.group?.create == true {
                    // The group (or stream) was deleted: set it up again.
                    self.setUpStreams(on: reader, remaining: self.configuration.streams.map(\.key))
                } else {
                    self.fail(ResubError(.serverError, "\(command[0]) refused", serverError: text, command: command[0], node: self.node))
                }
            case .success(let reply):
                do throws(ResubError) {
                    let entries = try StreamEntry.parseRead(reply)
                    self.deliver(entries)
                } catch {
                    self.fail(error)
                }
            case .failure:
                break  // the connection closed: the close is reported (and handled) by the connection
            }
        }
    }

    private func deliver(_ entries: [StreamEntry]) {
        if configuration.group != nil, pendingPhase {
            let withFields = entries.filter { !$0.fields.isEmpty }
            for entry in entries { lastIDs[entry.stream] = entry.id }
            if entries.isEmpty { pendingPhase = false }
            if !withFields.isEmpty { onEntries(withFields) }
            // Entries deleted while pending (no fields) can never be processed: acknowledge them.
            let deleted = entries.filter(\.fields.isEmpty)
            if !deleted.isEmpty { acknowledge(deleted) { _ in } }
        } else {
            for entry in entries where configuration.group == nil { lastIDs[entry.stream] = entry.id }
            if !entries.isEmpty { onEntries(entries) }
        }
        readNext()
    }

    private func claim(keys: [String], group: StreamReaderConfiguration.Group, idle: Duration, index: Int, start: String) {
        guard index < keys.count, let reader else {
            claimed = true
            return readNext()
        }
        let ms = String(idle.components.seconds * 1000 + idle.components.attoseconds / 1_000_000_000_000_000)
        reader.send(["XAUTOCLAIM", keys[index], group.name, group.consumer, ms, start, "COUNT", String(configuration.count)]) { [weak self] result in
            guard let self, reader === self.reader else { return }
            guard case .success(let reply) = result, !reply.isError, let parts = reply.elements, parts.count >= 2 else {
                return self.claim(keys: keys, group: group, idle: idle, index: index + 1, start: "0-0")
            }
            let entries = (parts[1].elements ?? []).compactMap { try? StreamEntry.parseEntry($0, stream: keys[index]) }
            if !entries.isEmpty { self.onEntries(entries) }
            let next = parts[0].string ?? "0-0"
            if next == "0-0" {
                self.claim(keys: keys, group: group, idle: idle, index: index + 1, start: "0-0")
            } else {
                self.claim(keys: keys, group: group, idle: idle, index: index, start: next)
            }
        }
    }

    // MARK: Side connection: XACK, CLIENT UNBLOCK

    private func sideConnection() -> Connection {
        if let control, control.state != .closed { return control }
        let connection = Connection(loop: loop, configuration: connectionConfiguration, delegate: side)
        control = connection
        return connection
    }

    /// Sends `command` on the side connection once it is ready.
    private func sendSide(_ command: [String], completion: @escaping (Result<RESPValue, ResubError>) -> Void) {
        guard health.state != .stopped else { return completion(.failure(ResubError(.disconnected, "the reader is disconnected", command: command.first, node: node))) }
        let connection = sideConnection()
        if connection.state == .ready {
            connection.send(command, completion: completion)
        } else {
            side.whenReady(connection) { ready in
                guard ready else { return completion(.failure(ResubError(.connectionFailed, "side connection failed", node: self.node))) }
                connection.send(command, completion: completion)
            }
        }
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

    // MARK: Moving

    /// Reads from `endpoint` from now on: starts there when idle; otherwise leaves the current node at once
    /// (plain XREAD resumes after the last ID delivered, a group with its own pending entries) and connects
    /// to `endpoint` without waiting out a backoff delay. Loop-only.
    package func follow(_ endpoint: RedisEndpoint) {
        loop.assertInLoop()
        guard health.state != .stopped else { return }
        let moved = endpoint != connectionConfiguration.endpoint
        use(endpoint)
        if health.state == .idle { return start() }
        guard moved else { return }
        side.failWaiters(of: control)
        control?.disconnect()
        control = nil
        if reader != nil {
            fail(ResubError(.timeout, "leaving for the new master \(node)", node: reader?.node))
        }
        if health.state == .waitingToReconnect {
            for id in timers.cancelAllForFiringNow() { apply(health.timerFired(id, now: .now)) }
        }
    }

    private func use(_ endpoint: RedisEndpoint) {
        connectionConfiguration.endpoint = endpoint
        node = endpoint.address.description
    }

    /// Closes both connections at once; the outstanding read fails with ``ResubError/Code/disconnected``
    /// and is not sent again. Loop-only.
    package func stop() {
        apply(health.stop(now: .now))
        for timer in timers.values { timer.cancel() }
        timers = [:]
        reader?.disconnect()
        reader = nil
        side.failWaiters(of: control)
        control?.disconnect()
        control = nil
    }

    // MARK: ConnectionDelegate (reading connection)

    package func connectionDidConnect(_ connection: Connection) {
        guard connection === reader else { return }
        apply(health.socketConnected(now: .now))
    }

    package func connectionDidBecomeReady(_ connection: Connection) {
        guard connection === reader else { return }
        onEvent(.connected(node: node, protocolVersion: connection.protocolVersion))
        apply(health.handshakeCompleted(now: .now))
    }

    package func connectionDidFinishReading(_ connection: Connection) {
        guard connection === reader else { return }
        health.activity(now: .now)
    }

    package func connection(_ connection: Connection, didCloseWith error: ResubError) {
        guard connection === reader else { return }
        fail(error)
    }

    package func connection(_ connection: Connection, didReceive message: RESPMessageView) {}
    package func connection(_ connection: Connection, unsolicited kind: SubscriptionKind, subscribe: Bool, name: [UInt8]) {}
    package func connection(_ connection: Connection, didReceivePush value: RESPValue) {}
}

/// The delegate of side connections: tells waiters when one is ready or failed. Loop-only.
final class SideDelegate: ConnectionDelegate, @unchecked Sendable {
    private var waiters: [ObjectIdentifier: [(Bool) -> Void]] = [:]

    func whenReady(_ connection: Connection, _ body: @escaping (Bool) -> Void) {
        waiters[ObjectIdentifier(connection), default: []].append(body)
    }

    private func resolve(_ connection: Connection, _ ready: Bool) {
        let list = waiters.removeValue(forKey: ObjectIdentifier(connection)) ?? []
        for waiter in list { waiter(ready) }
    }

    /// Fails everything waiting for `connection` (call before closing it: `disconnect()` tells no delegate).
    func failWaiters(of connection: Connection?) {
        guard let connection else { return }
        resolve(connection, false)
    }

    func connectionDidBecomeReady(_ connection: Connection) { resolve(connection, true) }
    func connection(_ connection: Connection, didCloseWith error: ResubError) { resolve(connection, false) }
    func connectionDidConnect(_ connection: Connection) {}
    func connection(_ connection: Connection, didReceive message: RESPMessageView) {}
    func connectionDidFinishReading(_ connection: Connection) {}
    func connection(_ connection: Connection, unsolicited kind: SubscriptionKind, subscribe: Bool, name: [UInt8]) {}
    func connection(_ connection: Connection, didReceivePush value: RESPValue) {}
}
