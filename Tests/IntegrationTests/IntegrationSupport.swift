import Foundation
import LibeventLoop
import RESP
import Resub
import Synchronization
import TestSupport

// Shared helpers of the integration tests: bounded waits on a real server's pub/sub state, and collectors that
// drain a subscriber's sequences on a task of their own so a test can poll what arrived with a deadline.

/// Polls `condition` every 10 ms until it holds or `timeout` passes. Returns whether it held.
func waitUntil(timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(10))
    }
}

extension RedisServer {
    /// `PUBSUB NUMSUB channel`: how many clients subscribed `channel`.
    func numsub(_ channel: String, client: SyncRedisClient) throws -> Int {
        let reply = try client.command(["PUBSUB", "NUMSUB", channel])
        return Int(reply.elements?.last?.int ?? -1)
    }

    /// `PUBSUB SHARDNUMSUB channel`: how many clients subscribed the shard channel.
    func shardNumsub(_ channel: String, client: SyncRedisClient) throws -> Int {
        let reply = try client.command(["PUBSUB", "SHARDNUMSUB", channel])
        return Int(reply.elements?.last?.int ?? -1)
    }

    /// `PUBSUB NUMPAT`: how many distinct patterns are subscribed.
    func numpat(client: SyncRedisClient) throws -> Int {
        Int(try client.command(["PUBSUB", "NUMPAT"]).int ?? -1)
    }

    /// Waits (at most `timeout`) until `channel` has `count` subscribers; throws if it never does.
    func awaitSubscribers(channel: String, count: Int = 1, client: SyncRedisClient, timeout: Duration = .seconds(5)) async throws {
        guard try await waitUntil(timeout: timeout, { try numsub(channel, client: client) == count }) else {
            throw FixtureError("PUBSUB NUMSUB \(channel) never reached \(count) (now \(try numsub(channel, client: client)))")
        }
    }

    /// Waits (at most `timeout`) until the shard channel has `count` subscribers.
    func awaitShardSubscribers(channel: String, count: Int = 1, client: SyncRedisClient, timeout: Duration = .seconds(5)) async throws {
        guard try await waitUntil(timeout: timeout, { try shardNumsub(channel, client: client) == count }) else {
            throw FixtureError("PUBSUB SHARDNUMSUB \(channel) never reached \(count)")
        }
    }

    /// Waits (at most `timeout`) until `count` distinct patterns are subscribed.
    func awaitPatterns(count: Int = 1, client: SyncRedisClient, timeout: Duration = .seconds(5)) async throws {
        guard try await waitUntil(timeout: timeout, { try numpat(client: client) == count }) else {
            throw FixtureError("PUBSUB NUMPAT never reached \(count)")
        }
    }

    /// The names (`name=` fields) of the server's clients, from CLIENT LIST.
    func clientNames(client: SyncRedisClient) throws -> [String] {
        let text = try client.command(["CLIENT", "LIST"]).string ?? ""
        return text.split(separator: "\n").compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("name=") }.map { String($0.dropFirst(5)) }
        }
    }
}

/// Drains an async sequence on a task of its own into a locked array; the test polls it with deadlines.
final class Collector<Element: Sendable>: Sendable {
    private final class Store: Sendable {
        let items = Mutex<[Element]>([])
        let ended = Mutex(false)
    }

    private let store = Store()
    private let task: Task<Void, Never>

    /// Starts draining `sequence` (which must end, e.g. on shutdown, for ``awaitEnd(timeout:)`` to succeed).
    init<S: AsyncSequence & Sendable>(_ sequence: S) where S.Element == Element, S.Failure == Never {
        let store = self.store
        task = Task {
            for await item in sequence {
                store.items.withLock { $0.append(item) }
            }
            store.ended.withLock { $0 = true }
        }
    }

    deinit { task.cancel() }

    /// What arrived so far.
    var all: [Element] { store.items.withLock { $0 } }

    /// How many arrived so far.
    var count: Int { store.items.withLock { $0.count } }

    /// Whether the sequence has ended.
    var hasEnded: Bool { store.ended.withLock { $0 } }

    /// Waits (at most `timeout`) until `predicate` holds for what arrived; returns what arrived either way.
    @discardableResult
    func wait(timeout: Duration = .seconds(5), until predicate: ([Element]) -> Bool) async -> [Element] {
        _ = await waitUntil(timeout: timeout) { store.items.withLock { predicate($0) } }
        return all
    }

    /// Waits (at most `timeout`) until at least `count` items arrived; returns what arrived.
    @discardableResult
    func wait(forCount count: Int, timeout: Duration = .seconds(5)) async -> [Element] {
        await wait(timeout: timeout) { $0.count >= count }
    }

    /// Waits (at most `timeout`) for the sequence to end. Returns whether it did.
    func awaitEnd(timeout: Duration = .seconds(5)) async -> Bool {
        await waitUntil(timeout: timeout) { hasEnded }
    }
}

/// Runs `body` with a new subscriber and shuts it down afterwards (bounded), whether `body` returned or threw.
func withSubscriber<T: Sendable>(_ configuration: SubscriberConfiguration, _ body: (Subscriber) async throws -> T) async throws -> T {
    let subscriber = Subscriber(configuration: configuration)
    let result: Result<T, any Error>
    do { result = .success(try await body(subscriber)) } catch { result = .failure(error) }
    try await bounded("shutdown()") { await subscriber.shutdown() }
    return try result.get()
}

