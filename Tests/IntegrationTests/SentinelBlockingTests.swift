import Foundation
import LibeventLoop
import RESP
import Resub
import Synchronization
import Testing
import TestSupport

/// `ResubClient.blockingConnection(sentinel:…)` against real processes: a master, a replica and three
/// sentinels per test (RedisSentinelGroup, `down-after-milliseconds` 1000). Serialized like the other
/// Sentinel suite: parallel groups would slow each other's elections. Blocking fixture calls (waiting for a
/// promotion) run on threads of their own, never on the cooperative pool the background commands need.
@Suite("Sentinel blocking connection", .serialized)
struct SentinelBlockingTests {
    /// A blocking connection through `sentinels` (the group's by default), named `name` on every node.
    static func connection(
        _ client: ResubClient, _ group: RedisSentinelGroup, name: String, sentinels: [SocketAddress]? = nil
    ) -> BlockingConnection {
        let sentinel = SentinelConfiguration(
            sentinels: sentinels ?? group.sentinels.map { .tcp(host: "127.0.0.1", port: $0.port) }, masterName: group.masterName)
        return client.blockingConnection(
            sentinel: sentinel, clientName: name, connectTimeout: .seconds(2),
            health: HealthConfiguration(
                pingInterval: .seconds(1), pingTimeout: .seconds(1),
                backoff: BackoffConfiguration(minimum: .milliseconds(50), maximum: .seconds(1))))
    }

    /// Whether a client named `name` is blocked in `command` on `node` (CLIENT LIST, on a fresh connection).
    static func isBlocked(_ name: String, in command: String, on node: RedisServer) -> Bool {
        guard let list = (try? node.command("CLIENT", "LIST"))?.string else { return false }
        return list.split(whereSeparator: \.isNewline).contains { line in
            let fields = line.split(separator: " ")
            return fields.contains("name=\(name)") && fields.contains("cmd=\(command)") && fields.contains { $0.hasPrefix("flags=") && $0.contains("b") }
        }
    }

    /// Runs `arguments` on `connection` in the background; the outcome is awaited with a bound.
    static func start(_ arguments: [String], on connection: BlockingConnection) -> Pending {
        let pending = Pending()
        Task {
            do throws(ResubError) {
                pending.finish(.success(try await connection.command(arguments)))
            } catch {
                pending.finish(.failure(error))
            }
        }
        return pending
    }

    /// A command's outcome and when it came back, once there is one.
    final class Pending: Sendable {
        private let slot = Mutex<(result: Result<RESPValue, ResubError>, at: ContinuousClock.Instant)?>(nil)

        func finish(_ result: Result<RESPValue, ResubError>) {
            slot.withLock { $0 = (result, .now) }
        }

