import Foundation
import RESP
import Resub
import Testing
import TestSupport

// MARK: Helpers

/// Runs `command key value` on the master that owns each key; returns the owner of each key.
@discardableResult
private func write(_ keys: [String], in cluster: RedisCluster, _ command: String = "SET", _ value: String = "1") throws -> [String: Int] {
    let ownerOf = try owners(keys, in: cluster)
    for key in keys {
        let reply = try cluster.command(ownerOf[key]!, [command, key, value])
        guard !reply.isError else { throw FixtureError("\(command) \(key) on \(ownerOf[key]!): \(reply)") }
    }
    return ownerOf
}

/// The keyspace channel of `key` in database 0.
private func keyspace(_ key: String) -> String { "__keyspace@0__:\(key)" }

/// How many subscribers to `channel` the running nodes have together (PUBSUB NUMSUB is node-local).
private func subscribersEverywhere(_ channel: String, in cluster: RedisCluster) throws -> Int {
    try cluster.livePorts.reduce(0) { sum, port in
        sum + Int(try cluster.command(port, ["PUBSUB", "NUMSUB", channel]).elements?.last?.int ?? -1000)
    }
}

/// Waits (bounded) until the subscriber reports `pattern` confirmed (on every master, in cluster mode).
private func confirmed(_ subscriber: Subscriber, pattern: String, within seconds: Double = 10) async -> Bool {
    await eventually(within: seconds) { await subscriber.subscriptions().confirmed.patterns.contains(pattern) }
}

/// SETs `key` on the node `port()` names every 200 ms until a new keyspace event of the key arrives; gives up after
/// `seconds`. Errors while the cluster settles (CLUSTERDOWN, MOVED, refused connections) count as "not yet".
private func writeUntilEvent(
    _ recorder: Recorder, key: String, in cluster: RedisCluster, on port: @escaping @Sendable () throws -> Int, within seconds: Double
) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    let before = recorder.messages(on: keyspace(key)).count
    while ContinuousClock.now < deadline {
        _ = try? await offPool { try cluster.command(try port(), ["SET", key, "again"]) }
        if await eventually(within: 0.2, { recorder.messages(on: keyspace(key)).count > before }) { return true }
    }
    return false
}

/// A cluster configuration whose topology is refreshed every 500 ms (a new master is found quickly).
private func quickRefresh(seeds: [Int], clientName: String) throws -> SubscriberConfiguration {
    var configuration = try clusterConfiguration(seeds: seeds, clientName: clientName)
    configuration.cluster?.refreshInterval = .milliseconds(500)
    return configuration
}

/// The `keyspaceEventsDisabled` events recorded.
private func disabledWarnings(_ recorder: Recorder) -> [SubscriberEvent] {
    recorder.events.filter { if case .keyspaceEventsDisabled = $0 { true } else { false } }
}

// MARK: Tests

@Suite("Keyspace events across a cluster", .serialized, .sharedCluster(arguments: ["--notify-keyspace-events", "KEA"]))
struct KeyspaceClusterTests {
    @Test("keys SET across every master each produce exactly one keyspace event, through one link per master and none on a replica")
    func everyMasterOnce() async throws {
        let cluster = try SharedCluster.require()
        let masters = try cluster.masters()
        let name = "resub-ks-every"
        let pattern = "__keyspace@0__:ks-every-*"
        let keys = (0..<90).map { "ks-every-\($0)" }
        try await withRecordedSubscriber(try clusterConfiguration(seeds: [masters[0]], clientName: name)) { subscriber, recorder in
            try await subscriber.subscribe(patterns: [pattern])
            try #require(await confirmed(subscriber, pattern: pattern), "events:\n\(recorder.recentEvents)")
            // Asked for again (e.g. POST /subscriptions): confirmed by every master's link, not queued (202).
            let again = await subscriber.apply(SubscriptionChange(.pattern, [pattern], subscribe: true))
            #expect(again.confirmed == [pattern] && again.queued.isEmpty && again.refused.isEmpty, "\(again)")
            for port in cluster.livePorts {
                let expected = masters.contains(port) ? 1 : 0
                #expect(try links(named: name, on: port, in: cluster, subscribedOnly: true).count == expected, "links on \(port)")
            }
            let ownerOf = try await offPool { try write(keys, in: cluster) }
            #expect(Set(ownerOf.values) == Set(masters), "the keys cover every master")
            #expect(await eventually(within: 10) { recorder.messages.count >= keys.count }, "got \(recorder.messages.count) of \(keys.count)")
            try? await Task.sleep(for: .milliseconds(300))
            let messages = recorder.messages
            #expect(messages.count == keys.count, "exactly one event per key")
            #expect(Set(messages.map(\.channel)) == Set(keys.map(keyspace)))
            #expect(messages.allSatisfy { $0.kind == .pmessage && $0.pattern == pattern && $0.payloadString == "set" })
            for master in masters {
                let mine = keys.filter { ownerOf[$0] == master }.map(keyspace)
                #expect(!mine.isEmpty && mine.allSatisfy { c in messages.filter { $0.channel == c }.count == 1 }, "events of \(master)'s keys")
            }
            #expect(disabledWarnings(recorder).isEmpty, "KEA is on: no warning")
            // The admin view: every master carries the pattern, confirmed.
            let perNode = await subscriber.nodeLocalLinks()
            #expect(perNode.map(\.node) == masters.map { "127.0.0.1:\($0)" }.sorted())
            #expect(perNode.allSatisfy { $0.desired == 1 && $0.confirmed == 1 && $0.state == .healthy })
        }
    }

