import Foundation
import Logging
import Resub
import ServiceLifecycle
import Synchronization
import Testing
import TestSupport

/// `Subscriber` and `ResubClient` as swift-service-lifecycle services, against a real redis-server: the
/// group's graceful shutdown (what SIGTERM triggers) drains and stops within the deadline.
@Suite("ServiceGroup shutdown", .serialized, .timeLimit(.minutes(2)))
struct ServiceGroupTests {
    /// The app beside the subscriber: consumes messages until the sequence ends, like a real consumer would.
    final class Consumer: Service {
        let messages: MessageSequence
        let received = Mutex<[String]>([])
        init(messages: MessageSequence) { self.messages = messages }
        func run() async throws {
            for await message in messages {
                received.withLock { $0.append(message.payloadString ?? "") }
            }
            // Everything the subscriber received is handled; a service runs until the group stops it.
            try? await gracefulShutdown()
        }
    }

    static let published = 2_000

    /// Publishes 0..<published to `orders` as fast as the server takes them.
    /// Runs `services` in a group until "orders" is subscribed, publishes every message, shuts the group down
    /// gracefully and returns how long the shutdown took.
    static func publishAndShutDown(_ server: RedisServer, _ admin: SyncRedisClient, _ services: [any Service]) async throws -> Duration {
        let group = ServiceGroup(services: services, logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        try await server.awaitSubscribers(channel: "orders", client: admin)
        try await publishAll(server)
        let start = ContinuousClock.now
        await group.triggerGracefulShutdown()
        try await bounded("ServiceGroup.run()") { try await running.value }
        return ContinuousClock.now - start
    }

    static func publishAll(_ server: RedisServer) async throws {
        try await onThread {
            let client = try server.client()
            for i in 0..<published { _ = try client.publish("orders", String(i)) }
        }
    }

    @Test("graceful shutdown of a group running a Subscriber delivers every message published before it, then unsubscribes and closes within the deadline")
    func subscriberDrains() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let admin = try server.client()
        var configuration = try testConfiguration(url: server.url, initial: SubscriptionSet(channels: ["orders"]))
        configuration.shutdownDeadline = .seconds(3)
        let subscriber = Subscriber(configuration: configuration)
        let consumer = Consumer(messages: subscriber.messages)
        // The group stops services in reverse order: the subscriber first, then the consumer drains it.
        let took = try await Self.publishAndShutDown(server, admin, [consumer, subscriber])

        #expect(took < .seconds(3), "shutdown took \(took)")
        #expect(consumer.received.withLock { $0 } == (0..<Self.published).map(String.init))
        #expect(try server.numsub("orders", client: admin) == 0)
        #expect(await waitUntil { (try? server.clientNames(client: admin).contains("resub")) == false })
    }

    @Test("graceful shutdown against a frozen server stops at the deadline instead of waiting for the drain")
    func drainHonoursDeadline() async throws {
        let server = try RedisServer()
        defer { server.thaw(); server.stop() }
        let admin = try server.client()
        var configuration = try testConfiguration(url: server.url, initial: SubscriptionSet(channels: ["orders"]))
        configuration.shutdownDeadline = .seconds(1)
        let subscriber = Subscriber(configuration: configuration)
        let group = ServiceGroup(services: [subscriber], logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        try await server.awaitSubscribers(channel: "orders", client: admin)

        server.freeze()  // the UNSUBSCRIBE is never confirmed
        let start = ContinuousClock.now
        await group.triggerGracefulShutdown()
        try await bounded("ServiceGroup.run()") { try await running.value }
        let took = ContinuousClock.now - start
        #expect(took >= .milliseconds(900), "returned after \(took): did it drain at all?")
        #expect(took < .seconds(3), "shutdown took \(took), past the 1 s deadline")
    }

    @Test("cancelling the group (no graceful shutdown) closes the subscriber at once")
    func cancellationClosesAtOnce() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let admin = try server.client()
        var configuration = try testConfiguration(url: server.url, initial: SubscriptionSet(channels: ["orders"]))
        configuration.shutdownDeadline = .seconds(10)
        let subscriber = Subscriber(configuration: configuration)
        let events = Collector(subscriber.events)
        let group = ServiceGroup(services: [subscriber], logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        try await server.awaitSubscribers(channel: "orders", client: admin)

        let start = ContinuousClock.now
        running.cancel()
        _ = try? await bounded("ServiceGroup.run()") { try await running.value }
        #expect(ContinuousClock.now - start < .seconds(2))
        #expect(await events.awaitEnd())
        #expect(await waitUntil { (try? server.numsub("orders", client: admin)) == 0 })
    }

    @Test("a group running a ResubClient drains each of its subscribers and closes them on graceful shutdown")
    func clientDrains() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let admin = try server.client()
        let client = ResubClient(shutdownDeadline: .seconds(3))
        let subscriber = client.subscriber(try testConfiguration(url: server.url, initial: SubscriptionSet(channels: ["orders"])))
        let consumer = Consumer(messages: subscriber.messages)
        #expect(try await Self.publishAndShutDown(server, admin, [consumer, client]) < .seconds(3))
        #expect(consumer.received.withLock { $0 } == (0..<Self.published).map(String.init))
        #expect(try server.numsub("orders", client: admin) == 0)
    }

    @Test("run() returns when the app shuts the subscriber down itself")
    func runEndsOnDirectShutdown() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let subscriber = Subscriber(configuration: try testConfiguration(url: server.url, initial: SubscriptionSet(channels: ["orders"])))
        let running = Task { try await subscriber.run() }
        await subscriber.shutdown()
        try await bounded("Subscriber.run()") { try await running.value }
    }
}
