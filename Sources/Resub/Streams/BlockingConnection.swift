import LibeventLoop
import RESP
import Synchronization

/// A connection of its own for blocking commands (`XREAD BLOCK 0`, `BLPOP`, …) that never shares a socket
/// with anything else, and never makes shutdown wait behind them. It connects on the first command (and on
/// the next one after a failure); no health check runs on it (a `BLOCK 0` read must not be PINGed dead).
///
/// - ``disconnect()`` closes the socket at once and fails every pending command with
///   ``ResubError/Code/disconnected``; a command interrupted that way is never sent again.
/// - ``quit()`` is the polite close for an idle connection (with commands pending it is ``disconnect()``).
/// - ``unblock()`` ends one blocked command with `CLIENT UNBLOCK <id>` from a `SideConnection` (which gives
///   up after a deadline on a frozen server); this one stays open and usable.
///
/// Made with ``ResubClient/blockingConnection(sentinel:dataNode:clientName:tls:connectTimeout:health:)`` it follows a
/// Sentinel-managed master (see `BlockingConnectionStateMachine`): every connection goes to the master the
/// sentinels name and checks `ROLE` first; when they name another master, the connection to the old one is
/// closed at once and a command blocked there fails with ``ResubError/Code/disconnected`` ("the master
/// changed …"), so the caller can send it again, to the new master.
public final class BlockingConnection: Sendable {
    private let loop: EventLoop
    private let core: Core
    /// Sentinel mode's monitor (nil with a fixed endpoint).
    private let monitor: SentinelMonitor?

    /// Creates the connection on `loop` (it connects on the first command).
    package init(loop: EventLoop, configuration: ConnectionConfiguration) {
        self.loop = loop
        self.core = Core(loop: loop, configuration: configuration, machine: BlockingConnectionStateMachine(endpoint: configuration.endpoint))
        self.monitor = nil
    }

    /// Creates a connection to the master the sentinels name (`template` gives the data nodes' credentials,
    /// the client name and the socket settings) and starts asking them; it connects on the first command,
    /// which waits for the master at most the connect timeout.
    package init(loop: EventLoop, sentinel: SentinelConfiguration, template: ConnectionConfiguration, health: HealthConfiguration) {
        self.loop = loop
        var configuration = template
        // A placeholder until the sentinels name the master (nothing connects here).
        configuration.endpoint.address = .unix(path: "sentinel/\(sentinel.masterName)")
        let core = Core(
            loop: loop, configuration: configuration,
            machine: BlockingConnectionStateMachine(followingMasterWithin: template.socket.connectTimeout))
        let monitor = SentinelMonitor(
            loop: loop, configuration: sentinel, template: template, dataNode: template.endpoint, health: health, onEvent: { _ in })
        monitor.attach(core)
        self.core = core
        self.monitor = monitor
        loop.execute { monitor.start() }
    }

    /// Sends a command and waits for its reply (an error reply is returned as a value).
    /// - Throws: ``ResubError`` `.disconnected` when ``disconnect()`` (or a failure, or Sentinel naming a new
    ///   master) closed the connection first, `.connectionFailed` when it could not connect (or, following
    ///   Sentinel, no master was known within the connect timeout), `.serverError` when the nodes the
    ///   sentinels named answered `ROLE` with another role (the command was sent to none of them).
    public func command(_ arguments: [String]) async throws(ResubError) -> RESPValue {
        let core = self.core
        let result: Result<RESPValue, ResubError> = await withCheckedContinuation { continuation in
            loop.execute { core.send(arguments) { continuation.resume(returning: $0) } }
        }
        return try result.get()
    }

    /// Closes at once; pending commands fail with ``ResubError/Code/disconnected``. Safe from any thread,
    /// any number of times. Following Sentinel, the monitor stops too.
    public func disconnect() {
        let (core, monitor) = (self.core, self.monitor)
        loop.execute {
            core.disconnect()
            monitor?.stop()
        }
    }