    @Test("keyspace patterns, a keyevent channel and ordinary channels together: ordinary ones on one connection, nothing twice")
    func mixedWithOrdinary() async throws {
        let cluster = try SharedCluster.require()
        let masters = try cluster.masters()
        let name = "resub-ks-mix"
        let keyspacePattern = "__keyspace@0__:ks-mix-*", keyevent = "__keyevent@0__:incrby"
        let plain = "ks-mix-plain", plainPattern = "ks-mix-news.*"
        let keys = (0..<30).map { "ks-mix-\($0)" }
        try await withRecordedSubscriber(try clusterConfiguration(seeds: [masters[1]], clientName: name)) { subscriber, recorder in
            try await subscriber.subscribe(patterns: [keyspacePattern, plainPattern])
            try await subscriber.subscribe(channels: [keyevent, plain])
            let all = await eventually(within: 10) {
                let confirmed = await subscriber.subscriptions().confirmed
                return confirmed.patterns == [keyspacePattern, plainPattern] && confirmed.channels == [keyevent, plain]
            }
            try #require(all, "events:\n\(recorder.recentEvents)")
            #expect(try subscribersEverywhere(plain, in: cluster) == 1, "the ordinary channel is subscribed once in the cluster")
            #expect(try subscribersEverywhere(keyevent, in: cluster) == masters.count, "the keyevent channel once per master")
            // Links: one per master holding the keyevent names, plus the one for ordinary names.
            let linkCount = try cluster.livePorts.reduce(0) { $0 + (try links(named: name, on: $1, in: cluster, subscribedOnly: true).count) }
            #expect(linkCount == masters.count + 1)

            try cluster.publish(plain, "hello", on: masters[2])
            try cluster.publish("ks-mix-news.eu", "bonjour", on: masters[0])
            let ownerOf = try await offPool { try write(keys, in: cluster, "INCRBY", "5") }
            #expect(Set(ownerOf.values) == Set(masters))
            let expected = 2 + 2 * keys.count
            #expect(await eventually(within: 10) { recorder.messages.count >= expected }, "got \(recorder.messages.count) of \(expected)")
            try? await Task.sleep(for: .milliseconds(300))
            let messages = recorder.messages
            #expect(messages.count == expected, "nothing twice")
            #expect(messages.filter { $0.channel == plain }.map(\.payloadString) == ["hello"])
            #expect(messages.filter { $0.pattern == plainPattern }.map(\.payloadString) == ["bonjour"])
            #expect(messages.filter { $0.channel == keyevent }.compactMap(\.payloadString).sorted() == keys.sorted(), "one keyevent per key")
            #expect(messages.filter { $0.pattern == keyspacePattern }.map(\.channel).sorted() == keys.map(keyspace).sorted(), "one keyspace event per key")

            // Removing the keyspace names leaves the ordinary ones, and closes the per-master links.
            try await subscriber.unsubscribe(patterns: [keyspacePattern])
            try await subscriber.unsubscribe(channels: [keyevent])
            let closed = try await eventually(within: 5) {
                try cluster.livePorts.reduce(0) { $0 + (try links(named: name, on: $1, in: cluster).count) } == 1
            }
            #expect(closed, "only the link for ordinary names is left; events:\n\(recorder.recentEvents)")
            #expect(try subscribersEverywhere(keyevent, in: cluster) == 0)
        }
    }

