/// The decisions of a ``BlockingConnection``, as a value with no I/O: when its one connection opens and
/// where, when the commands that waited for it are written, and how each command fails when the connection
/// closes, the master moves or the owner disconnects.
///
/// The connection opens on the first command, never before, and again on the next command after it closed.
/// With a fixed endpoint that is all. Following a Sentinel-managed master (``init(followingMasterWithin:)``):
/// - the endpoint is the master the monitor named last (``masterNamed(_:)``); commands sent before any is
///   known wait for one, at most `masterWait` (then they fail with ``ResubError/Code/connectionFailed``);
/// - every new connection checks `ROLE` before the commands that waited are written; a node that is not the
///   master (a stale sentinel's answer) is left, and the commands that waited (sent nowhere yet) wait for the
///   master the sentinels name again, at most `masterWait`; they fail with the refusal when that wait runs
///   out or the sentinels name a node that refused already (no loop of connections to replicas);
/// - a new master closes the connection to the old one at once: the commands sent there (a `BLPOP … 0`
///   blocked on a frozen or demoted master) fail with ``ResubError/Code/disconnected`` saying the master
///   changed, and are not sent again; commands not yet sent go to the new master;
/// - a connection that fails sends the resolution back to the sentinels (``Action/masterFailed``).
///
/// Commands are numbered by the owner; the machine tracks which wait for a connection and which were
/// written on the current one. Timers are values (as in ``HealthStateMachine``): one the machine no longer
/// waits for is ignored.
package struct BlockingConnectionStateMachine: Sendable {
    /// The owner's number for one command.
    package typealias CommandID = Int

    /// A timer request.
    package struct Timer: Equatable, Sendable {
        /// Pass this back to ``timerFired(_:)``.
        package var id: Int
        /// How long from now.
        package var delay: Duration

        /// A timer request (tests compare actions with it).
        package init(id: Int, delay: Duration) {
            self.id = id
            self.delay = delay
        }
    }

    /// What the owner must do, in order.
    package enum Action: Equatable, Sendable {
        /// Open a connection to `endpoint` (there is none) and report ``connectionReady()`` or
        /// ``connectionClosed(_:)``.
        case open(RedisEndpoint)
        /// Send `ROLE` on the new connection and report the outcome to ``roleChecked(_:)``.
        case checkRole
        /// Learn the new connection's `CLIENT ID` (for `CLIENT UNBLOCK`), ahead of any command.
        case identify
        /// Write these commands on the connection, in order; report each reply to ``replied(_:)``.
        case write([CommandID])
        /// Complete these commands with `error`.
        case fail([CommandID], ResubError)
        /// Close the connection at once (what is still pending on it fails with `.disconnected`).
        case close
        /// Send `QUIT` on the idle connection and keep it until the server closes it.
        case quit
        /// Arm a timer.
        case schedule(Timer)
        /// The connection to the master failed or was refused: ask the sentinels again.
        case masterFailed
    }

    /// Where the connection is.
    package enum State: Equatable, Sendable {
        /// No connection and nothing waiting.
        case idle
        /// Commands wait for the sentinels to name a master; the wait ends at timer `timer`.
        case waitingForMaster(timer: Int)
        /// A connection to the endpoint is opening (socket and handshake); commands wait.
        case connecting(RedisEndpoint)
        /// The connection is ready and `ROLE` was sent; commands wait for the answer.
        case checkingRole(RedisEndpoint)
        /// Commands are written at once.
        case ready(RedisEndpoint)
        /// Closed by the owner (disconnect or quit): every command fails, nothing opens again.
        case closed
    }

    /// Where the connection is.
    package private(set) var state: State = .idle
    /// Commands waiting for a connection (or for its ROLE check), in order.
    package private(set) var queued: [CommandID] = []
    /// Commands written on the current connection and not answered yet, in order.
    package private(set) var sent: [CommandID] = []
    /// The endpoint of the next connection: the fixed one, or the master named last (nil: none known).
    package private(set) var endpoint: RedisEndpoint?
    /// Whether the endpoint is a Sentinel-managed master: ROLE check, moves, failures reported.
    package let followsMaster: Bool
    private let masterWait: Duration
    private var nextTimer = 0
    /// The nodes that refused the master role while the queued commands waited, and the last refusal.
    private var refused: Set<RedisEndpoint> = []
    private var lastRefusal: ResubError?

    /// A connection to one fixed endpoint.
    package init(endpoint: RedisEndpoint) {
        self.endpoint = endpoint
        self.followsMaster = false
        self.masterWait = .zero
    }

    /// A connection to the master a Sentinel monitor names; commands wait at most `masterWait` for a first
    /// master (the connect timeout: finding the master is part of connecting).
    package init(followingMasterWithin masterWait: Duration) {
        self.endpoint = nil
        self.followsMaster = true
        self.masterWait = masterWait
    }

    /// Whether the owner closed it.
    package var isClosed: Bool { state == .closed }

    // MARK: Commands

    /// The owner sends command `id`.
    package mutating func send(_ id: CommandID) -> [Action] {
        switch state {
        case .closed:
            return [.fail([id], Self.closedByClient)]
        case .ready:
            sent.append(id)
            return [.write([id])]
        case .waitingForMaster, .connecting, .checkingRole:
            queued.append(id)
            return []
        case .idle:
            queued.append(id)
            return connect()
        }
    }

    /// Command `id` was answered (or failed by its connection).
    package mutating func replied(_ id: CommandID) {
        sent.removeAll { $0 == id }
    }

    // MARK: The connection

    /// The current connection finished its handshake.
    package mutating func connectionReady() -> [Action] {
        guard case .connecting(let endpoint) = state else { preconditionFailure("connection ready in state \(state)") }
        guard followsMaster else { return becomeReady(endpoint) }
        state = .checkingRole(endpoint)
        return [.checkRole]
    }

    /// The answer to ``Action/checkRole``: nil when the node is the master, else why it is not.
    package mutating func roleChecked(_ refusal: ResubError?) -> [Action] {
        guard case .checkingRole(let endpoint) = state else { preconditionFailure("ROLE answered in state \(state)") }
        guard let refusal else { return becomeReady(endpoint) }
        // The monitor forgot this master already (it asks the sentinels again): what waited goes to the one
        // they name next.
        self.endpoint = nil
        refused.insert(endpoint)
        lastRefusal = refusal
        return [.close] + waitForMaster() + [.masterFailed]
    }

    /// The current connection closed on its own (refused, reset, closed by the server, protocol error).
    /// The commands written on it are failed by the connection itself; those still waiting fail with `error`.
    package mutating func connectionClosed(_ error: ResubError) -> [Action] {
        switch state {
        case .connecting, .checkingRole, .ready:
            state = .idle
            sent = []
            var actions = failQueued(error)
            if followsMaster { actions.append(.masterFailed) }
            return actions
        case .idle, .waitingForMaster, .closed:
            preconditionFailure("connection closed in state \(state)")
        }
    }

    // MARK: The master

    /// The monitor named the master (after a `+switch-master`, or any resolution: often the same node).
    package mutating func masterNamed(_ master: RedisEndpoint) -> [Action] {
        precondition(followsMaster, "a fixed endpoint has no master to follow")
        endpoint = master
        switch state {
        case .closed, .idle:
            return []
        case .waitingForMaster:
            if refused.contains(master), let lastRefusal {
                // The sentinels keep naming a node that is not the master: give up rather than loop.
                state = .idle
                return failQueued(lastRefusal)
            }
            return connect()
        case .connecting(let node), .checkingRole(let node):
            // Nothing was written there yet: the commands that wait go to the new master instead.
            guard node != master else { return [] }
            state = .idle
            return [.close] + connect()
        case .ready(let node):
            guard node != master else { return [] }
            state = .idle
            let error = ResubError(
                .disconnected, "the master changed to \(master.address): the connection to the old master was closed",
                node: node.address.description)
            // Failed first, with this error, before the close fails them as a plain disconnect.
            var actions: [Action] = sent.isEmpty ? [] : [.fail(takeSent(), error)]
            actions.append(.close)
            return actions
        }
    }

    /// A timer fired.
    package mutating func timerFired(_ id: Int) -> [Action] {
        guard case .waitingForMaster(let timer) = state, timer == id else { return [] }
        state = .idle
        let error = lastRefusal ?? ResubError(.connectionFailed, "no master known within \(masterWait.short): the sentinels have named none")
        return failQueued(error)
    }

    // MARK: Closing

    /// The owner closes at once: everything pending fails with ``ResubError/Code/disconnected`` (those
    /// written on the connection through its close), and so does every later command.
    package mutating func disconnect() -> [Action] {
        let hadConnection = hasConnection
        state = .closed
        sent = []
        return (hadConnection ? [.close] : []) + failQueued(Self.closedByClient)
    }

    /// The owner closes politely: QUIT when the connection is ready and idle, else ``disconnect()``.
    package mutating func quit() -> [Action] {
        guard case .ready = state, sent.isEmpty, queued.isEmpty else { return disconnect() }
        state = .closed
        return [.quit]
    }

    // MARK: Helpers

    private static let closedByClient = ResubError(.disconnected, "connection closed by the client")

    private var hasConnection: Bool {
        switch state {
        case .connecting, .checkingRole, .ready: return true
        case .idle, .waitingForMaster, .closed: return false
        }
    }

    /// Opens a connection for the queued commands, or waits for a master.
    private mutating func connect() -> [Action] {
        guard let endpoint else { return waitForMaster() }
        state = .connecting(endpoint)
        return [.open(endpoint)]
    }

    /// Fails every queued command with `error` (nothing when none waits).
    private mutating func failQueued(_ error: ResubError) -> [Action] {
        guard !queued.isEmpty else { return [] }
        defer { drained() }
        return [.fail(queued, error)]
    }

    /// The queue is empty: the refusals it met are forgotten.
    private mutating func drained() {
        queued = []
        refused = []
        lastRefusal = nil
    }

    private mutating func takeSent() -> [CommandID] {
        defer { sent = [] }
        return sent
    }

    /// The queued commands wait for the sentinels to name a master, at most `masterWait`.
    private mutating func waitForMaster() -> [Action] {
        nextTimer += 1
        state = .waitingForMaster(timer: nextTimer)
        return [.schedule(Timer(id: nextTimer, delay: masterWait))]
    }

    private mutating func becomeReady(_ endpoint: RedisEndpoint) -> [Action] {
        state = .ready(endpoint)
        guard !queued.isEmpty else { return [.identify] }
        let ids = queued
        drained()
        sent += ids
        return [.identify, .write(ids)]
    }
}