/// Awaits `body`, but at most `timeout`: a library call that never returns (a continuation never resumed)
/// becomes a test failure naming `what` instead of a hung test run. The stuck task is left behind.
func bounded<T: Sendable>(
    _ what: String, timeout: Duration = .seconds(10), _ body: @Sendable @escaping () async throws -> T
) async throws -> T {
    let race = Race<T>()
    return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        race.start(continuation)
        let timer = Task {
            do { try await Task.sleep(for: timeout) } catch { return }  // cancelled: the work finished first
            race.finish(.failure(FixtureError("\(what) did not finish within \(timeout)")))
        }
        Task {
            let result: Result<T, any Error>
            do { result = .success(try await body()) } catch { result = .failure(error) }
            race.finish(result)
            timer.cancel()
        }
    }
}

/// The continuation of ``bounded(_:timeout:_:)``, resumed by whichever of the work and the timer ends first.
private final class Race<T: Sendable>: Sendable {
    private let slot = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func start(_ continuation: CheckedContinuation<T, any Error>) { slot.withLock { $0 = continuation } }

    func finish(_ result: Result<T, any Error>) {
        let continuation = slot.withLock { c -> CheckedContinuation<T, any Error>? in
            defer { c = nil }
            return c
        }
        continuation?.resume(with: result)
    }
}

/// A configuration for `url` with quick reconnects (tests never wait out the default backoff).
func testConfiguration(
    url: String, protocolPreference: RESPProtocolPreference = .resp3, initial: SubscriptionSet = .init()
) throws -> SubscriberConfiguration {
    var configuration = try SubscriberConfiguration(url: url)
    configuration.protocolPreference = protocolPreference
    configuration.initialSubscriptions = initial
    configuration.backoff = BackoffConfiguration(minimum: .milliseconds(50), maximum: .milliseconds(500))
    configuration.connectTimeout = .seconds(2)
    return configuration
}

extension RESPProtocolPreference {
    /// 2 or 3: the version a `connected` event must report for this preference against Redis 7.
    var expectedVersion: Int { self == .resp2 ? 2 : 3 }
}

/// Runs blocking work (a SyncRedisClient pipeline, say) on a thread of its own, so it never occupies one of
/// the few cooperative-pool threads the collectors need. The work itself is bounded by the client's socket
/// timeouts.
func onThread<T: Sendable>(_ body: @Sendable @escaping () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        ThreadStarter.detach(name: "test-thread") {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
    }
}

/// Publishes sequence numbers (`"0"`, `"1"`, …) to some channels in rounds, from a thread of its own, until
/// stopped, `maxRounds` rounds are done or `maxDuration` passed. ``sent(_:)`` is incremented before each
/// PUBLISH is written, so it is an upper bound of what the server can have received.
final class SequencePublisher: Sendable {
    private struct State {
        var sent: [String: Int] = [:]
        var stopRequested = false
        var finished = false
        var error: String?
    }

    private final class Store: Sendable {
        let state = Mutex(State())
    }

    private let store = Store()
    /// The channels, in publishing order within a round.
    let channels: [String]

    /// Connects and starts publishing at once.
    init(port: Int, channels: [String], pause: Duration = .microseconds(300), maxRounds: Int = 200_000, maxDuration: Duration = .seconds(30)) throws {
        self.channels = channels
        let client = try SyncRedisClient(port: port, timeout: 5)
        let store = self.store
        let pauseMicros = UInt32(pause.components.attoseconds / 1_000_000_000_000 + pause.components.seconds * 1_000_000)
        ThreadStarter.detach(name: "test-thread") {
            let deadline = ContinuousClock.now + maxDuration
            var round = 0
            do {
                while round < maxRounds, ContinuousClock.now < deadline, !store.state.withLock({ $0.stopRequested }) {
                    store.state.withLock { s in for channel in channels { s.sent[channel] = round + 1 } }
                    _ = try client.pipeline(channels.map { ["PUBLISH", $0, String(round)] })
                    round += 1
                    usleep(pauseMicros)
                }
            } catch {
                store.state.withLock { $0.error = "\(error)" }
            }
            store.state.withLock { $0.finished = true }
        }
    }

    /// How many sequence numbers of `channel` have been (or are being) published.
    func sent(_ channel: String) -> Int { store.state.withLock { $0.sent[channel] ?? 0 } }

    /// The publishing error, if the publisher failed.
    var error: String? { store.state.withLock { $0.error } }

    /// Stops publishing and waits (at most 5 s) for the thread to finish. Returns whether it did.
    @discardableResult
    func stop() async -> Bool {
        store.state.withLock { $0.stopRequested = true }
        return await waitUntil(timeout: .seconds(5)) { store.state.withLock { $0.finished } }
    }
}

/// The payloads of `messages` on `channel`, read as integers (non-numbers become -1).
func sequence(of channel: String, in messages: [Message]) -> [Int] {
    messages.filter { $0.channel == channel }.map { Int($0.payloadString ?? "") ?? -1 }
}

/// Whether `values` are consecutive integers (each one more than the one before; empty counts).
func isConsecutive(_ values: [Int]) -> Bool {
    zip(values, values.dropFirst()).allSatisfy { $1 == $0 + 1 }
}
