import LibeventLoop
import RESP
import Resub
import TestSupport
import Testing

/// The link supervisor over fake transports and a manual scheduler: the liveness deadline, backoff with an
/// injected random source, the set-up hook per connection, gap reporting and stopping.
@Suite("Link supervisor")
struct LinkSupervisorTests {
    typealias Supervisor = LinkSupervisor<ManualInstant, SeededRandom>

    /// A supervisor with its scheduler, connections and everything it reported.
    final class Harness {
        let scheduler = ManualScheduler()
        let connections: FakeConnections
        let supervisor: Supervisor
        var events: [SubscriberEvent] = []
        var setUps = 0
        var setUpDurations: [Duration] = []
        var gaps: [(from: Double, to: Double)] = []
        var closes: [ResubError] = []
        /// Completes the set-up at once (else the test calls `setUpCompleted()`).
        var completesSetUp = true

        init(health: HealthConfiguration, seed: UInt64 = 7) {
            connections = FakeConnections(scheduler: scheduler)
            let scheduler = self.scheduler
            let connections = self.connections
            let environment = LinkEnvironment<ManualInstant>(
                timers: scheduler, now: { scheduler.now },
                wallClock: { 1_000 + scheduler.now.offset.seconds },
                open: { connections.open($0, $1) })
            supervisor = Supervisor(
                configuration: ConnectionConfiguration(endpoint: RedisEndpoint(address: .tcp(host: "127.0.0.1", port: 6379))),
                health: health, random: SeededRandom(seed: seed), environment: environment)
            supervisor.onEvent = { [unowned self] in self.events.append($0) }
            supervisor.setUp = { [unowned self] _ in
                self.setUps += 1
                if self.completesSetUp { self.supervisor.setUpCompleted() }
            }
            supervisor.onSetUpCompleted = { [unowned self] in self.setUpDurations.append($0) }
            supervisor.onGap = { [unowned self] in self.gaps.append((from: $0, to: $1)) }
            supervisor.onClose = { [unowned self] in self.closes.append($0) }
        }

        /// Connects the last transport and answers its handshake.
        func connectLast() throws {
            let transport = try #require(connections.last)
            FakeConnections.handshake(transport)
        }

        var reconnectDelays: [Duration] {
            events.compactMap { if case .reconnectScheduled(_, _, let delay) = $0 { return delay } else { return nil } }
        }
    }

    static let health = HealthConfiguration(
        pingInterval: .seconds(1), pingTimeout: .milliseconds(500),
        backoff: BackoffConfiguration(minimum: .milliseconds(100), maximum: .seconds(10), multiplier: 2, resetAfter: .seconds(30)))

    @Test("a healthy link silent past the ping deadline is sent a PING, then closed and reconnected")
    func deadByPingDeadline() throws {
        let h = Harness(health: Self.health)
        h.supervisor.start()
        try h.connectLast()
        #expect(h.supervisor.state == .healthy)
        let first = try #require(h.connections.last)

        h.scheduler.advance(by: .seconds(1))
        #expect(FakeConnections.commands(first.takeWritten()) == [["PING"]])
        #expect(h.supervisor.state == .healthy)

        h.scheduler.advance(by: .milliseconds(499))
        #expect(!first.isClosed, "the deadline is the ping timeout after the PING, not sooner")
        h.scheduler.advance(by: .milliseconds(1))
        #expect(first.closeCount == 1)
        #expect(h.supervisor.state == .waitingToReconnect)
        #expect(h.supervisor.lastError?.code == .timeout)
        #expect(h.closes.map(\.code) == [.timeout])
        #expect(h.events.contains { if case .disconnected(_, let reason) = $0 { reason.code == .timeout } else { false } })

        let delay = try #require(h.reconnectDelays.last)
        h.scheduler.advance(by: delay)
        #expect(h.connections.transports.count == 2)
        #expect(h.supervisor.state == .connecting)
    }

    @Test("a byte received after the PING keeps the link healthy")
    func answeredPingKeepsLink() throws {
        let h = Harness(health: Self.health)
        h.supervisor.start()
        try h.connectLast()
        let transport = try #require(h.connections.last)
        h.scheduler.advance(by: .seconds(1))
        #expect(FakeConnections.commands(transport.takeWritten()) == [["PING"]])
        h.scheduler.advance(by: .milliseconds(200))
        transport.receive("+PONG\r\n")
        h.scheduler.advance(by: .seconds(1))
        #expect(!transport.isClosed)
        #expect(h.supervisor.state == .healthy)
    }