        /// The outcome, waiting (polling every 5 ms) at most `timeout`.
        func outcome(within timeout: Duration) async -> (result: Result<RESPValue, ResubError>, at: ContinuousClock.Instant)? {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if let outcome = slot.withLock({ $0 }) { return outcome }
                try? await Task.sleep(for: .milliseconds(5))
            }
            return slot.withLock { $0 }
        }
    }

    @Test("BLPOP 0 blocked on a frozen master fails promptly after the promotion with the master-changed error, and the next BLPOP on the same connection is served by the new master", .timeLimit(.minutes(1)))
    func frozenMaster() async throws {
        let group = try RedisSentinelGroup()
        defer { group.stop() }
        let (old, replica) = (group.nodes[0], group.nodes[1])
        defer { old.thaw() }
        let client = ResubClient()
        do {
            let connection = Self.connection(client, group, name: "sb-frozen")
            let first = Self.start(["BLPOP", "sb.jobs", "0"], on: connection)
            #expect(await waitUntil(timeout: .seconds(10)) { Self.isBlocked("sb-frozen", in: "blpop", on: old) }, "the BLPOP never blocked on the master")
            #expect(!Self.isBlocked("sb-frozen", in: "blpop", on: replica))

            old.freeze()
            let promoted = try await onThread { try group.waitForPromotion(from: old.port) }
            let promotedAt = ContinuousClock.now
            #expect(promoted === replica)
            let outcome = await first.outcome(within: .seconds(5))
            guard case .failure(let error)? = outcome?.result else {
                Issue.record("the blocked BLPOP did not fail after the promotion: \(String(describing: outcome?.result))")
                throw FixtureError("BLPOP still blocked")
            }
            #expect(error.code == .disconnected)
            #expect(error.message.contains("master changed to 127.0.0.1:\(promoted.port)"), "\(error)")
            #expect(error.node == "127.0.0.1:\(old.port)")
            if let at = outcome?.at {
                // The sentinels announce the switch as they report it; the monitor hears it on its subscription.
                #expect(promotedAt.duration(to: at) < .seconds(2), "failed \(promotedAt.duration(to: at)) after the promotion was visible")
            }

            // The same object: the next BLPOP goes to the new master, and a push there reaches it.
            let second = Self.start(["BLPOP", "sb.jobs", "0"], on: connection)
            #expect(await waitUntil(timeout: .seconds(10)) { Self.isBlocked("sb-frozen", in: "blpop", on: promoted) }, "the second BLPOP never blocked on the new master")
            try promoted.command("RPUSH", "sb.jobs", "after-failover")
            let served = await second.outcome(within: .seconds(5))
            let reply = try #require(try served?.result.get(), "the second BLPOP did not return")
            #expect(reply.elements?.map { $0.string } == ["sb.jobs", "after-failover"])
            #expect(try promoted.command("LLEN", "sb.jobs").int == 0)
        } catch {
            await client.shutdown(deadline: .seconds(2))
            throw error
        }
        await client.shutdown(deadline: .seconds(2))
    }

    @Test("SENTINEL FAILOVER with both nodes alive: the BLPOP on the demoted master ends, and the next one on the same connection is served by the new master", .timeLimit(.minutes(1)))
    func manualFailover() async throws {
        let group = try RedisSentinelGroup()
        defer { group.stop() }
        let (old, replica) = (group.nodes[0], group.nodes[1])
        let client = ResubClient()
        do {
            let connection = Self.connection(client, group, name: "sb-failover")
            let first = Self.start(["BLPOP", "sb.jobs", "0"], on: connection)
            #expect(await waitUntil(timeout: .seconds(10)) { Self.isBlocked("sb-failover", in: "blpop", on: old) }, "the BLPOP never blocked on the master")
            try group.sentinels[1].command(["SENTINEL", "FAILOVER", "mymaster"])
            let promoted = try await onThread { try group.waitForPromotion(from: old.port) }
            #expect(promoted === replica)
            // Either we left first (master changed) or the demoted node unblocked it itself (an UNBLOCKED error
            // reply); either way it does not hang.
            let outcome = await first.outcome(within: .seconds(5))
            switch outcome?.result {
            case .failure(let error)?:
                #expect(error.code == .disconnected && error.message.contains("master changed"), "\(error)")
            case .success(let reply)?:
                #expect(reply.isError && (reply.string ?? "").hasPrefix("UNBLOCKED"), "\(reply)")
            case nil:
                Issue.record("the BLPOP on the demoted master still hangs")
            }

            let second = Self.start(["BLPOP", "sb.jobs", "0"], on: connection)
            #expect(await waitUntil(timeout: .seconds(10)) { Self.isBlocked("sb-failover", in: "blpop", on: promoted) }, "the second BLPOP never blocked on the new master")
            #expect(!Self.isBlocked("sb-failover", in: "blpop", on: old))
            try promoted.command("RPUSH", "sb.jobs", "from-new-master")
            let served = await second.outcome(within: .seconds(5))
            let reply = try #require(try served?.result.get(), "the second BLPOP did not return")
            #expect(reply.elements?.map { $0.string } == ["sb.jobs", "from-new-master"])
        } catch {
            await client.shutdown(deadline: .seconds(2))
            throw error
        }
        await client.shutdown(deadline: .seconds(2))
    }

    @Test("a stale sentinel naming the replica: ROLE refuses it before the command is written, and the command runs on the master", .timeLimit(.minutes(1)))
    func staleSentinel() async throws {
        let group = try RedisSentinelGroup()
        defer { group.stop() }
        let (master, replica) = (group.nodes[0], group.nodes[1])
        let (stale, sentinels) = try group.staleSentinelFirst()
        defer { stale.stop() }
        let client = ResubClient()
        do {
            let connection = Self.connection(client, group, name: "sb-stale", sentinels: sentinels)
            // A replica would answer this write with a READONLY error reply.
            let reply = try await bounded("SET through Sentinel") { try await connection.command(["SET", "sb.stale", "written"]) }
            #expect(reply.string == "OK", "\(reply)")
            #expect(stale.masterQueries >= 1, "the stale sentinel was never asked")
            #expect(try master.command("GET", "sb.stale").string == "written")
            // The replica applies the master's SET too; one sent to it directly would be refused as READONLY.
            let errors = try replica.command("INFO", "errorstats").string ?? ""
            #expect(!errors.contains("READONLY"), "a SET reached the replica: \(errors)")
        } catch {
            await client.shutdown(deadline: .seconds(2))
            throw error
        }
        await client.shutdown(deadline: .seconds(2))
    }

    @Test("the client's shutdown returns at once while a connection through Sentinel is blocked, fails the command, and closes the master and sentinel connections", .timeLimit(.minutes(1)))
    func shutdownWhileBlocked() async throws {
        let group = try RedisSentinelGroup()
        defer { group.stop() }
        let master = group.nodes[0]
        let client = ResubClient()
        let connection = Self.connection(client, group, name: "sb-shutdown")
        let blocked = Self.start(["BLPOP", "sb.jobs", "0"], on: connection)
        var shutDown = false
        do {
            #expect(await waitUntil(timeout: .seconds(10)) { Self.isBlocked("sb-shutdown", in: "blpop", on: master) }, "the BLPOP never blocked on the master")
            // The monitor's +switch-master subscription is on one of the sentinels, under the same name.
            let watched = try await waitUntil(timeout: .seconds(5)) { try await onThread { Self.sentinelClients("sb-shutdown", group) } > 0 }
            #expect(watched, "no sentinel connection named sb-shutdown")

            let started = ContinuousClock.now
            await client.shutdown(deadline: .seconds(2))
            shutDown = true
            let took = started.duration(to: .now)
            #expect(took < .milliseconds(500), "shutdown took \(took)")
            let outcome = await blocked.outcome(within: .seconds(1))
            guard case .failure(let error)? = outcome?.result else {
                Issue.record("the blocked BLPOP did not fail: \(String(describing: outcome?.result))")
                return
            }
            #expect(error.code == .disconnected)
            #expect(await waitUntil(timeout: .seconds(2)) { !Self.isBlocked("sb-shutdown", in: "blpop", on: master) })
            let closed = try await waitUntil(timeout: .seconds(2)) { try await onThread { Self.sentinelClients("sb-shutdown", group) } == 0 }
            #expect(closed, "the monitor's sentinel connection is still open")
        } catch {
            if !shutDown { await client.shutdown(deadline: .seconds(2)) }
            throw error
        }
    }

    /// How many connections named `name` the group's sentinels have.
    static func sentinelClients(_ name: String, _ group: RedisSentinelGroup) -> Int {
        group.sentinels.reduce(0) { count, sentinel in
            let list = (try? sentinel.command(["CLIENT", "LIST"]))?.string ?? ""
            return count + list.split(whereSeparator: \.isNewline).count { $0.split(separator: " ").contains("name=\(name)") }
        }
    }
}
