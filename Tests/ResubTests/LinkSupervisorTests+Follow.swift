import LibeventLoop
import Resub
import TestSupport
import Testing

/// ``LinkSupervisor/follow(_:)``: Sentinel named a new master, the link leaves for it at once.
extension LinkSupervisorTests {
    static let newMaster = RedisEndpoint(address: .tcp(host: "127.0.0.1", port: 6380))

    @Test("follow on a healthy link closes it and connects to the new endpoint at once; the gap starts at the last byte")
    func followHealthy() throws {
        let h = Harness(health: Self.health)
        h.supervisor.start()
        try h.connectLast()
        let first = try #require(h.connections.last)
        h.scheduler.advance(by: .seconds(1))  // PING at 1 s
        h.scheduler.advance(by: .milliseconds(200))
        first.receive("+PONG\r\n")  // the last sign of life, at t = 1.2 s
        h.scheduler.advance(by: .milliseconds(300))

        h.supervisor.follow(Self.newMaster)
        #expect(first.isClosed)
        #expect(h.closes.map(\.code) == [.timeout])
        #expect(h.connections.transports.count == 2, "no backoff delay: the new master is known")
        #expect(h.connections.configurations.last?.endpoint == Self.newMaster)
        #expect(h.supervisor.node == "127.0.0.1:6380")
        #expect(h.events.contains { if case .disconnected(let node, _) = $0 { node == "127.0.0.1:6379" } else { false } })

        try h.connectLast()
        #expect(h.supervisor.state == .healthy)
        let gap = try #require(h.gaps.first)
        #expect(abs(gap.from - 1_001.2) < 1e-9)
        #expect(abs(gap.to - (1_000 + h.scheduler.now.offset.seconds)) < 1e-9)
    }

    @Test("follow to the node the link is on changes nothing")
    func followSameNode() throws {
        let h = Harness(health: Self.health)
        h.supervisor.start()
        try h.connectLast()
        h.supervisor.follow(RedisEndpoint(address: .tcp(host: "127.0.0.1", port: 6379)))
        #expect(h.connections.transports.count == 1)
        #expect(try #require(h.connections.last).isClosed == false)
        #expect(h.supervisor.state == .healthy)
    }

    @Test("follow on an idle link starts it at the endpoint")
    func followIdle() throws {
        let h = Harness(health: Self.health)
        h.supervisor.follow(Self.newMaster)
        #expect(h.connections.configurations.map(\.endpoint) == [Self.newMaster])
        try h.connectLast()
        #expect(h.supervisor.state == .healthy)
    }

    @Test("follow while waiting out a backoff delay reconnects now, to the new endpoint")
    func followWhileWaiting() throws {
        let h = Harness(health: Self.health)
        h.supervisor.start()
        try #require(h.connections.last).fail(.system(errno: 111, message: "connection refused"))
        #expect(h.supervisor.state == .waitingToReconnect)
        h.supervisor.follow(Self.newMaster)
        #expect(h.connections.transports.count == 2)
        #expect(h.connections.configurations.last?.endpoint == Self.newMaster)
        #expect(h.supervisor.state == .connecting)
    }

    @Test("follow after stop does nothing")
    func followStopped() throws {
        let h = Harness(health: Self.health)
        h.supervisor.start()
        h.supervisor.stop()
        h.supervisor.follow(Self.newMaster)
        #expect(h.connections.transports.count == 1)
        #expect(h.supervisor.state == .stopped)
    }
}
