/// A fake Redis node on a free loopback port that completes a RESP2 login (HELLO is "unknown", CLIENT
/// SETNAME is OK, PING is PONG) and then never answers `CLUSTER …`: a hung node, for the topology
/// refresher's attempt timeout. Threads of its own, no process; ``stop()`` closes every socket.
public final class StalledRedisNode: Sendable {
    /// The TCP port (127.0.0.1).
    public var port: Int { server.port }
    private let server: ScriptedRedisServer
    private let clusterCommands = SharedCount()

    /// `redis://127.0.0.1:port`.
    public var url: String { "redis://127.0.0.1:\(port)" }

    /// How many `CLUSTER …` commands arrived (and were left unanswered).
    public var clusterCommandCount: Int { clusterCommands.value }
    /// How many connections were accepted.
    public var connectionCount: Int { server.connectionCount }

    /// Listens and starts accepting.
    public init() throws {
        let clusterCommands = self.clusterCommands
        server = try ScriptedRedisServer(name: "test-stalled") { words in
            switch words.first?.uppercased() {
            case "HELLO": return "-ERR unknown command 'HELLO'\r\n"
            case "CLIENT": return "+OK\r\n"
            case "PING": return "+PONG\r\n"
            case "CLUSTER":
                clusterCommands.increment()
                return nil
            default: return "-ERR this node is stalled\r\n"
            }
        }
    }

    /// Stops accepting and closes every connection (their threads then end). Idempotent.
    public func stop() { server.stop() }
}
