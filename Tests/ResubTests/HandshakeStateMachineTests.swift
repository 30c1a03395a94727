import RESP
import Resub
import Testing

/// The login conversation: HELLO 3 with AUTH and SETNAME, the RESP2 fallback, and which errors are fatal.
@Suite("Handshake state machine")
struct HandshakeStateMachineTests {
    private static let ok = RESPValue.simpleString(Array("OK".utf8))
    private static let helloReply = RESPValue.map([
        RESPPair(.bulkString(Array("server".utf8)), .bulkString(Array("redis".utf8))),
        RESPPair(.bulkString(Array("proto".utf8)), .integer(3)),
    ])

    private static func error(_ text: String) -> RESPValue {
        .error(Array(text.utf8))
    }

    private static func machine(
        username: String? = nil, password: String? = nil, clientName: String? = nil,
        preference: RESPProtocolPreference = .resp3
    ) -> HandshakeStateMachine {
        HandshakeStateMachine(username: username, password: password, clientName: clientName, preference: preference)
    }

    /// The error of a `.fail` action, or nil for any other action.
    private static func failure(_ action: HandshakeStateMachine.Action) -> ResubError? {
        if case .fail(let error) = action { return error }
        return nil
    }

    // MARK: HELLO 3

    @Test("HELLO 3 carries AUTH with the user and password and SETNAME with the client name")
    func helloWithEverything() {
        var m = Self.machine(username: "alice", password: "s3cret", clientName: "worker-1")
        #expect(m.start() == .send([["HELLO", "3", "AUTH", "alice", "s3cret", "SETNAME", "worker-1"]]))
        #expect(m.received(Self.helloReply) == .ready(protocolVersion: 3))
    }

    @Test("a password without a user name authenticates as the user named default")
    func passwordOnlyUsesDefaultUser() {
        var m = Self.machine(password: "s3cret")
        #expect(m.start() == .send([["HELLO", "3", "AUTH", "default", "s3cret"]]))
        #expect(m.received(Self.helloReply) == .ready(protocolVersion: 3))
    }

    @Test("with no password and no name HELLO is just HELLO 3")
    func bareHello() {
        var m = Self.machine()
        #expect(m.start() == .send([["HELLO", "3"]]))
        #expect(m.received(Self.helloReply) == .ready(protocolVersion: 3))
    }

    @Test("a client name without a password sends HELLO 3 SETNAME and no AUTH")
    func helloWithNameOnly() {
        var m = Self.machine(clientName: "resub")
        #expect(m.start() == .send([["HELLO", "3", "SETNAME", "resub"]]))
    }

    @Test("a user name without a password sends no AUTH at all")
    func userWithoutPassword() {
        var m = Self.machine(username: "alice")
        #expect(m.start() == .send([["HELLO", "3"]]))
    }

    // MARK: Fallback to RESP2

    @Test(
        "an error reply meaning no HELLO here falls back to AUTH and CLIENT SETNAME, ready after both replies",
        arguments: ["ERR unknown command 'HELLO', with args beginning with: '3'", "NOPROTO unsupported protocol version"]
    )
    func fallbackToResp2(errorText: String) {
        var m = Self.machine(password: "s3cret", clientName: "worker-1")
        #expect(m.start() == .send([["HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "worker-1"]]))
        #expect(m.received(Self.error(errorText)) == .send([["AUTH", "s3cret"], ["CLIENT", "SETNAME", "worker-1"]]))
        #expect(m.received(Self.ok) == .wait)
        #expect(m.received(Self.ok) == .ready(protocolVersion: 2))
    }

    @Test("the RESP2 fallback sends AUTH with the user name when there is one")
    func fallbackWithUser() {
        var m = Self.machine(username: "alice", password: "s3cret")
        _ = m.start()
        #expect(m.received(Self.error("ERR unknown command 'HELLO'")) == .send([["AUTH", "alice", "s3cret"]]))
        #expect(m.received(Self.ok) == .ready(protocolVersion: 2))
    }

    @Test("a blob error reply to HELLO also falls back to RESP2")
    func blobErrorFallsBack() {
        var m = Self.machine(clientName: "n")
        _ = m.start()
        #expect(m.received(.blobError(Array("NOPROTO sorry".utf8))) == .send([["CLIENT", "SETNAME", "n"]]))
    }

    @Test("falling back with nothing to send is ready on RESP2 at once")
    func fallbackWithNothingToSend() {
        var m = Self.machine()
        _ = m.start()
        #expect(m.received(Self.error("ERR unknown command 'HELLO'")) == .ready(protocolVersion: 2))
    }