    @Test("a fourth master joins: nothing is subscribed on it until it owns a slot, then its keys' events arrive")
    func newMaster() async throws {
        let cluster = try SharedCluster.require()
        let masters = try cluster.masters()
        let name = "resub-ks-new"
        let pattern = "__keyspace@0__:ks-new-*"
        try await withRecordedSubscriber(try quickRefresh(seeds: [masters[0]], clientName: name)) { subscriber, recorder in
            try await subscriber.subscribe(patterns: [pattern])
            try #require(await confirmed(subscriber, pattern: pattern), "events:\n\(recorder.recentEvents)")
            let added = try await offPool { try cluster.addMaster() }
            // A few refreshes later there is still no link to it: a master without slots publishes nothing.
            try? await Task.sleep(for: .milliseconds(1500))
            #expect(try links(named: name, on: added, in: cluster).isEmpty, "no link to a master with no slot")

            let key = "ks-new-0"
            let slot = Int(HashSlot(key: key).rawValue)
            let from = try cluster.owner(ofSlot: slot)
            try await offPool { try cluster.migrate(slot: slot, from: from, to: added) }
            let linked = try await eventually(within: 10) { try links(named: name, on: added, in: cluster, subscribedOnly: true).count == 1 }
            #expect(linked, "no link to the new master; events:\n\(recorder.recentEvents)")
            #expect(await confirmed(subscriber, pattern: pattern))
            let arrived = await writeUntilEvent(recorder, key: key, in: cluster, on: { added }, within: 10)
            #expect(arrived, "no event from the new master's key; events:\n\(recorder.recentEvents)")
            // Once each, from the new master only.
            let before = recorder.messages(on: keyspace(key)).count
            try cluster.command(added, ["DEL", key])
            #expect(await eventually(within: 5) { recorder.messages(on: keyspace(key)).count == before + 1 })
            try? await Task.sleep(for: .milliseconds(200))
            #expect(recorder.messages(on: keyspace(key)).last?.payloadString == "del")
            #expect(recorder.messages(on: keyspace(key)).count == before + 1)
        }
    }

    @Test("SIGKILL of a master: its subscription moves to the promoted replica, whose keys' events arrive, and the outage is a gap naming the node")
    func failover() async throws {
        let cluster = try SharedCluster.require()
        let masters = try cluster.masters()
        let victim = try #require(try masters.first { try cluster.replicas(of: $0).count == 1 })
        let name = "resub-ks-failover"
        let pattern = "__keyspace@0__:ks-fo-*"
        let keys = (0..<40).map { "ks-fo-\($0)" }
        let ownerOf = try owners(keys, in: cluster)
        let victimKey = try #require(keys.first { ownerOf[$0] == victim })
        let otherKeys = keys.filter { ownerOf[$0] != victim }
        try await withRecordedSubscriber(try clusterConfiguration(seeds: masters.filter { $0 != victim }, clientName: name)) { subscriber, recorder in
            try await subscriber.subscribe(patterns: [pattern])
            try #require(await confirmed(subscriber, pattern: pattern), "events:\n\(recorder.recentEvents)")
            try cluster.command(victim, ["SET", victimKey, "before"])
            #expect(await eventually(within: 5) { recorder.messages(on: keyspace(victimKey)).count == 1 })

            try cluster.kill(victim)
            let promoted = try await offPool { try cluster.waitForFailover(of: victim, timeout: 30) }
            let arrived = await writeUntilEvent(recorder, key: victimKey, in: cluster, on: { promoted }, within: 15)
            #expect(arrived, "no event from the promoted replica \(promoted); events:\n\(recorder.recentEvents)")
            let promotedLinks = try links(named: name, on: promoted, in: cluster, subscribedOnly: true)
            #expect(promotedLinks.count == 1, "\(promotedLinks)")

            // The dead node's outage: one gap naming it and the pattern.
            let gaps = { recorder.events.compactMap { (event: SubscriberEvent) -> Gap? in if case .gap(let gap) = event { gap } else { nil } } }
            #expect(await eventually(within: 5) { gaps().contains { $0.node == "127.0.0.1:\(victim)" } }, "events:\n\(recorder.recentEvents)")
            let victimGaps = gaps().filter { $0.node == "127.0.0.1:\(victim)" }
            #expect(victimGaps.count == 1)
            #expect(victimGaps.first?.subscriptions.patterns == [pattern])
            #expect(victimGaps.allSatisfy { $0.from <= $0.to })
            // No link is left on the dead node, and the other masters' keys still give one event each.
            #expect(await eventually(within: 5) { !(await subscriber.linkStates().map(\.node).contains("127.0.0.1:\(victim)")) })
            let before = recorder.messages.count
            _ = try await offPool { try write(otherKeys, in: cluster) }
            #expect(await eventually(within: 10) { recorder.messages.count >= before + otherKeys.count })
            try? await Task.sleep(for: .milliseconds(300))
            #expect(recorder.messages.count == before + otherKeys.count, "one event per key")
        }
    }
}

