import DequeModule
import LibeventLoop
import RESP

/// One connection to one Redis server: socket, parser, handshake, in-order reply matching and push routing.
/// Loop-only.
///
/// Replies are matched to commands by order (Redis answers in order). (Un)subscribe commands are answered
/// by one confirmation per name, counted down on their queue entry; an error reply in their place fails the
/// whole command. In RESP3 pub/sub frames are pushes; in RESP2 subscribed mode they are arrays, told apart
/// from replies because in that mode the server accepts nothing else than (un)subscribe commands and PING,
/// whose reply is the array `pong ""`.
package final class Connection: TransportDelegate, @unchecked Sendable {
    /// Lifecycle of the connection.
    package enum State: Equatable, Sendable {
        /// The socket is connecting.
        case connecting
        /// Connected; the handshake is running.
        case handshaking
        /// Ready for commands.
        case ready
        /// QUIT sent; waiting for the server to close.
        case quitting
        /// Closed; nothing more will happen.
        case closed
    }

    private enum Pending {
        case handshake
        case reply((Result<RESPValue, ResubError>) -> Void)
        case subscription(kind: SubscriptionKind, subscribe: Bool, remaining: Int, completion: (Result<Void, ResubError>) -> Void)
    }

    /// The loop's timers (a manual scheduler in tests).
    package let loop: any TimerScheduler
    package let configuration: ConnectionConfiguration
    package weak var delegate: (any ConnectionDelegate)?
    package private(set) var state: State = .connecting
    /// 2 or 3 once ready.
    package private(set) var protocolVersion = 0
    /// The monotonic time of the last byte received (or of the connect), for the health monitor.
    package private(set) var lastReadAt: ContinuousClock.Instant
    /// The node this connection talks to, `host:port`.
    package var node: String { configuration.endpoint.address.description }
    /// The `CLIENT ID` is not fetched; this counts this process's connections, for logs.
    package let serial: Int

    private var socket: (any Transport)?
    private var parser: RESPParser
    private var pending = Deque<Pending>()
    private var handshake: HandshakeStateMachine
    private var output: [UInt8] = []
    private var quitTimer: (any ScheduledTimer)?
    /// RESP2 connections used for pub/sub: arrays may be messages (see the type's doc).
    private var resp2Subscriber = false

    nonisolated(unsafe) private static var serials = 0

    /// Starts connecting at once over a libevent socket. Loop-only.
    package convenience init(loop: EventLoop, configuration: ConnectionConfiguration, delegate: any ConnectionDelegate) {
        loop.assertInLoop(file: #fileID, line: #line)
        self.init(loop: loop, configuration: configuration, delegate: delegate) { transportDelegate in
            loop.connect(to: configuration.endpoint.address, options: configuration.socket, delegate: transportDelegate)
        }
    }

    /// Starts connecting through `open`, which gets the connection as the transport's delegate and returns
    /// the transport (a test passes a fake). Loop-only.
    package init(
        loop: any TimerScheduler, configuration: ConnectionConfiguration, delegate: any ConnectionDelegate,
        open: (any TransportDelegate) -> any Transport
    ) {
        self.loop = loop
        self.configuration = configuration
        self.delegate = delegate
        self.parser = RESPParser(configuration: configuration.parser)
        self.lastReadAt = .now
        Self.serials += 1
        self.serial = Self.serials
        let endpoint = configuration.endpoint
        self.handshake = HandshakeStateMachine(
            username: endpoint.username, password: endpoint.password,
            clientName: configuration.clientName, preference: configuration.protocolPreference)
        socket = open(self)
    }

    /// Stops or resumes reading the socket (flow control toward a slow consumer). Loop-only.
    package var isReadingPaused: Bool {
        get { socket?.isReadingPaused ?? false }
        set { socket?.isReadingPaused = newValue }
    }

    /// Commands waiting for a reply (handshake included).
    package var pendingCount: Int { pending.count }

    // MARK: Sending

    /// Sends a command; `completion` runs on the loop with its reply (an error reply is a `.success` whose
    /// value is an error: the caller decides), or with ``ResubError/Code/disconnected`` if the connection
    /// closes first. Loop-only.
    package func send(_ arguments: [String], completion: @escaping (Result<RESPValue, ResubError>) -> Void) {
        loop.assertInLoop(file: #fileID, line: #line)
        guard state == .ready else {
            completion(.failure(ResubError(.disconnected, "connection is not ready (\(state))", command: arguments.first, node: node)))
            return
        }
        RESPEncoder.appendCommand(arguments, to: &output)
        pending.append(.reply(completion))
        flush()
    }

    /// Sends `SUBSCRIBE`-family commands for `names`, `batchSize` names per command, pipelined in one write.
    /// Each command's `completion` runs once all its confirmations arrived, or with an error. Loop-only.
    package func sendSubscription(
        _ kind: SubscriptionKind, subscribe: Bool, names: [String],
        completion: @escaping (Result<Void, ResubError>) -> Void
    ) {
        loop.assertInLoop(file: #fileID, line: #line)
        guard !names.isEmpty else { return }
        guard state == .ready else {
            completion(.failure(ResubError(.disconnected, "connection is not ready (\(state))", node: node)))
            return
        }
        if protocolVersion == 2 { resp2Subscriber = true }
        RESPEncoder.appendCommand(subscribe ? kind.subscribeCommand : kind.unsubscribeCommand, names, to: &output)
        pending.append(.subscription(kind: kind, subscribe: subscribe, remaining: names.count, completion: completion))
    }

    /// Writes everything queued by ``sendSubscription(_:subscribe:names:completion:)`` in one go.
    package func flush() {
        guard !output.isEmpty, let socket else { return }
        socket.write(output)
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
        loop.assertInLoop(file: #fileID, line: #line)
        close(error: ResubError(.disconnected, "connection closed by the client", node: node), notify: false)
    }

    /// The polite close for an idle connection: sends QUIT and closes when the server answers or hangs up
    /// (or after one second). With commands pending (a blocked read, say) it is ``disconnect()``: QUIT would
    /// wait behind them. Loop-only.
    package func quit() {
        loop.assertInLoop(file: #fileID, line: #line)
        guard state == .ready, pending.isEmpty else {
            disconnect()
            return
        }
        state = .quitting
        RESPEncoder.appendCommand(["QUIT"], to: &output)
        pending.append(.reply { [weak self] _ in self?.disconnect() })
        flush()
        quitTimer = loop.scheduleOnce(after: .seconds(1)) { [weak self] in self?.disconnect() }
    }

    private func close(error: ResubError, notify: Bool) {
        guard state != .closed else { return }
        state = .closed
        quitTimer?.cancel()
        quitTimer = nil
        socket?.close()
        socket = nil
        output = []
        let failed = pending
        pending.removeAll()
        for entry in failed {
            switch entry {
            case .handshake: break
            case .reply(let completion): completion(.failure(error))
            case .subscription(_, _, _, let completion): completion(.failure(error))
            }
        }
        if notify { delegate?.connection(self, didReport: .closed(error)) }
    }

    // MARK: TransportDelegate

    package func transportDidConnect(_ transport: any Transport) {
        lastReadAt = .now
        state = .handshaking
        delegate?.connection(self, didReport: .connected)
        guard state == .handshaking else { return }
        apply(handshake.start())
    }

    private func apply(_ action: HandshakeStateMachine.Action) {
        switch action {
        case .send(let commands):
            for command in commands {
                RESPEncoder.appendCommand(command, to: &output)
                pending.append(.handshake)
            }
            flush()
        case .wait:
            break
        case .ready(let version):
            protocolVersion = version
            state = .ready
            delegate?.connection(self, didReport: .ready)
        case .fail(var error):
            error.node = node
            close(error: error, notify: true)
        }
    }

    package func transport(_ transport: any Transport, didRead chunk: UnsafeRawBufferPointer) {
        parser.feed(chunk)
    }

    package func transportDidFinishReading(_ transport: any Transport) {
        lastReadAt = .now
        guard let delegate else { return }
        do {
            while state != .closed {
                if state == .ready || state == .quitting {
                    _ = parser.drainPubSubFrames(
                        allowArrays: resp2Subscriber,
                        message: { delegate.connection(self, didReceive: $0) },
                        confirmation: { view in
                            guard let (kind, subscribe) = SubscriptionKind.confirmation(verb: view.verb) else { return }
                            self.confirm(kind, subscribe: subscribe, name: view.name, delegate: delegate)
                        })
                }
                guard state != .closed, let value = try parser.next() else { break }
                route(value, delegate: delegate)
            }
        } catch {
            close(error: ResubError(.protocolError, error.description, node: node), notify: true)
            return
        }
        if state != .closed { delegate.connection(self, didReport: .readFinished) }
    }

    package func transport(_ transport: any Transport, didCloseWith error: SocketError) {
        if state == .quitting {
            close(error: ResubError(.disconnected, "connection closed after QUIT", node: node), notify: false)
            return
        }
        let code: ResubError.Code = state == .connecting ? .connectionFailed : (error == .endOfFile ? .disconnected : .connectionFailed)
        close(error: ResubError(code, error.description, node: node), notify: true)
    }

    // MARK: Routing

    /// Routes a value the fast path did not take (see ``RESPFrameRoute``).
    private func route(_ value: RESPValue, delegate: any ConnectionDelegate) {
        switch RESPFrameRoute.route(value, arraysArePubSub: resp2Subscriber) {
        case .message(let kind, let pattern, let channel, let payload):
            pattern.withUnsafeBytes { p in
                channel.withUnsafeBytes { c in
                    payload.withUnsafeBytes { m in
                        delegate.connection(self, didReceive: RESPMessageView(kind: kind, pattern: p, channel: c, payload: m))
                    }
                }
            }
        case .confirmation(let verb, let name):
            if let (kind, subscribe) = SubscriptionKind.confirmation(verb) {
                name.withUnsafeBytes { confirm(kind, subscribe: subscribe, name: $0, delegate: delegate) }
            }
        case .reply:
            reply(value.withoutAttributes)
        case .otherPush:
            delegate.connection(self, didReport: .push(value))
        }
    }

    /// Counts a confirmation against the command at the head of the queue when it is of the same kind;
    /// otherwise the server acted on its own and the delegate hears of it.
    private func confirm(_ kind: SubscriptionKind, subscribe: Bool, name: UnsafeRawBufferPointer, delegate: any ConnectionDelegate) {
        if case .subscription(let k, let s, let remaining, let completion) = pending.first, k == kind, s == subscribe {
            if remaining == 1 {
                pending.removeFirst()
                completion(.success(()))
            } else {
                pending[pending.startIndex] = .subscription(kind: k, subscribe: s, remaining: remaining - 1, completion: completion)
            }
        } else {
            delegate.connection(self, didReport: .unsolicited(kind: kind, subscribe: subscribe, name: Array(name)))
        }
    }

    private func reply(_ value: RESPValue) {
        guard let head = pending.popFirst() else {
            // An error with nothing pending (max clients, LOADING) or a stray reply: we are out of step.
            let text = value.isError ? "error reply with no command pending: \(value.string ?? "")" : "reply with no command pending"
            close(error: ResubError(.protocolError, text, serverError: value.isError ? value.string : nil, node: node), notify: true)
            return
        }
        switch head {
        case .handshake:
            apply(handshake.received(value))
        case .reply(let completion):
            completion(.success(value))
        case .subscription(let kind, let subscribe, _, let completion):
            if value.isError {
                completion(.failure(ResubError(
                    .serverError, "server refused \(subscribe ? kind.subscribeCommand : kind.unsubscribeCommand)",
                    serverError: value.string, command: subscribe ? kind.subscribeCommand : kind.unsubscribeCommand, node: node)))
            } else {
                close(error: ResubError(.protocolError, "unexpected reply \(value) to \(kind.subscribeCommand)", node: node), notify: true)
            }
        }
    }
}
