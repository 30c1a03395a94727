import LibeventLoop
import RESP

/// One connection to one Redis server: the driver of a ``ConnectionStateMachine`` over a ``Transport``.
/// It owns what the machine must not: the transport, the parser, the output buffer, the commands'
/// completions and the QUIT fallback timer, and it carries out the machine's actions. Loop-only (the thread
/// of its ``TimerScheduler``; in unit tests the test's own thread).
///
/// The receive path stays outside the machine: once per read the driver asks the machine how to route
/// (``ConnectionStateMachine/routing``), lets the parser's fast path hand complete messages straight to the
/// delegate as views into its buffer, counts fast-path confirmations through the machine, and feeds the
/// machine only the values the fast path left (replies, split frames, other pushes).
package final class Connection: TransportDelegate, @unchecked Sendable {
    /// Lifecycle of the connection.
    package typealias State = ConnectionStateMachine.Phase

    private enum Completion {
        case reply((Result<RESPValue, ResubError>) -> Void)
        case subscription((Result<Void, ResubError>) -> Void)
    }

    /// Runs the QUIT fallback timer, and is the thread everything runs on.
    package let scheduler: any TimerScheduler
    /// The server, credentials and socket settings.
    package let configuration: ConnectionConfiguration
    /// Hears of the connection's events; held weakly.
    package weak var delegate: (any ConnectionDelegate)?
    /// The monotonic time of the last byte received (or of the connect), for the health monitor.
    package private(set) var lastReadAt: ContinuousClock.Instant
    /// The node this connection talks to, `host:port`.
    package var node: String { configuration.endpoint.address.description }
    /// The `CLIENT ID` is not fetched; this counts this process's connections, for logs.
    package let serial: Int

    private var machine: ConnectionStateMachine
    private var transport: (any Transport)?
    private var parser: RESPParser
    private var output: [UInt8] = []
    private var completions: [ConnectionStateMachine.CommandID: Completion] = [:]
    private var quitTimer: (any ScheduledTimer)?

    nonisolated(unsafe) private static var serials = 0

    /// Starts connecting at once over a libevent socket. Loop-only.
    package convenience init(loop: EventLoop, configuration: ConnectionConfiguration, delegate: any ConnectionDelegate) {
        loop.assertInLoop()
        self.init(scheduler: loop, configuration: configuration, delegate: delegate) { transportDelegate in
            loop.connect(to: configuration.endpoint.address, options: configuration.socket, delegate: transportDelegate)
        }
    }

    /// Starts connecting through `open`, which gets the connection as the transport's delegate and returns
    /// the transport (a test passes a fake, and a manual scheduler). On the scheduler's thread.
    package init(
        scheduler: any TimerScheduler, configuration: ConnectionConfiguration, delegate: any ConnectionDelegate,
        open: (any TransportDelegate) -> any Transport
    ) {
        self.scheduler = scheduler
        self.configuration = configuration
        self.delegate = delegate
        self.parser = RESPParser(configuration: configuration.parser)
        self.lastReadAt = .now
        Self.serials += 1
        self.serial = Self.serials
        let endpoint = configuration.endpoint
        self.machine = ConnectionStateMachine(
            node: endpoint.address.description,
            handshake: HandshakeStateMachine(
                username: endpoint.username, password: endpoint.password,
                clientName: configuration.clientName, preference: configuration.protocolPreference))
        transport = open(self)
    }

    /// The lifecycle phase.
    package var state: State { machine.phase }

    /// 2 or 3 once ready.
    package var protocolVersion: Int { machine.protocolVersion }

    /// Stops or resumes reading the socket (flow control toward a slow consumer). Loop-only.
    package var isReadingPaused: Bool {
        get { transport?.isReadingPaused ?? false }
        set { transport?.isReadingPaused = newValue }
    }

    /// Commands waiting for a reply (handshake included).
    package var pendingCount: Int { machine.pendingCount }

    // MARK: Sending

    /// Sends a command; `completion` runs on the loop with its reply (an error reply is a `.success` whose
    /// value is an error: the caller decides), or with ``ResubError/Code/disconnected`` if the connection
    /// closes first. Loop-only.
    package func send(_ arguments: [String], completion: @escaping (Result<RESPValue, ResubError>) -> Void) {
        assertInLoop()
        let (id, actions) = machine.send(arguments)
        completions[id] = .reply(completion)
        perform(actions)
        flush()
    }

    /// Queues one `SUBSCRIBE`-family command for `names` (when empty: nothing, and no completion), written by the next
    /// ``flush()`` so that a replay's commands go out in one write. `completion` runs once a confirmation
    /// arrived for every name, or with an error. Loop-only.
    package func sendSubscription(
        _ kind: SubscriptionKind, subscribe: Bool, names: [String],
        completion: @escaping (Result<Void, ResubError>) -> Void
    ) {
        assertInLoop()
        guard !names.isEmpty else { return }
        let (id, actions) = machine.sendSubscription(kind, subscribe: subscribe, names: names)
        completions[id] = .subscription(completion)
        perform(actions)
    }

    /// Writes everything queued by ``sendSubscription(_:subscribe:names:completion:)`` in one go.
    package func flush() {
        guard !output.isEmpty, let transport else { return }
        transport.write(output)
        output.removeAll(keepingCapacity: output.capacity <= 1 << 20)
    }

    /// Sends `PING`; the completion gets `PONG` (RESP3 or unsubscribed) or `pong ""` (RESP2 subscribed).
    package func ping(completion: @escaping (Result<RESPValue, ResubError>) -> Void) {
        send(["PING"], completion: completion)
    }

    // MARK: Closing

    /// Closes the socket at once and fails every pending command with ``ResubError/Code/disconnected``.
    /// Harmless when already closed. The delegate is not told. Loop-only.
    package func disconnect() {
        assertInLoop()
        perform(machine.disconnect())
    }

    /// The polite close for an idle connection: sends QUIT and closes when the server answers or hangs up
    /// (or after one second). With commands pending (a blocked read, say) it is ``disconnect()``: QUIT would
    /// wait behind them. Loop-only.
    package func quit() {
        assertInLoop()
        perform(machine.quit())
        flush()
    }

    // MARK: TransportDelegate

    // A transport may have queued an event before it was closed; once closed the machine hears nothing more.

    package func transportDidConnect(_ transport: any Transport) {
        guard !machine.isClosed else { return }
        lastReadAt = .now
        perform(machine.connected())
        flush()
    }

    package func transport(_ transport: any Transport, didRead chunk: UnsafeRawBufferPointer) {
        parser.feed(chunk)
    }

    package func transportDidFinishReading(_ transport: any Transport) {
        lastReadAt = .now
        guard let delegate, !machine.isClosed else { return }
        do {
            reading: while true {
                switch machine.routing {
                case .closed:
                    break reading
                case .values:
                    break
                case .pubSub(let arraysArePubSub):
                    _ = parser.drainPubSubFrames(
                        allowArrays: arraysArePubSub,
                        message: { delegate.connection(self, didReceive: $0) },
                        confirmation: { view in
                            // A message handler may have closed the connection; the rest of the read is moot.
                            guard !self.machine.isClosed else { return }
                            self.perform(self.machine.confirmed(SubscriptionKind(view.kind), subscribe: view.subscribe, name: Array(view.name)))
                        })
                    if machine.isClosed { break reading }
                }
                guard let value = try parser.next() else { break }
                perform(machine.received(value))
            }
        } catch {
            perform(machine.parseFailed(error))
            return
        }
        flush()
        if !machine.isClosed { delegate.connection(self, didReport: .readFinished) }
    }

    package func transport(_ transport: any Transport, didCloseWith error: SocketError) {
        guard !machine.isClosed else { return }
        perform(machine.transportClosed(error))
    }

    // MARK: Actions

    private func perform(_ actions: [ConnectionStateMachine.Action]) {
        for action in actions {
            switch action {
            case .write(let command):
                // After a close (a completion or the delegate may close mid-way) output has nowhere to go.
                guard transport != nil else { continue }
                RESPEncoder.appendCommand(command, to: &output)
            case .reply(let id, let value):
                guard case .reply(let completion) = completions.removeValue(forKey: id) else {
                    preconditionFailure("no reply completion for command \(id)")
                }
                completion(.success(value))
            case .subscribed(let id):
                guard case .subscription(let completion) = completions.removeValue(forKey: id) else {
                    preconditionFailure("no subscription completion for command \(id)")
                }
                completion(.success(()))
            case .fail(let id, let error):
                switch completions.removeValue(forKey: id) {
                case .reply(let completion): completion(.failure(error))
                case .subscription(let completion): completion(.failure(error))
                case nil: preconditionFailure("no completion for command \(id)")
                }
            case .startQuitTimer(let delay):
                quitTimer = scheduler.scheduleOnce(after: delay) { [weak self] in self?.disconnect() }
            case .closeTransport:
                quitTimer?.cancel()
                quitTimer = nil
                transport?.close()
                transport = nil
                output = []
            case .notifyClosed(let error):
                delegate?.connection(self, didReport: .closed(error))
            case .notifyConnected, .ready, .message, .unsolicited, .push:
                // What the owner hears of an open connection; not once it closed mid-way through the actions.
                guard !machine.isClosed, let delegate else { continue }
                notify(delegate, action)
            }
        }
    }

    private func notify(_ delegate: any ConnectionDelegate, _ action: ConnectionStateMachine.Action) {
        switch action {
        case .notifyConnected:
            delegate.connection(self, didReport: .connected)
        case .ready:
            delegate.connection(self, didReport: .ready)
        case .message(let kind, let pattern, let channel, let payload):
            pattern.withUnsafeBytes { p in
                channel.withUnsafeBytes { c in
                    payload.withUnsafeBytes { m in
                        delegate.connection(self, didReceive: RESPMessageView(kind: kind, pattern: p, channel: c, payload: m))
                    }
                }
            }
        case .unsolicited(let kind, let subscribe, let name):
            delegate.connection(self, didReport: .unsolicited(kind: kind, subscribe: subscribe, name: name))
        case .push(let value):
            delegate.connection(self, didReport: .push(value))
        default:
            preconditionFailure("\(action) is not a notification")
        }
    }

    private func assertInLoop(file: StaticString = #fileID, line: UInt = #line) {
        scheduler.assertInLoop(file: file, line: line)
    }
}
