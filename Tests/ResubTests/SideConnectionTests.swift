import LibeventLoop
import RESP
import Resub
import TestSupport
import Testing

/// The side connection for XACK and CLIENT UNBLOCK over fake transports: it opens on first use, sends
/// after the handshake, gives up on a frozen server after its deadline, and opens afresh afterwards.
@Suite("Side connection")
struct SideConnectionTests {
    /// A side connection with its scheduler, connections and the results it delivered.
    final class Harness {
        let scheduler = ManualScheduler()
        let connections: FakeConnections
        let side: SideConnection
        var results: [Result<RESPValue, ResubError>] = []

        init(timeout: Duration = .seconds(2)) {
            connections = FakeConnections(scheduler: scheduler)
            let connections = self.connections
            side = SideConnection(
                configuration: ConnectionConfiguration(endpoint: RedisEndpoint(address: .tcp(host: "127.0.0.1", port: 6379))),
                timeout: timeout, timers: scheduler, open: { connections.open($0, $1) })
        }

        func send(_ command: [String]) {
            side.send(command) { [unowned self] in self.results.append($0) }
        }

        var errorCodes: [ResubError.Code] {
            results.compactMap { if case .failure(let error) = $0 { error.code } else { nil } }
        }
    }

    @Test("nothing is opened before the first command, which is sent once the handshake finished")
    func sendsAfterHandshake() throws {
        let h = Harness()
        #expect(h.connections.transports.isEmpty)
        h.send(["XACK", "orders", "g", "1-0"])
        h.send(["CLIENT", "UNBLOCK", "42"])
        let transport = try #require(h.connections.last)
        #expect(FakeConnections.handshake(transport) == [["HELLO", "3", "SETNAME", "resub"]])
        #expect(FakeConnections.commands(transport.takeWritten()) == [["XACK", "orders", "g", "1-0"], ["CLIENT", "UNBLOCK", "42"]])
        transport.receive(":1\r\n:0\r\n")
        #expect(h.results.map { try? $0.get().int } == [1, 0])

        h.send(["XACK", "orders", "g", "2-0"])
        #expect(h.connections.transports.count == 1, "the ready connection is reused")
        #expect(FakeConnections.commands(transport.takeWritten()) == [["XACK", "orders", "g", "2-0"]])
        transport.receive(":1\r\n")
        #expect(h.results.count == 3)
        h.scheduler.advance(by: .seconds(10))
        #expect(h.results.count == 3, "an answered command's deadline does nothing")
        #expect(!transport.isClosed)
    }

    @Test("a server that does not answer fails the command after its deadline and the next command opens a new connection")
    func frozenServerTimesOut() throws {
        let h = Harness(timeout: .seconds(2))
        h.send(["CLIENT", "UNBLOCK", "42"])
        let frozen = try #require(h.connections.last)
        FakeConnections.handshake(frozen)
        h.scheduler.advance(by: .milliseconds(1_999))
        #expect(h.results.isEmpty)
        h.scheduler.advance(by: .milliseconds(1))
        #expect(h.errorCodes == [.timeout])
        #expect(frozen.closeCount == 1)

        frozen.receive(":1\r\n")  // too late: the connection is gone
        #expect(h.results.count == 1)

        h.send(["CLIENT", "UNBLOCK", "42"])
        #expect(h.connections.transports.count == 2)
        let fresh = try #require(h.connections.last)
        FakeConnections.handshake(fresh)
        fresh.receive(":1\r\n")
        #expect(h.results.count == 2)
        #expect(try h.results[1].get().int == 1)
    }

    @Test("a handshake that never finishes times out too")
    func frozenHandshakeTimesOut() throws {
        let h = Harness(timeout: .seconds(2))
        h.send(["XACK", "orders", "g", "1-0"])
        let transport = try #require(h.connections.last)
        transport.connect()
        h.scheduler.advance(by: .seconds(2))
        #expect(h.errorCodes == [.timeout])
        #expect(transport.isClosed)
    }

    @Test("commands waiting for a connection that fails fail with it")
    func connectFailure() throws {
        let h = Harness()
        h.send(["XACK", "orders", "g", "1-0"])
        try #require(h.connections.last).fail(.connectTimeout)
        #expect(h.errorCodes == [.connectionFailed])
        h.scheduler.advance(by: .seconds(10))
        #expect(h.results.count == 1, "completed once: the deadline does not fire again")
    }

    @Test("a failed connection's reason (a TLS certificate refused, say) is in the waiting commands' error")
    func connectFailureReason() throws {
        let h = Harness()
        h.send(["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"])
        try #require(h.connections.last).fail(.connectTimeout)
        guard case .failure(let error)? = h.results.first else { Issue.record("no failure: \(h.results)"); return }
        #expect(error.code == .connectionFailed)
        #expect(error.message.contains(SocketError.connectTimeout.description), "\(error.message)")
    }

    @Test("close fails waiting and sent commands at once, and the next command opens a new connection")
    func close() throws {
        let h = Harness()
        h.send(["XACK", "orders", "g", "1-0"])
        let first = try #require(h.connections.last)
        FakeConnections.handshake(first)
        h.send(["XACK", "orders", "g", "2-0"])
        h.side.close()
        #expect(h.errorCodes == [.disconnected, .disconnected])
        #expect(first.closeCount == 1)
        h.send(["XACK", "orders", "g", "3-0"])
        h.side.close()
        #expect(h.errorCodes == [.disconnected, .disconnected, .connectionFailed])
        #expect(h.connections.transports.count == 2)
    }
}