    @Test("failed connects back off exponentially with the injected random source")
    func exponentialBackoff() throws {
        let h = Harness(health: Self.health, seed: 42)
        h.supervisor.start()
        for _ in 0..<5 {
            let transport = try #require(h.connections.last)
            transport.fail(.system(errno: 111, message: "connection refused"))
            let delay = try #require(h.reconnectDelays.last)
            #expect(h.scheduler.pendingDelays == [delay])
            h.scheduler.advance(by: delay)
        }
        var random = SeededRandom(seed: 42)
        let expected = (0..<5).map { Backoff.delay(attempt: $0, configuration: Self.health.backoff, random: &random) }
        #expect(h.reconnectDelays == expected)
        for (attempt, delay) in h.reconnectDelays.enumerated() {
            #expect(delay >= Self.health.backoff.minimum)
            #expect(delay <= Backoff.ceiling(attempt: attempt, configuration: Self.health.backoff))
        }
        #expect(h.connections.transports.count == 6)
    }

    @Test("the set-up hook runs once per connection, after the handshake, and reports its duration")
    func setUpOnConnect() throws {
        let h = Harness(health: Self.health)
        h.completesSetUp = false
        h.supervisor.start()
        let first = try #require(h.connections.last)
        first.connect()
        #expect(h.setUps == 0, "no set-up before the handshake finished")
        first.receive(FakeConnections.helloReply)
        #expect(h.setUps == 1)
        #expect(h.supervisor.state == .replaying)
        h.scheduler.advance(by: .milliseconds(300))
        h.supervisor.setUpCompleted()
        #expect(h.supervisor.state == .healthy)
        #expect(h.setUpDurations == [.milliseconds(300)])

        first.fail()
        h.scheduler.advance(by: try #require(h.reconnectDelays.last))
        try h.connectLast()
        #expect(h.setUps == 2)
    }

    @Test("an outage is reported as a gap from the last byte received to the end of the next set-up")
    func gapStartAndEnd() throws {
        let h = Harness(health: Self.health)
        h.supervisor.start()
        try h.connectLast()
        #expect(h.gaps.isEmpty, "the first connection ends no outage")
        let first = try #require(h.connections.last)
        h.scheduler.advance(by: .seconds(1))  // PING at 1 s
        h.scheduler.advance(by: .milliseconds(200))
        first.receive("+PONG\r\n")  // the last sign of life, at t = 1.2 s
        h.scheduler.advance(by: .milliseconds(1_500))  // PING again at 2.2 s, dead at 2.7 s
        #expect(first.isClosed)
        h.scheduler.advance(by: try #require(h.reconnectDelays.last))
        h.completesSetUp = false
        try h.connectLast()
        h.scheduler.advance(by: .milliseconds(50))
        #expect(h.gaps.isEmpty, "the gap ends only when the set-up completed")
        h.supervisor.setUpCompleted()
        let end = 1_000 + h.scheduler.now.offset.seconds
        let gap = try #require(h.gaps.first)
        #expect(h.gaps.count == 1)
        #expect(abs(gap.from - 1_001.2) < 1e-9)
        #expect(abs(gap.to - end) < 1e-9)
    }

    @Test("a connection that drops starts its gap when it dropped")
    func gapFromDrop() throws {
        let h = Harness(health: Self.health)
        h.supervisor.start()
        try h.connectLast()
        h.scheduler.advance(by: .milliseconds(400))
        try #require(h.connections.last).fail()
        h.scheduler.advance(by: try #require(h.reconnectDelays.last))
        try h.connectLast()
        let gap = try #require(h.gaps.first)
        #expect(abs(gap.from - 1_000.4) < 1e-9)
        #expect(abs(gap.to - (1_000 + h.scheduler.now.offset.seconds)) < 1e-9)
    }

    @Test("stop closes the connection once, reports no disconnect and opens nothing more")
    func stopClosesOnce() throws {
        let h = Harness(health: Self.health)
        h.supervisor.start()
        try h.connectLast()
        let transport = try #require(h.connections.last)
        h.supervisor.stop()
        h.supervisor.stop()
        #expect(transport.closeCount == 1)
        #expect(h.supervisor.state == .stopped)
        #expect(h.supervisor.connection == nil)
        #expect(h.closes.map(\.code) == [.shutDown])
        #expect(!h.events.contains { if case .disconnected = $0 { true } else { false } })
        h.scheduler.advance(by: .seconds(60))
        #expect(h.connections.transports.count == 1)
        #expect(h.scheduler.pendingCount == 0)
    }

    @Test("stop while waiting to reconnect cancels the reconnect")
    func stopWhileWaiting() throws {
        let h = Harness(health: Self.health)
        h.supervisor.start()
        try #require(h.connections.last).fail(.system(errno: 111, message: "connection refused"))
        #expect(h.supervisor.state == .waitingToReconnect)
        h.supervisor.stop()
        h.scheduler.advance(by: .seconds(60))
        #expect(h.connections.transports.count == 1)
        #expect(h.closes.map(\.code) == [.connectionFailed])
    }
}