@Suite("Keyspace events switched off on the server")
struct KeyspaceConfigWarningTests {
    @Test("standalone, notify-keyspace-events empty: one warning naming the missing flags, not repeated after a reconnect")
    func warnsOnce() async throws {
        let redis = try RedisServer()
        defer { redis.stop() }
        let subscriber = Subscriber(configuration: try testConfiguration(url: redis.url))
        let recorder = Recorder(subscriber)
        try await subscriber.subscribe(patterns: ["__keyevent@*__:expired", "orders.*"])
        let warned = await eventually(within: 5) { disabledWarnings(recorder).count == 1 }
        #expect(warned, "events:\n\(recorder.recentEvents)")
        #expect(disabledWarnings(recorder).first == .keyspaceEventsDisabled(node: "127.0.0.1:\(redis.port)", configured: "", missing: "Ex"))
        // A reconnect checks nothing new; a name needing another flag warns again.
        redis.kill()
        try redis.start()
        #expect(await eventually(within: 10) { recorder.events.filter { if case .resubscribed = $0 { true } else { false } }.count >= 2 })
        try await subscriber.subscribe(channels: ["__keyspace@0__:user:1"])
        #expect(await eventually(within: 5) { disabledWarnings(recorder).count == 2 })
        try? await Task.sleep(for: .milliseconds(300))
        #expect(disabledWarnings(recorder).count == 2)
        #expect(disabledWarnings(recorder).last == .keyspaceEventsDisabled(node: "127.0.0.1:\(redis.port)", configured: "", missing: "KEAx"), "every flag the link's names need")
        await subscriber.shutdown()
        await recorder.finish()
    }

    @Test("when an ACL refuses CONFIG, nothing is said; with the events on, nothing is said either")
    func silentWhenUnknownOrOn() async throws {
        let redis = try RedisServer(arguments: ["--notify-keyspace-events", "Kg"])
        defer { redis.stop() }
        let admin = try redis.client()
        _ = try admin.command("ACL", "SETUSER", "noconfig", "on", ">pw", "~*", "&*", "+@all", "-config")
        for (user, label) in [("noconfig:pw@", "refused"), ("", "on")] {
            let url = "redis://\(user)127.0.0.1:\(redis.port)"
            let subscriber = Subscriber(configuration: try testConfiguration(url: url))
            let recorder = Recorder(subscriber)
            // Kg covers a keyspace pattern; the refused user could not tell either way.
            try await subscriber.subscribe(patterns: ["__keyspace@0__:*"])
            #expect(await eventually(within: 5) { await subscriber.subscriptions().confirmed.patterns.count == 1 })
            try? await Task.sleep(for: .milliseconds(500))
            #expect(disabledWarnings(recorder).isEmpty, "\(label): \(recorder.recentEvents)")
            await subscriber.shutdown()
            await recorder.finish()
        }
        // The same server with the events off warns the user that may read CONFIG.
        _ = try admin.command("CONFIG", "SET", "notify-keyspace-events", "")
        let subscriber = Subscriber(configuration: try testConfiguration(url: redis.url))
        let recorder = Recorder(subscriber)
        try await subscriber.subscribe(patterns: ["__keyspace@0__:*"])
        #expect(await eventually(within: 5) { disabledWarnings(recorder).count == 1 })
        await subscriber.shutdown()
        await recorder.finish()
    }
}
