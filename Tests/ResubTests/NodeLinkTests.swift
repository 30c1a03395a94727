import LibeventLoop
import RESP
import Resub
import TestSupport
import Testing

/// A subscriber node link over fake transports and a manual scheduler: the replay after the handshake,
/// message batches, and the replay on reconnect.
@Suite("Node link")
struct NodeLinkTests {
    /// A link with its scheduler, connections, batches and events.
    final class Harness {
        let scheduler = ManualScheduler()
        let connections: FakeConnections
        var link: NodeLink!
        var batches: [MessageBatch] = []
        var events: [SubscriberEvent] = []

        init(desired: SubscriptionSet, batchSize: Int) {
            connections = FakeConnections(scheduler: scheduler)
            let scheduler = self.scheduler
            let connections = self.connections
            let base = ContinuousClock.now
            let environment = LinkEnvironment<ContinuousClock.Instant>(
                timers: scheduler, now: { base.advanced(by: scheduler.now.offset) },
                wallClock: { 1_000 + scheduler.now.offset.seconds },
                open: { connections.open($0, $1) })
            link = NodeLink(
                environment: environment,
                configuration: ConnectionConfiguration(endpoint: RedisEndpoint(address: .tcp(host: "127.0.0.1", port: 6379))),
                health: HealthConfiguration(pingInterval: .seconds(1), pingTimeout: .milliseconds(500)),
                configured: SubscriptionTable(configured: desired), replayBatchSize: batchSize,
                onBatch: { [unowned self] in self.batches.append($0) },
                onEvent: { [unowned self] in self.events.append($0) })
        }

        /// Starts the link and answers the handshake: the replay starts. Returns the transport.
        func startHandshaken() throws -> FakeTransport {
            link.start()
            let transport = try #require(connections.last)
            FakeConnections.handshake(transport)
            return transport
        }

        /// Starts the link, answers the handshake and confirms the replay. Returns the transport.
        func startHealthy() throws -> FakeTransport {
            let transport = try startHandshaken()
            NodeLinkTests.confirm(FakeConnections.commands(transport.takeWritten()), on: transport)
            #expect(link.state == .healthy)
            return transport
        }

        var reconnectDelays: [Duration] {
            events.compactMap { if case .reconnectScheduled(_, _, let delay) = $0 { return delay } else { return nil } }
        }
    }

    static func set(channels: [String] = [], patterns: [String] = []) -> SubscriptionSet {
        var set = SubscriptionSet()
        set.channels = Set(channels)
        set.patterns = Set(patterns)
        return set
    }

    /// Confirms every name of `commands` (SUBSCRIBE / PSUBSCRIBE) in one read, as the server does.
    static func confirm(_ commands: [[String]], on transport: FakeTransport) {
        var bytes: [UInt8] = []
        var count = 0
        for command in commands {
            let kind: RESPBuilder.SubscriptionKind = command[0] == "PSUBSCRIBE" ? .psubscribe : .subscribe
            for name in command.dropFirst() {
                count += 1
                bytes += RESPBuilder.subscribeConfirmation(kind: kind, name: name, count: count)
            }
        }
        transport.receive(bytes)
    }

    @Test("after the handshake the whole set is written as pipelined SUBSCRIBE batches, and confirmed it is healthy")
    func replayAfterHandshake() throws {
        let h = Harness(desired: Self.set(channels: ["a", "b", "c"], patterns: ["p*"]), batchSize: 2)
        h.link.start()
        let transport = try #require(h.connections.last)
        transport.connect()
        #expect(FakeConnections.commands(transport.takeWritten()) == [["HELLO", "3", "SETNAME", "resub"]], "nothing but the handshake before it finished")
        transport.receive(FakeConnections.helloReply)

        let replay = FakeConnections.commands(transport.takeWritten())
        #expect(replay.map(\.[0]) == ["SUBSCRIBE", "SUBSCRIBE", "PSUBSCRIBE"])
        #expect(replay.map { $0.count - 1 } == [2, 1, 1])
        #expect(Set(replay.filter { $0[0] == "SUBSCRIBE" }.flatMap { $0.dropFirst() }) == ["a", "b", "c"])
        #expect(replay[2] == ["PSUBSCRIBE", "p*"])
        #expect(h.link.state == .replaying)

        Self.confirm(replay, on: transport)
        #expect(h.link.state == .healthy)
        #expect(h.link.confirmed == Self.set(channels: ["a", "b", "c"], patterns: ["p*"]))
        #expect(h.events.contains { if case .resubscribed(_, 3, 1, 0, _) = $0 { true } else { false } })
    }

