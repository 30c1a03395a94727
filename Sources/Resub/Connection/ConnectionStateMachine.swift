import DequeModule
import LibeventLoop
import RESP

/// The logic of one connection to one Redis server, as a value with no I/O and no clock: the handshake, the
/// in-order matching of replies to commands, the counting of (un)subscribe confirmations and the routing of
/// frames. ``Connection`` drives it over a transport and carries out its actions.
///
/// Replies are matched to commands by order (Redis answers in order). An (un)subscribe command is answered by
/// one confirmation per name, counted down on its queue entry; an error reply in their place fails the whole
/// command. In RESP3 pub/sub frames are pushes; in RESP2 subscribed mode they are arrays, told apart from
/// replies because in that mode the server accepts nothing but (un)subscribe commands and PING, whose reply
/// is the array `pong ""` (see ``RESPFrameRoute``).
///
/// Completions stay with the driver: commands are named by ``CommandID``s, which the actions hand back.
/// Pub/sub messages and confirmations taken by the parser's fast path never enter the machine as values:
/// the driver asks for ``routing`` once per read, hands messages straight to its owner, and feeds each
/// confirmation to ``confirmed(_:subscribe:name:)``.
package struct ConnectionStateMachine: Sendable {
    /// Names a command sent through the machine; the driver keeps its completion under this id.
    package typealias CommandID = Int

    /// The lifecycle without what each state carries: what ``Connection/state`` reports.
    package enum Phase: Equatable, Sendable {
        /// The transport is connecting.
        case connecting
        /// Connected; the handshake is running.
        case handshaking
        /// Ready for commands.
        case ready
        /// QUIT sent; waiting for the server to answer or close.
        case quitting
        /// Closed; nothing more will happen.
        case closed
    }

    /// Where the machine is, with what belongs to each state.
    package enum State: Sendable {
        /// The transport is connecting; the handshake to run once it is connected.
        case connecting(HandshakeStateMachine)
        /// Connected; the login conversation runs. `awaiting` counts its commands not answered yet.
        case handshaking(HandshakeStateMachine, awaiting: Int)
        /// Ready for commands: the queue of commands waiting for replies, the protocol, the mode.
        case ready(Ready)
        /// QUIT sent (with nothing else pending); its reply or the server's close ends the connection. Pub/sub
        /// frames may still arrive before it, routed as in ``ready(_:)``.
        case quitting(protocolVersion: Int, subscribedMode: Bool)
        /// Closed; nothing more will happen.
        case closed
        /// Never observed: held only while a transition edits ``Ready`` in place, so that its queue is not
        /// copied (the enum would otherwise share the queue's storage with the copy being edited).
        case modifying
    }

    /// What the ready state carries.
    package struct Ready: Sendable {
        /// Commands sent and not answered yet, oldest first.
        package var pending: Deque<Pending> = []
        /// 2 or 3.
        package let protocolVersion: Int
        /// A RESP2 connection that has sent an (un)subscribe command: arrays may be pub/sub frames.
        package var subscribedMode = false
    }

    /// One command waiting in the ready state's queue.
    package enum Pending: Equatable, Sendable {
        /// A command whose reply goes to its owner.
        case reply(CommandID)
        /// An (un)subscribe command still expecting `remaining` confirmations.
        case subscription(CommandID, kind: SubscriptionKind, subscribe: Bool, remaining: Int)

        /// The command's id.
        package var id: CommandID {
            switch self {
            case .reply(let id), .subscription(let id, _, _, _): return id
            }
        }
    }

    /// How the driver reads frames: asked once per read, and again only after a frame went through the
    /// machine, never per message.
    package enum Routing: Equatable, Sendable {
        /// Parsed values only (nothing connected yet, or the handshake is running).
        case values
        /// The parser's pub/sub fast path first, then parsed values; `arraysArePubSub` in RESP2 subscribed mode.
        case pubSub(arraysArePubSub: Bool)
        /// Closed: stop reading.
        case closed
    }

    /// What the driver must do, in order.
    package enum Action: Equatable, Sendable {
        /// Encode this command and queue it for the transport (the driver flushes).
        case write([String])
        /// Tell the owner the transport connected (the handshake starts).
        case notifyConnected
        /// Tell the owner the handshake finished: the connection speaks this protocol version (2 or 3).
        case ready(protocolVersion: Int)
        /// Complete command `id` with its reply (an error reply too: its owner decides).
        case reply(CommandID, RESPValue)
        /// The (un)subscribe command `id` received all its confirmations.
        case subscribed(CommandID)
        /// Fail command `id` (refused, or the connection is not ready or closed).
        case fail(CommandID, ResubError)
        /// Hand the owner a pub/sub message that came through the general path.
        case message(MessageKind, pattern: [UInt8], channel: [UInt8], payload: [UInt8])
        /// Tell the owner of a (un)subscribe confirmation no command was waiting for: the server changed a
        /// subscription on its own.
        case unsolicited(SubscriptionKind, subscribe: Bool, name: [UInt8])
        /// Hand the owner a push that is neither a message nor a confirmation.
        case push(RESPValue)
        /// Arm the QUIT fallback: disconnect after this delay unless the server answered or closed first.
        case startQuitTimer(Duration)
        /// Close the transport, drop unsent output, cancel the QUIT fallback. Pending commands are failed by
        /// the ``fail(_:_:)`` actions that follow.
        case closeTransport
        /// Tell the owner the connection closed with this error (not after ``disconnect()`` or ``quit()``,
        /// whose caller knows).
        case notifyClosed(ResubError)
    }

    /// How long the server has to answer QUIT before the connection is closed anyway.
    package static let quitTimeout = Duration.seconds(1)

    /// The current state.
    package private(set) var state: State
    /// The node (`host:port`), for errors.
    package let node: String
    private var lastID: CommandID = 0

    /// A machine for one connection attempt to `node`, logging in with `handshake` once connected.
    package init(node: String, handshake: HandshakeStateMachine) {
        self.node = node
        self.state = .connecting(handshake)
    }

    // MARK: Queries

    /// The lifecycle phase.
    package var phase: Phase {
        switch state {
        case .connecting: return .connecting
        case .handshaking: return .handshaking
        case .ready: return .ready
        case .quitting: return .quitting
        case .closed: return .closed
        case .modifying: preconditionFailure("phase read in state \(state)")
        }
    }

    /// Whether the connection is closed.
    package var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// 2 or 3 once ready (and while quitting); 0 before and after.
    package var protocolVersion: Int {
        switch state {
        case .ready(let ready): return ready.protocolVersion
        case .quitting(let version, _): return version
        default: return 0
        }
    }

    /// Commands waiting for a reply (the handshake's included).
    package var pendingCount: Int {
        switch state {
        case .handshaking(_, let awaiting): return awaiting
        case .ready(let ready): return ready.pending.count
        case .quitting: return 1
        default: return 0
        }
    }

    /// How the driver reads frames now.
    package var routing: Routing {
        switch state {
        case .connecting, .handshaking: return .values
        case .ready(let ready): return .pubSub(arraysArePubSub: ready.subscribedMode)
        case .quitting(_, let subscribedMode): return .pubSub(arraysArePubSub: subscribedMode)
        case .closed: return .closed
        case .modifying: preconditionFailure("routing read in state \(state)")
        }
    }

    // MARK: Transport events

    /// The transport connected: tell the owner and start the handshake.
    package mutating func connected() -> [Action] {
        guard case .connecting(var handshake) = state else { preconditionFailure("connected in state \(state)") }
        let step = handshake.start()
        return [.notifyConnected] + handshakeStep(step, handshake, awaiting: 0)
    }

    /// A value the parser's fast path did not take: a reply, or a frame routed as a message, confirmation
    /// or other push.
    package mutating func received(_ value: RESPValue) -> [Action] {
        let arrays: Bool
        switch state {
        case .handshaking: arrays = false
        case .ready(let ready): arrays = ready.subscribedMode
        case .quitting(_, let subscribedMode): arrays = subscribedMode
        case .connecting, .closed, .modifying: preconditionFailure("frame received in state \(state)")
        }
        switch RESPFrameRoute.route(value, arraysArePubSub: arrays) {
        case .message(let kind, let pattern, let channel, let payload):
            return [.message(kind, pattern: pattern, channel: channel, payload: payload)]
        case .confirmation(let kind, let subscribe, let name):
            return confirmed(SubscriptionKind(kind), subscribe: subscribe, name: name)
        case .otherPush:
            return [.push(value)]
        case .reply:
            return reply(value.withoutAttributes)
        }
    }

    /// A (un)subscribe confirmation: counted against the command at the head of the queue when it is of the
    /// same kind and direction; otherwise the server acted on its own and the owner hears of it. `name` is
    /// evaluated only then (the fast path does not copy the names of the confirmations it counts).
    package mutating func confirmed(_ kind: SubscriptionKind, subscribe: Bool, name: @autoclosure () -> [UInt8]) -> [Action] {
        switch state {
        case .ready(var ready):
            guard case .subscription(let id, kind, subscribe, let remaining) = ready.pending.first else {
                return [.unsolicited(kind, subscribe: subscribe, name: name())]
            }
            state = .modifying
            defer { state = .ready(ready) }
            if remaining == 1 {
                ready.pending.removeFirst()
                return [.subscribed(id)]
            }
            ready.pending[ready.pending.startIndex] = .subscription(id, kind: kind, subscribe: subscribe, remaining: remaining - 1)
            return []
        case .handshaking, .quitting:
            return [.unsolicited(kind, subscribe: subscribe, name: name())]
        case .connecting, .closed, .modifying:
            preconditionFailure("confirmation received in state \(state)")
        }
    }

    /// The parser found bytes that are not RESP: the stream cannot be trusted any more.
    package mutating func parseFailed(_ error: RESPParseError) -> [Action] {
        switch state {
        case .handshaking, .ready, .quitting:
            return close(ResubError(.protocolError, error.description, node: node), notify: true)
        case .connecting, .closed, .modifying:
            preconditionFailure("parse error in state \(state)")
        }
    }

    /// The transport closed because of the peer or an error.
    package mutating func transportClosed(_ error: SocketError) -> [Action] {
        switch state {
        case .quitting:
            return close(ResubError(.disconnected, "connection closed after QUIT", node: node), notify: false)
        case .connecting:
            return close(ResubError(.connectionFailed, error.description, node: node), notify: true)
        case .handshaking, .ready:
            let code: ResubError.Code = error == .endOfFile ? .disconnected : .connectionFailed
            return close(ResubError(code, error.description, node: node), notify: true)
        case .closed, .modifying:
            preconditionFailure("transport closed in state \(state)")
        }
    }

    // MARK: Owner's requests

    /// Sends a command; its reply comes back as ``Action/reply(_:_:)`` with the returned id, or it fails at
    /// once when the connection is not ready.
    package mutating func send(_ arguments: [String]) -> (CommandID, [Action]) {
        lastID += 1
        let id = lastID
        guard case .ready(var ready) = state else {
            return (id, [.fail(id, ResubError(.disconnected, "connection is not ready (\(phase))", command: arguments.first, node: node))])
        }
        state = .modifying
        ready.pending.append(.reply(id))
        state = .ready(ready)
        return (id, [.write(arguments)])
    }

    /// Sends one (un)subscribe command for `names` (not empty); it completes with ``Action/subscribed(_:)``
    /// once a confirmation arrived for each name, or fails. On RESP2 it puts the connection in subscribed mode.
    package mutating func sendSubscription(_ kind: SubscriptionKind, subscribe: Bool, names: [String]) -> (CommandID, [Action]) {
        precondition(!names.isEmpty, "a subscription command needs names")
        lastID += 1
        let id = lastID
        guard case .ready(var ready) = state else {
            return (id, [.fail(id, ResubError(.disconnected, "connection is not ready (\(phase))", node: node))])
        }
        state = .modifying
        if ready.protocolVersion == 2 { ready.subscribedMode = true }
        ready.pending.append(.subscription(id, kind: kind, subscribe: subscribe, remaining: names.count))
        state = .ready(ready)
        return (id, [.write([subscribe ? kind.subscribeCommand : kind.unsubscribeCommand] + names)])
    }

    /// The polite close for an idle connection: QUIT, closed on its reply, on the server's close or after
    /// ``quitTimeout``. With commands pending (a blocked read, say) it is ``disconnect()``: QUIT would wait
    /// behind them.
    package mutating func quit() -> [Action] {
        guard case .ready(let ready) = state, ready.pending.isEmpty else { return disconnect() }
        state = .quitting(protocolVersion: ready.protocolVersion, subscribedMode: ready.subscribedMode)
        return [.write(["QUIT"]), .startQuitTimer(Self.quitTimeout)]
    }

    /// Closes at once and fails every pending command; the owner is not told. Nothing to do when already
    /// closed (a second disconnect, or the QUIT fallback firing after the close).
    package mutating func disconnect() -> [Action] {
        if isClosed { return [] }
        return close(ResubError(.disconnected, "connection closed by the client", node: node), notify: false)
    }

    // MARK: Transitions

    /// One reply, matched to the oldest pending command.
    private mutating func reply(_ value: RESPValue) -> [Action] {
        switch state {
        case .handshaking(var handshake, let awaiting):
            guard awaiting > 0 else { return closeOutOfStep(value) }
            let step = handshake.received(value)
            return handshakeStep(step, handshake, awaiting: awaiting - 1)
        case .ready(var ready):
            state = .modifying
            let head = ready.pending.popFirst()
            state = .ready(ready)
            switch head {
            case nil:
                return closeOutOfStep(value)
            case .reply(let id):
                return [.reply(id, value)]
            case .subscription(let id, let kind, let subscribe, _):
                let command = subscribe ? kind.subscribeCommand : kind.unsubscribeCommand
                if value.isError {
                    return [.fail(id, ResubError(
                        .serverError, "server refused \(command)", serverError: value.string, command: command, node: node))]
                }
                let error = ResubError(.protocolError, "unexpected reply \(value) to \(command)", node: node)
                return [.fail(id, error)] + close(error, notify: true)
            }
        case .quitting:
            // QUIT's reply (or whatever came in its place): the server is done with us.
            return close(ResubError(.disconnected, "connection closed by the client", node: node), notify: false)
        case .connecting, .closed, .modifying:
            preconditionFailure("reply received in state \(state)")
        }
    }

    /// A reply with no command pending (an error such as max clients or LOADING, or a stray reply): the
    /// stream is out of step with the commands.
    private mutating func closeOutOfStep(_ value: RESPValue) -> [Action] {
        let text = value.isError ? "error reply with no command pending: \(value.string ?? "")" : "reply with no command pending"
        return close(ResubError(.protocolError, text, serverError: value.isError ? value.string : nil, node: node), notify: true)
    }

    /// Carries out the handshake machine's answer: `handshake` is its new progress, `awaiting` how many of
    /// its commands were still unanswered before this step's.
    private mutating func handshakeStep(_ step: HandshakeStateMachine.Action, _ handshake: HandshakeStateMachine, awaiting: Int) -> [Action] {
        switch step {
        case .send(let commands):
            state = .handshaking(handshake, awaiting: awaiting + commands.count)
            return commands.map(Action.write)
        case .wait:
            state = .handshaking(handshake, awaiting: awaiting)
            return []
        case .ready(let version):
            state = .ready(Ready(protocolVersion: version))
            return [.ready(protocolVersion: version)]
        case .fail(var error):
            error.node = node
            return close(error, notify: true)
        }
    }

    /// Closes: the transport first, then every pending command fails with `error`, then (when `notify`) the
    /// owner hears of it.
    private mutating func close(_ error: ResubError, notify: Bool) -> [Action] {
        var actions: [Action] = [.closeTransport]
        if case .ready(let ready) = state {
            actions += ready.pending.map { .fail($0.id, error) }
        }
        state = .closed
        if notify { actions.append(.notifyClosed(error)) }
        return actions
    }
}
