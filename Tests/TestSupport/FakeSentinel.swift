/// A stale sentinel: a TCP server on a free loopback port that answers `SENTINEL GET-MASTER-ADDR-BY-NAME`
/// with a fixed address (a replica's, in the test of ROLE refusal), knows no other sentinel, and lets a
/// client SUBSCRIBE (to `+switch-master`) without ever publishing. ``stop()`` ends every connection.
public final class FakeSentinel: Sendable {
    /// The port (127.0.0.1).
    public var port: Int { server.port }
    private let server: ScriptedRedisServer
    private let queries = SharedCount()

    /// How many GET-MASTER-ADDR-BY-NAME it answered.
    public var masterQueries: Int { queries.value }

    /// Starts answering every master query with `127.0.0.1:answerPort`.
    public init(answering answerPort: Int) throws {
        let queries = self.queries
        server = try ScriptedRedisServer(name: "test-sentinel") { words in
            switch (words.first?.uppercased(), words.dropFirst().first?.uppercased()) {
            case ("HELLO", _): return "-ERR unknown command 'HELLO'\r\n"
            case ("CLIENT", _), ("AUTH", _), ("QUIT", _): return "+OK\r\n"
            case ("PING", _): return "+PONG\r\n"
            case ("SENTINEL", "GET-MASTER-ADDR-BY-NAME"):
                queries.increment()
                let port = String(answerPort)
                return "*2\r\n$9\r\n127.0.0.1\r\n$\(port.utf8.count)\r\n\(port)\r\n"
            case ("SENTINEL", "SENTINELS"): return "*0\r\n"
            case ("SUBSCRIBE", _):
                return words.dropFirst().enumerated().map { i, name in
                    "*3\r\n$9\r\nsubscribe\r\n$\(name.utf8.count)\r\n\(name)\r\n:\(i + 1)\r\n"
                }.joined()
            default: return "-ERR unknown command\r\n"
            }
        }
    }

    /// Stops accepting and closes every connection. Idempotent.
    public func stop() { server.stop() }
}