    // MARK: Authentication failures

    @Test(
        "an authentication error on HELLO fails the handshake without falling back",
        arguments: [
            "WRONGPASS invalid username-password pair or user is disabled.",
            "NOAUTH HELLO must be called with the client already authenticated",
            "NOPERM this user has no permissions to run the 'hello' command",
            "ERR invalid password",
        ]
    )
    func authFailureOnHello(errorText: String) throws {
        var m = Self.machine(password: "wrong", clientName: "n")
        _ = m.start()
        let error = try #require(Self.failure(m.received(Self.error(errorText))))
        #expect(error.code == .authenticationFailed)
        #expect(error.serverError == errorText)
        #expect(error.command == "HELLO")
        #expect(!error.description.contains("wrong"))
    }

    @Test("an error reply to AUTH in RESP2 fails the handshake, whatever its text")
    func authErrorInResp2Fails() throws {
        var m = Self.machine(password: "s3cret", clientName: "n")
        _ = m.start()
        _ = m.received(Self.error("ERR unknown command 'HELLO'"))
        let text = "ERR AUTH <password> called without any password configured for the default user."
        let error = try #require(Self.failure(m.received(Self.error(text))))
        #expect(error.code == .authenticationFailed)
        #expect(error.serverError == text)
        #expect(error.command == "AUTH")
    }

    @Test("an error reply to CLIENT SETNAME in RESP2 is tolerated")
    func setNameErrorTolerated() {
        var m = Self.machine(password: "s3cret", clientName: "n")
        _ = m.start()
        _ = m.received(Self.error("ERR unknown command 'HELLO'"))
        #expect(m.received(Self.ok) == .wait)
        #expect(m.received(Self.error("ERR unknown command 'CLIENT'")) == .ready(protocolVersion: 2))
    }

    @Test("an error reply to CLIENT SETNAME without AUTH is tolerated too")
    func setNameErrorWithoutAuth() {
        var m = Self.machine(clientName: "n", preference: .resp2)
        #expect(m.start() == .send([["CLIENT", "SETNAME", "n"]]))
        #expect(m.received(Self.error("ERR unknown subcommand 'SETNAME'")) == .ready(protocolVersion: 2))
    }

    // MARK: RESP2 preference

    @Test("preferring RESP2 never sends HELLO")
    func resp2PreferenceSkipsHello() {
        var m = Self.machine(username: "alice", password: "s3cret", clientName: "n", preference: .resp2)
        let action = m.start()
        #expect(action == .send([["AUTH", "alice", "s3cret"], ["CLIENT", "SETNAME", "n"]]))
        if case .send(let commands) = action {
            #expect(!commands.contains { $0.first == "HELLO" })
        }
        #expect(m.received(Self.ok) == .wait)
        #expect(m.received(Self.ok) == .ready(protocolVersion: 2))
    }

    @Test("preferring RESP2 with no password and no name is ready at once")
    func resp2PreferenceWithNothing() {
        var m = Self.machine(preference: .resp2)
        #expect(m.start() == .ready(protocolVersion: 2))
    }

    // MARK: Unexpected replies

    @Test("a reply when no handshake command is pending is a protocol error")
    func replyAfterReady() throws {
        var m = Self.machine()
        _ = m.start()
        #expect(m.received(Self.helloReply) == .ready(protocolVersion: 3))
        let error = try #require(Self.failure(m.received(Self.ok)))
        #expect(error.code == .protocolError)
    }

    @Test("a reply before the handshake started is a protocol error")
    func replyBeforeStart() throws {
        var m = Self.machine(password: "p")
        let error = try #require(Self.failure(m.received(Self.ok)))
        #expect(error.code == .protocolError)
    }

    @Test("a reply after the handshake failed is a protocol error")
    func replyAfterFailure() throws {
        var m = Self.machine(password: "p")
        _ = m.start()
        #expect(Self.failure(m.received(Self.error("WRONGPASS nope")))?.code == .authenticationFailed)
        #expect(Self.failure(m.received(Self.ok))?.code == .protocolError)
    }

    @Test("a reply after a RESP2 preference was ready at once is a protocol error")
    func replyAfterImmediateReady() {
        var m = Self.machine(preference: .resp2)
        _ = m.start()
        #expect(Self.failure(m.received(Self.ok))?.code == .protocolError)
    }
}
