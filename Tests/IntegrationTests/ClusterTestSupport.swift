import Foundation
import Testing
import Resub
import Synchronization
import TestSupport

// Helpers shared by the cluster integration suites (shard channels, keyspace events).

/// The cluster shared by the tests of a suite marked `.sharedCluster`.
enum SharedCluster {
    @TaskLocal static var current: RedisCluster?

    static func require() throws -> RedisCluster {
        guard let current else { throw FixtureError("no shared cluster: the suite needs the .sharedCluster trait") }
        return current
    }
}

/// Starts one 6-node cluster for a whole suite (not once per test) and stops it, by pid, after the suite.
struct SharedClusterTrait: SuiteTrait, TestScoping {
    /// Extra `redis-server` arguments for every node.
    var arguments: [String] = []
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let cluster = try await offPool { try RedisCluster(arguments: arguments) }
        defer { cluster.stop() }
        try await SharedCluster.$current.withValue(cluster) { try await function() }
    }
}

extension Trait where Self == SharedClusterTrait {
    /// One cluster for the whole suite.
    static var sharedCluster: Self { Self() }
    /// One cluster for the whole suite, its nodes started with `arguments` too.
    static func sharedCluster(arguments: [String]) -> Self { Self(arguments: arguments) }
}

/// Polls `condition` every 25 ms until it holds or `seconds` pass; returns whether it held.
func eventually(within seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while true {
        if try await condition() { return true }
        guard ContinuousClock.now < deadline else { return false }
        try? await Task.sleep(for: .milliseconds(25))
    }
}

/// Everything a subscriber delivers (messages and events), recorded by two tasks until it shuts down.
final class Recorder: Sendable {
    private struct State {
        var messages: [Message] = []
        var events: [SubscriberEvent] = []
    }

    private let state = Mutex(State())
    private let tasks: Mutex<[Task<Void, Never>]> = Mutex([])

    init(_ subscriber: Subscriber) {
        let messageTask = Task { [self] in
            for await message in subscriber.messages { state.withLock { $0.messages.append(message) } }
        }
        let eventTask = Task { [self] in
            for await event in subscriber.events { state.withLock { $0.events.append(event) } }
        }
        tasks.withLock { $0 = [messageTask, eventTask] }
    }

    var messages: [Message] { state.withLock { $0.messages } }
    var events: [SubscriberEvent] { state.withLock { $0.events } }

    /// Messages on `channel`.
    func messages(on channel: String) -> [Message] { messages.filter { $0.channel == channel } }

    /// Waits for both recording tasks, which end when the subscriber's streams finish.
    func finish() async {
        for task in tasks.withLock({ $0 }) { await task.value }
    }

    /// The last events, for failure messages.
    var recentEvents: String { events.suffix(30).map(\.description).joined(separator: "\n") }
}

/// A cluster-mode configuration with short health settings for tests.
func clusterConfiguration(seeds: [Int], clientName: String, slots: SlotRanges = .all) throws -> SubscriberConfiguration {
    let endpoints = try seeds.map { try RedisEndpoint(url: "redis://127.0.0.1:\($0)") }
    var configuration = SubscriberConfiguration(
        endpoint: endpoints[0], clientName: clientName, connectTimeout: .seconds(1),
        backoff: BackoffConfiguration(minimum: .milliseconds(50), maximum: .milliseconds(500)),
        pingInterval: .milliseconds(500), pingTimeout: .milliseconds(500))
    configuration.cluster = ClusterConfiguration(
        seeds: endpoints, slots: slots, refreshInterval: .seconds(30), degradedRefreshInterval: .milliseconds(200))
    return configuration
}

/// Runs `body` with a started subscriber and its recorder, and always shuts the subscriber down after it.
func withRecordedSubscriber<T>(
    _ configuration: SubscriberConfiguration, _ body: (Subscriber, Recorder) async throws -> T
) async throws -> T {
    let subscriber = Subscriber(configuration: configuration)
    let recorder = Recorder(subscriber)
    do {
        let result = try await body(subscriber, recorder)
        await subscriber.shutdown()
        await recorder.finish()
        return result
    } catch {
        await subscriber.shutdown()
        await recorder.finish()
        throw error
    }
}

/// Publishes on `channel` every 200 ms (with `publish`, which returns the receiver count or throws) until a
/// message carrying one of the payloads arrives; gives up after `seconds`. Errors while the cluster settles
/// (CLUSTERDOWN, refused connections) count as "not yet".
func publishUntilDelivered(
    _ recorder: Recorder, channel: String, within seconds: Double, _ publish: @escaping @Sendable (String) throws -> Void
) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    var n = 0
    let tag = "until-\(UInt32.random(in: 0...UInt32.max))-"
    while ContinuousClock.now < deadline {
        n += 1
        let payload = "\(tag)\(n)"
        _ = try? await offPool { try publish(payload) }
        let arrived = await eventually(within: 0.2) {
            recorder.messages(on: channel).contains { $0.payloadString?.hasPrefix(tag) == true }
        }
        if arrived { return true }
    }
    return false
}

/// The connections named `name` on the node on `port`, less the topology refresher's short-lived ones (last
/// command `cluster|shards` or `cluster|slots`) and the keyspace check's (`config|get`). With `subscribedOnly`, only those holding at least one
/// subscription (`sub`, `psub` or `ssub` above 0): the links, never a refresher caught mid-login.
func links(named name: String, on port: Int, in cluster: RedisCluster, subscribedOnly: Bool = false) throws -> [String] {
    try cluster.clients(named: name, on: port).filter { line in
        guard !line.contains(" cmd=cluster|"), !line.contains(" cmd=config|") else { return false }
        guard subscribedOnly else { return true }
        return line.split(separator: " ").contains { field in
            ["sub=", "psub=", "ssub="].contains { field.hasPrefix($0) && field != "\($0)0" }
        }
    }
}

/// The owner port of each channel's slot, from one `CLUSTER SLOTS` view.
func owners(_ channels: [String], in cluster: RedisCluster) throws -> [String: Int] {
    let ranges = try cluster.slotRanges()
    var result: [String: Int] = [:]
    for channel in channels {
        let slot = Int(HashSlot(key: channel).rawValue)
        guard let owner = ranges.first(where: { $0.range.contains(slot) })?.master else { throw FixtureError("no owner for \(channel)") }
        result[channel] = owner
    }
    return result
}