    /// Sends QUIT when idle and waits for the server to close (at most a second); with commands pending it
    /// is ``disconnect()``.
    public func quit() async {
        let (core, monitor) = (self.core, self.monitor)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.execute {
                monitor?.stop()
                core.quit { continuation.resume() }
            }
        }
    }

    /// Ends the blocked command (if any) with CLIENT UNBLOCK from a side connection. Returns whether one
    /// was unblocked; the connection stays open.
    @discardableResult
    public func unblock() async throws(ResubError) -> Bool {
        let core = self.core
        let result: Result<Bool, ResubError> = await withCheckedContinuation { continuation in
            loop.execute { core.unblock { continuation.resume(returning: $0) } }
        }
        return try result.get()
    }

    /// The loop-side driver: carries out a ``BlockingConnectionStateMachine``'s actions, owns the connection,
    /// the commands' completions, the side connection and the timers. Loop-only.
    package final class Core: ConnectionDelegate, MasterFollower, @unchecked Sendable {
        private typealias Machine = BlockingConnectionStateMachine

        private var machine: Machine
        private let configuration: ConnectionConfiguration
        private let timers: any TimerScheduler
        private let open: (ConnectionConfiguration, any ConnectionDelegate) -> Connection
        private var connection: Connection?
        private var commands: [Machine.CommandID: (arguments: [String], completion: (Result<RESPValue, ResubError>) -> Void)] = [:]
        private var nextID = 0
        private var clientID: Int64?
        private let side: SideConnection
        private var armed: [Int: any ScheduledTimer] = [:]
        /// The monitor's side, following Sentinel.
        private var source: MasterSource?

        /// A driver whose connections are opened through `open` and whose timers run on `timers` (libevent on
        /// the loop, or fakes and a manual scheduler in tests).
        package init(
            configuration: ConnectionConfiguration, machine: BlockingConnectionStateMachine, timers: any TimerScheduler,
            open: @escaping (ConnectionConfiguration, any ConnectionDelegate) -> Connection
        ) {
            self.configuration = configuration
            self.machine = machine
            self.timers = timers
            self.open = open
            self.side = SideConnection(configuration: configuration, timeout: SideConnection.defaultTimeout, timers: timers, open: open)
        }

        /// A driver over libevent sockets on `loop`.
        convenience init(loop: EventLoop, configuration: ConnectionConfiguration, machine: BlockingConnectionStateMachine) {
            self.init(
                configuration: configuration, machine: machine, timers: loop,
                open: { configuration, delegate in Connection(loop: loop, configuration: configuration, delegate: delegate) })
        }

        /// Sends `arguments` once a connection is ready (and, following Sentinel, is the master's).
        package func send(_ arguments: [String], completion: @escaping (Result<RESPValue, ResubError>) -> Void) {
            nextID += 1
            commands[nextID] = (arguments, completion)
            apply(machine.send(nextID))
        }

        /// Closes at once; everything pending fails with `.disconnected`.
        package func disconnect() {
            apply(machine.disconnect())
            side.close()
            for timer in armed.values { timer.cancel() }
            armed = [:]
        }

        /// QUIT on an idle connection, else ``disconnect()``; `completion` runs at once.
        package func quit(completion: @escaping () -> Void) {
            apply(machine.quit())
            side.close()
            for timer in armed.values { timer.cancel() }
            armed = [:]
            completion()
        }

        /// CLIENT UNBLOCK of this connection's id, from the side connection (to the same node).
        package func unblock(completion: @escaping (Result<Bool, ResubError>) -> Void) {
            guard !machine.isClosed, let clientID else { return completion(.success(false)) }
            side.send(["CLIENT", "UNBLOCK", String(clientID)]) { completion($0.map { $0.int == 1 }) }
        }

        // MARK: MasterFollower

        /// Keeps the monitor's ROLE check and failure report; the master's endpoint comes with every
        /// ``follow(_:)`` (the monitor calls it on each resolution), into the machine.
        package func use(_ source: MasterSource) {
            self.source = source
        }

        /// The monitor named the master (a new one, or the same again).
        package func follow(_ endpoint: RedisEndpoint) {
            apply(machine.masterNamed(endpoint))
        }

        // MARK: Carrying out the machine's actions

        private func apply(_ actions: [Machine.Action]) {
            for action in actions {
                switch action {
                case .open(let endpoint):
                    var configuration = self.configuration
                    configuration.endpoint = endpoint
                    side.retarget(configuration)  // CLIENT UNBLOCK goes where the blocked command is
                    clientID = nil
                    connection = open(configuration, self)
                case .checkRole:
                    guard let connection else { preconditionFailure("ROLE check without a connection in state \(machine.state)") }
                    guard let source else {
                        apply(machine.roleChecked(nil))
                        continue
                    }
                    source.verifyRole(connection) { [weak self] refusal in
                        guard let self, connection === self.connection else { return }  // an older connection's answer
                        self.apply(self.machine.roleChecked(refusal))
                    }
                case .identify:
                    connection?.send(["CLIENT", "ID"]) { [weak self, weak connection] result in
                        guard let self, let connection, connection === self.connection, case .success(let id) = result else { return }
                        self.clientID = id.int
                    }
                case .write(let ids):
                    guard let connection else { preconditionFailure("commands written without a connection in state \(machine.state)") }
                    for id in ids {
                        guard let arguments = commands[id]?.arguments else { continue }
                        connection.send(arguments) { [weak self] result in self?.finish(id, result) }
                    }
                case .fail(let ids, let error):
                    for id in ids {
                        var error = error
                        if error.command == nil { error.command = commands[id]?.arguments.first }
                        finish(id, .failure(error))
                    }
                case .close:
                    // Forgotten first: disconnect() fails what is pending on it synchronously.
                    clientID = nil
                    connection.take()?.disconnect()
                case .quit:
                    // Kept until it is closed: its one-second fallback needs it alive if the server never answers.
                    connection?.quit()
                case .schedule(let timer):
                    let id = timer.id
                    armed[id] = timers.scheduleOnce(after: timer.delay) { [weak self] in
                        guard let self else { return }
                        self.armed[id] = nil
                        self.apply(self.machine.timerFired(id))
                    }
                case .masterFailed:
                    source?.failed()
                }
            }
        }

        /// Completes command `id` (once: later outcomes find nothing).
        private func finish(_ id: Machine.CommandID, _ result: Result<RESPValue, ResubError>) {
            machine.replied(id)
            commands.removeValue(forKey: id)?.completion(result)
        }

        // MARK: ConnectionDelegate

        package func connection(_ connection: Connection, didReport event: ConnectionEvent) {
            guard connection === self.connection, !machine.isClosed else { return }  // an older connection's last words
            switch event {
            case .ready:
                apply(machine.connectionReady())
            case .closed(let error):
                self.connection = nil
                clientID = nil
                apply(machine.connectionClosed(error))
            case .connected, .readFinished, .unsolicited, .push:
                break
            }
        }
    }
}
