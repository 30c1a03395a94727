/// A failure of the resub client, with a stable ``Code`` for matching and context for logs.
public struct ResubError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is. Stable across versions.
    public enum Code: String, Sendable, Hashable {
        /// The connection was closed (by ``Subscriber/shutdown()``, `disconnect()` or a failure) before the
        /// command completed. The command may or may not have reached the server. A ``BlockingConnection``
        /// following Sentinel also fails its pending commands with this code when the sentinels name a new
        /// master (the message says "the master changed to …"): it was not sent again, the next command goes
        /// to the new master.
        case disconnected
        /// The server answered with an error reply (see ``ResubError/serverError``).
        case serverError
        /// The server sent bytes that are not valid RESP, or a reply nothing was waiting for.
        case protocolError
        /// The socket failed: refused, reset, timed out, name not resolved.
        case connectionFailed
        /// The handshake was refused: wrong password, unknown user, missing permission.
        case authenticationFailed
        /// A URL or configuration value is unusable.
        case invalidConfiguration
        /// The object has been shut down.
        case shutDown
        /// No reply arrived within the health-check timeout.
        case timeout
    }

    /// The kind of failure.
    public var code: Code
    /// A human-readable explanation (never contains credentials).
    public var message: String
    /// The server's error reply, for ``Code/serverError`` and ``Code/authenticationFailed``.
    public var serverError: String?
    /// The command that failed, when there was one (name only: arguments may be secrets).
    public var command: String?
    /// The node (`host:port`) involved, when known.
    public var node: String?
    /// Where in resub the error was raised.
    public var file: String
    /// The line in ``file``.
    public var line: Int

    /// Creates an error.
    public init(
        _ code: Code, _ message: String, serverError: String? = nil, command: String? = nil, node: String? = nil,
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.serverError = serverError
        self.command = command
        self.node = node
        self.file = file
        self.line = line
    }

    /// `code: message [command] [node]`.
    public var description: String {
        var text = "\(code.rawValue): \(message)"
        if let command { text += " (command \(command))" }
        if let node { text += " (node \(node))" }
        return text
    }

    /// Errors are equal when their code, message and server error are; source locations are ignored.
    public static func == (a: ResubError, b: ResubError) -> Bool {
        a.code == b.code && a.message == b.message && a.serverError == b.serverError
    }

    /// Hashes the fields that `==` compares.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
        hasher.combine(serverError)
    }
}
