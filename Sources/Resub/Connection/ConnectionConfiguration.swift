import LibeventLoop
import RESP

/// Which protocol a connection speaks.
public enum RESPProtocolPreference: Sendable, Hashable {
    /// Try `HELLO 3`; fall back to RESP2 when the server does not know HELLO (Redis < 6).
    case resp3
    /// Speak RESP2 (`AUTH` and `CLIENT SETNAME`), never send HELLO.
    case resp2
}

/// Settings of one connection to one server.
public struct ConnectionConfiguration: Sendable, Hashable {
    /// The server and credentials.
    public var endpoint: RedisEndpoint
    /// `CLIENT SETNAME` on connect (nil: no name).
    public var clientName: String?
    /// RESP3 (with fallback) or RESP2.
    public var protocolPreference: RESPProtocolPreference
    /// Socket settings (connect timeout, keepalive).
    public var socket: SocketOptions
    /// Parser limits.
    public var parser: RESPParserConfiguration

    /// Creates a configuration.
    public init(
        endpoint: RedisEndpoint,
        clientName: String? = "resub",
        protocolPreference: RESPProtocolPreference = .resp3,
        socket: SocketOptions = .init(),
        parser: RESPParserConfiguration = .init()
    ) {
        self.endpoint = endpoint
        self.clientName = clientName
        self.protocolPreference = protocolPreference
        self.socket = socket
        self.parser = parser
    }
}
