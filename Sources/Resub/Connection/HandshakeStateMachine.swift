import RESP

/// The login conversation of a new connection, as a value with no I/O: `HELLO 3 [AUTH u p] [SETNAME n]`, and
/// on an error reply that means "no HELLO here", RESP2's `AUTH` and `CLIENT SETNAME`.
package struct HandshakeStateMachine: Sendable {
    /// What the owner must do next.
    package enum Action: Equatable, Sendable {
        /// Send these commands (pipelined) and feed back one reply per command.
        case send([[String]])
        /// Wait for more replies.
        case wait
        /// The handshake is done; the connection speaks this protocol version (2 or 3).
        case ready(protocolVersion: Int)
        /// Give up: close the connection with this error.
        case fail(ResubError)
    }

    private enum State: Sendable {
        case idle
        case awaitingHello
        case awaitingResp2(remaining: Int, authIndex: Int?)
        case done
        case failed
    }

    private var state: State = .idle
    private let username: String?
    private let password: String?
    private let clientName: String?
    private let preference: RESPProtocolPreference

    /// Creates the machine for one connection attempt.
    package init(username: String?, password: String?, clientName: String?, preference: RESPProtocolPreference) {
        self.username = username
        self.password = password
        self.clientName = clientName
        self.preference = preference
    }

    /// The socket is connected: the first commands to send.
    package mutating func start() -> Action {
        guard case .idle = state else { preconditionFailure("handshake started twice (state \(state))") }
        switch preference {
        case .resp3:
            var hello = ["HELLO", "3"]
            if let password {
                hello += ["AUTH", username ?? "default", password]
            }
            if let clientName { hello += ["SETNAME", clientName] }
            state = .awaitingHello
            return .send([hello])
        case .resp2:
            return startResp2()
        }
    }

    private mutating func startResp2() -> Action {
        var commands: [[String]] = []
        var authIndex: Int?
        if let password {
            authIndex = commands.count
            commands.append(username.map { ["AUTH", $0, password] } ?? ["AUTH", password])
        }
        if let clientName { commands.append(["CLIENT", "SETNAME", clientName]) }
        if commands.isEmpty {
            state = .done
            return .ready(protocolVersion: 2)
        }
        state = .awaitingResp2(remaining: commands.count, authIndex: authIndex)
        return .send(commands)
    }

    /// One reply to a handshake command, in order.
    package mutating func received(_ reply: RESPValue) -> Action {
        switch state {
        case .awaitingHello:
            if reply.isError {
                let text = reply.string ?? ""
                if Self.isAuthFailure(text) {
                    state = .failed
                    return .fail(ResubError(.authenticationFailed, "server refused the credentials", serverError: text, command: "HELLO"))
                }
                // NOPROTO, or "ERR unknown command 'HELLO'" on servers before 6 (and proxies without HELLO):
                // speak RESP2. Any other error (max clients, LOADING, …) fails this attempt.
                let lower = text.lowercased()
                if text.hasPrefix("NOPROTO") || lower.contains("unknown command") || lower.contains("unknown subcommand") {
                    return startResp2()
                }
                state = .failed
                return .fail(ResubError(.serverError, "server refused HELLO", serverError: text, command: "HELLO"))
            }
            state = .done
            return .ready(protocolVersion: 3)
        case .awaitingResp2(let remaining, let authIndex):
            let index = commandCount(authIndex: authIndex) - remaining
            if reply.isError {
                let text = reply.string ?? ""
                if index == authIndex || Self.isAuthFailure(text) {
                    state = .failed
                    return .fail(ResubError(.authenticationFailed, "server refused the credentials", serverError: text, command: "AUTH"))
                }
                // CLIENT SETNAME refused (e.g. a proxy without it): the name is cosmetic, carry on.
            }
            if remaining == 1 {
                state = .done
                return .ready(protocolVersion: 2)
            }
            state = .awaitingResp2(remaining: remaining - 1, authIndex: authIndex)
            return .wait
        case .idle, .done, .failed:
            state = .failed
            return .fail(ResubError(.protocolError, "reply with no handshake command pending"))
        }
    }

    private func commandCount(authIndex: Int?) -> Int {
        (authIndex == nil ? 0 : 1) + (clientName == nil ? 0 : 1)
    }

    private static func isAuthFailure(_ text: String) -> Bool {
        text.hasPrefix("WRONGPASS") || text.hasPrefix("NOAUTH") || text.hasPrefix("NOPERM")
            || text.contains("invalid password") || text.contains("invalid username")
    }
}