    @Test("the messages of one read are delivered as one batch")
    func messageBatch() throws {
        let h = Harness(desired: Self.set(channels: ["orders"], patterns: ["audit.*"]), batchSize: 100)
        let transport = try h.startHealthy()
        #expect(h.batches.isEmpty)

        transport.receive(
            RESPBuilder.message(channel: "orders", payload: "one")
                + RESPBuilder.pmessage(pattern: "audit.*", channel: "audit.login", payload: "two"))
        #expect(h.batches.count == 1)
        let batch = try #require(h.batches.first)
        #expect(batch.count == 2)
        let messages = Array(batch)
        #expect(messages.map(\.channel) == ["orders", "audit.login"])
        #expect(messages.map(\.payloadString) == ["one", "two"])
        #expect(messages.map(\.pattern) == [nil, "audit.*"])
    }

    @Test("a reconnect replays the whole set on the new connection")
    func reconnectReplays() throws {
        let h = Harness(desired: Self.set(channels: ["orders"]), batchSize: 100)
        let first = try h.startHealthy()

        first.fail()
        #expect(h.link.state == .waitingToReconnect)
        #expect(h.link.confirmed.isEmpty)
        h.scheduler.advance(by: try #require(h.reconnectDelays.last))
        #expect(h.connections.transports.count == 2)
        let second = try #require(h.connections.last)
        FakeConnections.handshake(second)
        let replay = FakeConnections.commands(second.takeWritten())
        #expect(replay == [["SUBSCRIBE", "orders"]])
        Self.confirm(replay, on: second)
        #expect(h.link.state == .healthy)
        let gap = try #require(h.events.compactMap { if case .gap(let gap) = $0 { gap } else { nil } }.first)
        #expect(gap.subscriptions == Self.set(channels: ["orders"]) && gap.subscriptionCount == 1)
        h.link.apply(SubscriptionChange(.channel, ["orders"], subscribe: false)) { _ in }
        h.link.apply(SubscriptionChange(.channel, ["later"], subscribe: true)) { _ in }
        #expect(gap.subscriptions == Self.set(channels: ["orders"]), "the gap keeps the names it covered when the link changes")
    }

    @Test("a replay larger than one slice is written a slice per loop turn, in order, and all of it is confirmed")
    func replayInSlices() throws {
        let names = (0..<80_000).map { "slice.\($0)" }
        let h = Harness(desired: Self.set(channels: names), batchSize: 1000)
        let transport = try h.startHandshaken()

        // The first turn: whole commands up to the slice size (33 commands of 1,000 for 32,768), nothing more.
        let first = FakeConnections.commands(transport.takeWritten())
        #expect(first.count == 33)
        #expect(first.allSatisfy { $0[0] == "SUBSCRIBE" && $0.count == 1001 })
        h.scheduler.advance(by: .zero)  // the next loop turns
        let rest = FakeConnections.commands(transport.takeWritten())
        #expect(rest.count == 47)
        let written = (first + rest).flatMap { $0.dropFirst() }
        #expect(written.count == 80_000)
        #expect(Set(written) == Set(names))
        #expect(h.link.state == .replaying)

        Self.confirm(first + rest, on: transport)
        #expect(h.link.state == .healthy)
        #expect(h.link.confirmed.channels.count == 80_000)
    }

    @Test("a connection lost between slices writes nothing more on it, and the next one replays the whole set")
    func connectionLostBetweenSlices() throws {
        let names = (0..<50_000).map { "lost.\($0)" }
        let h = Harness(desired: Self.set(channels: names), batchSize: 1000)
        let first = try h.startHandshaken()
        #expect(FakeConnections.commands(first.takeWritten()).count == 33)

        first.fail()
        h.scheduler.advance(by: .zero)
        #expect(first.takeWritten().isEmpty, "the rest of the replay belonged to the closed connection")
        h.scheduler.advance(by: try #require(h.reconnectDelays.last))
        let second = try #require(h.connections.last)
        #expect(second !== first)
        FakeConnections.handshake(second)
        h.scheduler.advance(by: .zero)
        let replay = FakeConnections.commands(second.takeWritten())
        #expect(replay.count == 50)
        #expect(Set(replay.flatMap { $0.dropFirst() }) == Set(names))
        Self.confirm(replay, on: second)
        #expect(h.link.state == .healthy)
    }

    @Test("stop closes the connection once and flushes nothing more")
    func stop() throws {
        let h = Harness(desired: Self.set(channels: ["orders"]), batchSize: 100)
        let transport = try h.startHandshaken()
        h.link.stop()
        h.link.stop()
        #expect(transport.closeCount == 1)
        #expect(h.link.isStopped)
        h.scheduler.advance(by: .seconds(60))
        #expect(h.connections.transports.count == 1)
    }
}
