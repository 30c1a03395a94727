import LibeventLoop
import RESP

/// A second connection to a link's server for the commands that must not queue behind the link's own
/// (blocked) reads: XACK and CLIENT UNBLOCK. It opens on first use, runs what waited for its handshake in
/// order, and opens again on the next use after it closed. Loop-only.
///
/// Every command has a deadline (connect and handshake included): a frozen server fails the command with
/// ``ResubError/Code/timeout`` instead of hanging it, and the connection is dropped so that the next command
/// starts afresh on a new one.
package final class SideConnection: ConnectionDelegate {
    /// A command and its completion, completed exactly once (reply, failure or deadline).
    private final class Request {
        let command: [String]
        private var completion: ((Result<RESPValue, ResubError>) -> Void)?
        var deadline: (any ScheduledTimer)?

        init(command: [String], completion: @escaping (Result<RESPValue, ResubError>) -> Void) {
            self.command = command
            self.completion = completion
        }

        /// Completes the request unless it already was; returns whether this call completed it.
        @discardableResult
        func finish(_ result: Result<RESPValue, ResubError>) -> Bool {
            guard let completion = completion.take() else { return false }
            deadline?.cancel()
            deadline = nil
            completion(result)
            return true
        }
    }

    /// The default deadline: the default liveness bound of a link (ping interval + ping timeout).
    package static var defaultTimeout: Duration {
        let health = HealthConfiguration()
        return health.pingInterval + health.pingTimeout
    }

    private var configuration: ConnectionConfiguration
    private let timeout: Duration
    private let timers: any TimerScheduler
    private let open: (ConnectionConfiguration, any ConnectionDelegate) -> Connection
    private var connection: Connection?
    /// Commands waiting for the connection's handshake, in order.
    private var waiting: [Request] = []

    /// A side connection to `configuration`'s server whose commands fail after `timeout`; connections are
    /// opened through `open` (libevent sockets, or fake transports in tests).
    package init(
        configuration: ConnectionConfiguration, timeout: Duration, timers: any TimerScheduler,
        open: @escaping (ConnectionConfiguration, any ConnectionDelegate) -> Connection
    ) {
        self.configuration = configuration
        self.timeout = timeout
        self.timers = timers
        self.open = open
    }

    /// A side connection over libevent sockets on `loop`.
    package convenience init(loop: EventLoop, configuration: ConnectionConfiguration, timeout: Duration = SideConnection.defaultTimeout) {
        self.init(
            configuration: configuration, timeout: timeout, timers: loop,
            open: { configuration, delegate in Connection(loop: loop, configuration: configuration, delegate: delegate) })
    }

    private var node: String { configuration.endpoint.address.description }

    /// Sends `command` once the connection is ready; `completion` gets its reply (an error reply is a
    /// value), the failure of the connection, or ``ResubError/Code/timeout`` after the deadline. Loop-only.
    package func send(_ command: [String], completion: @escaping (Result<RESPValue, ResubError>) -> Void) {
        timers.assertInLoop(file: #fileID, line: #line)
        let request = Request(command: command, completion: completion)
        let timeout = self.timeout
        let node = self.node
        request.deadline = timers.scheduleOnce(after: timeout) { [weak self, request] in
            let error = ResubError(.timeout, "no reply to \(command.first ?? "") within \(timeout.short) on the side connection", command: command.first, node: node)
            // A server that does not answer this one answers nothing behind it either: start afresh.
            if request.finish(.failure(error)) { self?.close() }
        }
        let connection = current()
        if connection.state == .ready {
            dispatch(request, on: connection)
        } else {
            waiting.append(request)
        }
    }

    /// Closes the connection at once: commands waiting for it fail with ``ResubError/Code/connectionFailed``,
    /// commands sent on it with ``ResubError/Code/disconnected``. The next ``send(_:completion:)`` opens a new
    /// one. Loop-only.
    package func close() {
        failWaiting()
        connection.take()?.disconnect()
    }

    /// Sends the next commands to `configuration`'s server: when its endpoint differs, the connection to the
    /// old one closes as ``close()`` does. Loop-only.
    package func retarget(_ configuration: ConnectionConfiguration) {
        guard configuration.endpoint != self.configuration.endpoint else { return }
        close()
        self.configuration = configuration
    }

    private func current() -> Connection {
        if let connection, connection.state != .closed { return connection }
        let connection = open(configuration, self)
        self.connection = connection
        return connection
    }

    private func dispatch(_ request: Request, on connection: Connection) {
        connection.send(request.command) { request.finish($0) }
    }

    /// Fails the commands waiting for a connection; `cause`, the connection's own failure (a refused
    /// connection, a TLS certificate error), gives them its message so the reason reaches the caller's log.
    private func failWaiting(_ cause: ResubError? = nil) {
        let failed = waiting
        waiting = []
        let message = cause.map { "side connection failed: \($0.message)" } ?? "side connection failed"
        for request in failed {
            request.finish(.failure(ResubError(.connectionFailed, message, command: request.command.first, node: node)))
        }
    }

    // MARK: ConnectionDelegate

    package func connection(_ connection: Connection, didReport event: ConnectionEvent) {
        guard connection === self.connection else { return }
        switch event {
        case .ready:
            let ready = waiting
            waiting = []
            for request in ready { dispatch(request, on: connection) }
        case .closed(let reason):
            self.connection = nil
            failWaiting(reason)
        case .connected, .readFinished, .unsolicited, .push:
            break
        }
    }
}
