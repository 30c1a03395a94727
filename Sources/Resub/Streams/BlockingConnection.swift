import LibeventLoop
import RESP
import Synchronization

/// A connection of its own for blocking commands (`XREAD BLOCK 0`, `BLPOP`, …) that never shares a socket
/// with anything else, and never makes shutdown wait behind them.
///
/// - ``disconnect()`` closes the socket at once and fails every pending command with
///   ``ResubError/Code/disconnected``; a command interrupted that way is never sent again.
/// - ``quit()`` is the polite close for an idle connection (with commands pending it is ``disconnect()``).
/// - ``unblock()`` ends one blocked command with `CLIENT UNBLOCK <id>` from a ``SideConnection`` (which gives
///   up after a deadline on a frozen server); this one stays open and usable.
public final class BlockingConnection: Sendable {
    private let loop: EventLoop
    private let core: Core

    /// Creates the connection on `loop` (it connects on the first command).
    package init(loop: EventLoop, configuration: ConnectionConfiguration) {
        self.loop = loop
        self.core = Core(loop: loop, configuration: configuration)
    }

    /// Sends a command and waits for its reply (an error reply is returned as a value).
    /// - Throws: ``ResubError`` `.disconnected` when ``disconnect()`` (or a failure) closed the connection
    ///   first, `.connectionFailed` when it could not connect.
    public func command(_ arguments: [String]) async throws(ResubError) -> RESPValue {
        let core = self.core
        let result: Result<RESPValue, ResubError> = await withCheckedContinuation { continuation in
            loop.execute { core.send(arguments) { continuation.resume(returning: $0) } }
        }
        return try result.get()
    }

    /// Closes at once; pending commands fail with ``ResubError/Code/disconnected``. Safe from any thread,
    /// any number of times.
    public func disconnect() {
        let core = self.core
        loop.execute { core.disconnect() }
    }

    /// Sends QUIT when idle and waits for the server to close (at most a second); with commands pending it
    /// is ``disconnect()``.
    public func quit() async {
        let core = self.core
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.execute { core.quit { continuation.resume() } }
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

    /// The loop-side state. Loop-only.
    final class Core: ConnectionDelegate, @unchecked Sendable {
        private let loop: EventLoop
        private let configuration: ConnectionConfiguration
        private var connection: Connection?
        private var waiting: [([String], (Result<RESPValue, ResubError>) -> Void)] = []
        private var clientID: Int64?
        private let side: SideConnection
        private var closed = false

        init(loop: EventLoop, configuration: ConnectionConfiguration) {
            self.loop = loop
            self.configuration = configuration
            self.side = SideConnection(loop: loop, configuration: configuration)
        }

        func send(_ arguments: [String], completion: @escaping (Result<RESPValue, ResubError>) -> Void) {
            guard !closed else { return completion(.failure(ResubError(.disconnected, "connection closed by the client"))) }
            if let connection, connection.state == .ready {
                connection.send(arguments, completion: completion)
                return
            }
            waiting.append((arguments, completion))
            if connection == nil || connection?.state == .closed {
                connection = Connection(loop: loop, configuration: configuration, delegate: self)
            }
        }

        func disconnect() {
            closed = true
            let failed = waiting
            waiting = []
            connection?.disconnect()  // fails what is pending on it with `.disconnected`
            connection = nil
            side.close()
            for (_, completion) in failed { completion(.failure(ResubError(.disconnected, "connection closed by the client"))) }
        }

        func quit(completion: @escaping () -> Void) {
            guard let connection, connection.state == .ready, connection.pendingCount == 0, waiting.isEmpty else {
                disconnect()
                return completion()
            }
            closed = true
            side.close()
            // Kept until it is closed: its one-second fallback needs it alive if the server never answers.
            connection.quit()
            completion()
        }

        func unblock(completion: @escaping (Result<Bool, ResubError>) -> Void) {
            guard !closed, let clientID else { return completion(.success(false)) }
            side.send(["CLIENT", "UNBLOCK", String(clientID)]) { completion($0.map { $0.int == 1 }) }
        }

        func connection(_ connection: Connection, didReport event: ConnectionEvent) {
            guard connection === self.connection else { return }
            switch event {
            case .ready: ready(connection)
            case .closed(let error): connectionClosed(error)
            case .connected, .readFinished, .unsolicited, .push: break
            }
        }

        private func ready(_ connection: Connection) {
            // Learn our id first (for unblock), then run what waited for the handshake, in order.
            connection.send(["CLIENT", "ID"]) { [weak self] result in
                if case .success(let v) = result { self?.clientID = v.int }
            }
            let queued = waiting
            waiting = []
            for (arguments, completion) in queued { connection.send(arguments, completion: completion) }
        }

        private func connectionClosed(_ error: ResubError) {
            self.connection = nil
            clientID = nil
            let failed = waiting
            waiting = []
            for (_, completion) in failed { completion(.failure(error)) }
        }
    }
}
