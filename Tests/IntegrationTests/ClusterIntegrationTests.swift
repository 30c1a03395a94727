import Dispatch
import Foundation
import RESP
import Resub
import Synchronization
import Testing
import TestSupport

// MARK: Fixture plumbing

/// Waits (bounded) until the server confirmed exactly `expected` shard channels.
private func waitForShardConfirmation(_ subscriber: Subscriber, _ expected: Set<String>, within seconds: Double = 10) async -> Bool {
    await eventually(within: seconds) { await subscriber.subscriptions().confirmed.shardChannels == expected }
}

/// The built `resub` executable: next to the test bundle, else under a scratch path of this package.
private func resubExecutable() throws -> String {
    var candidates: [String] = []
    let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    candidates.append(me.deletingLastPathComponent().appendingPathComponent("resub").path)
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    for scratch in [".build-cluster", ".build"] {
        candidates.append(packageRoot.appendingPathComponent("\(scratch)/debug/resub").path)
    }
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw FixtureError("resub executable not found (swift build --build-tests builds it); looked at \(candidates)")
    }
    return found
}

/// A `resub` child process writing its stdout and stderr to files; stopped by pid.
private final class ClusterResubProcess: @unchecked Sendable {
    let process = Process()
    let stdoutPath: String
    let stderrPath: String

    init(executable: String, arguments: [String], directory: String, name: String) throws {
        stdoutPath = directory + "/\(name).out"
        stderrPath = directory + "/\(name).err"
        for path in [stdoutPath, stderrPath] {
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw FixtureError("cannot create \(path)") }
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// SIGTERM, then SIGKILL if it has not exited within 5 s; waits for the exit.
    func stop() {
        guard process.isRunning else { return }
        let pid = process.processIdentifier
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    /// The channels of the `smessage` JSON lines written so far.
    func deliveredChannels() -> [String] {
        let text = (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? ""
        return text.split(whereSeparator: \.isNewline).compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  object["type"] as? String == "smessage" else { return nil }
            return object["channel"] as? String
        }
    }

    /// The end of its log, for failure messages.
    var logTail: String { String(((try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "").suffix(1500)) }
}

// MARK: Tests

@Suite("Cluster integration", .serialized)
struct ClusterIntegrationTests {
    @Suite("Cluster on a shared 6-node cluster", .serialized, .sharedCluster)
    struct Shared {
        @Test("300 shard channels over all three masters: every SPUBLISH is delivered once")
        func fanOut() async throws {
            let cluster = try SharedCluster.require()
            let masters = try cluster.masters()
            try #require(masters.count == 3)
            let channels = (0..<300).map { "fan-\($0)" }
            let ownerOf = try owners(channels, in: cluster)
            #expect(Set(ownerOf.values) == Set(masters), "every master owns some of the channels")

            try await withRecordedSubscriber(try clusterConfiguration(seeds: [masters[1]], clientName: "resub-fanout")) { subscriber, recorder in
                try await subscriber.subscribe(shardChannels: channels)
                let confirmed = await waitForShardConfirmation(subscriber, Set(channels))
                try #require(confirmed, "not all 300 confirmed; events:\n\(recorder.recentEvents)")
                let nodes = Set(await subscriber.linkStates().map { $0.node })
                #expect(nodes == Set(masters.map { "127.0.0.1:\($0)" }), "one link per master")

                var receivers: [String: Int] = [:]
                for channel in channels {
                    receivers[channel] = try cluster.spublish(channel, "payload-\(channel)", on: ownerOf[channel]!)
                }
                #expect(receivers.values.allSatisfy { $0 == 1 }, "a receiver per SPUBLISH: \(receivers.filter { $0.value != 1 })")
                let all = await eventually(within: 10) { recorder.messages.count >= channels.count }
                #expect(all, "received \(recorder.messages.count) of \(channels.count)")
                try? await Task.sleep(for: .milliseconds(200))
                let messages = recorder.messages
                #expect(messages.count == channels.count, "no duplicates")
                #expect(Set(messages.map(\.channel)) == Set(channels))
                #expect(messages.allSatisfy { $0.kind == .smessage && $0.payloadString == "payload-\($0.channel)" })
            }
        }

        @Test("unsubscribing every shard channel of one master from 30 tasks at once closes that master's link only, and it reopens on demand")
        func concurrentUnsubscribeClosesLink() async throws {
            let cluster = try SharedCluster.require()
            let masters = try cluster.masters()
            try #require(masters.count == 3)
            let name = "resub-unsub"
            let channels = (0..<180).map { "unsub-\($0)" }
            let ownerOf = try owners(channels, in: cluster)
            let target = masters[0]
            let mine = channels.filter { ownerOf[$0] == target }
            let others = channels.filter { ownerOf[$0] != target }
            try #require(mine.count >= 30)

            try await withRecordedSubscriber(try clusterConfiguration(seeds: [masters[2]], clientName: name)) { subscriber, recorder in
                try await subscriber.subscribe(shardChannels: channels)
                try #require(await waitForShardConfirmation(subscriber, Set(channels)), "events:\n\(recorder.recentEvents)")
                for master in masters {
                    #expect(try links(named: name, on: master, in: cluster, subscribedOnly: true).count == 1, "one link on \(master)")
                }

                // 30 tasks, each unsubscribing a few of the target master's channels; none may throw.
                let chunks = (0..<30).map { i in stride(from: i, to: mine.count, by: 30).map { mine[$0] } }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for chunk in chunks {
                        group.addTask { try await subscriber.unsubscribe(shardChannels: chunk) }
                    }
                    try await group.waitForAll()
                }
                let subscriptions = await subscriber.subscriptions()
                #expect(subscriptions.desired.shardChannels == Set(others))

                let closed = try await eventually(within: 5) {
                    try links(named: name, on: target, in: cluster).isEmpty
                }
                #expect(closed, "the target master still lists our connection; events:\n\(recorder.recentEvents)")
                for master in masters where master != target {
                    #expect(try links(named: name, on: master, in: cluster, subscribedOnly: true).count == 1, "the link on \(master) stays")
                }
                #expect(await waitForShardConfirmation(subscriber, Set(others)))
                let nodes = await subscriber.linkStates().map { $0.node }
                #expect(!nodes.contains("127.0.0.1:\(target)"))
                #expect(nodes.count == 2)
                // Nobody listens to the unsubscribed channels any more.
                #expect(try cluster.spublish(mine[0], "nobody", on: target) == 0)

                // One of them again: the link reopens and delivers.
                let again = mine[mine.count / 2]
                try await subscriber.subscribe(shardChannels: [again])
                let reopened = try await eventually(within: 5) { try links(named: name, on: target, in: cluster, subscribedOnly: true).count == 1 }
                #expect(reopened, "no link reopened on \(target); events:\n\(recorder.recentEvents)")
                #expect(await waitForShardConfirmation(subscriber, Set(others + [again])))
                let delivered = await publishUntilDelivered(recorder, channel: again, within: 5) { payload in
                    _ = try cluster.spublish(again, payload, on: target)
                }
                #expect(delivered)
                #expect(recorder.messages(on: mine[0]).isEmpty)
            }
        }

        @Test(
            "a subscribed shard channel whose slot migrates to another master is pushed sunsubscribe and then delivered by the new owner",
            arguments: [true, false])
        func slotMigration(sourceKeepsAChannel: Bool) async throws {
            let cluster = try SharedCluster.require()
            let masters = try cluster.masters()
            try #require(masters.count == 3)
            let name = "resub-migrate-\(sourceKeepsAChannel ? "keep" : "alone")"
            let channel = "migrating-channel-\(sourceKeepsAChannel ? "keep" : "alone")"
            let slot = Int(HashSlot(key: channel).rawValue)
            let from = try cluster.owner(ofSlot: slot)
            let to = try #require(masters.first { $0 != from })
            // With sourceKeepsAChannel, a channel that stays on the source master, in another slot: the source
            // link must stay open; without it, the source link must close.
            let stay = try #require((0..<10_000).lazy.map { "stay-\($0)" }.first { candidate in
                let s = Int(HashSlot(key: candidate).rawValue)
                return s != slot && (try? cluster.owner(ofSlot: s)) == from
            })
            let subscribed: Set<String> = sourceKeepsAChannel ? [channel, stay] : [channel]

            // Give the slot back afterwards (only if it moved), so the shared cluster looks as created.
            defer { if (try? cluster.owner(ofSlot: slot)) == to { try? cluster.migrate(slot: slot, from: to, to: from) } }
            try await withRecordedSubscriber(try clusterConfiguration(seeds: [masters[0], masters[1]], clientName: name)) { subscriber, recorder in
                try await subscriber.subscribe(shardChannels: Array(subscribed))
                try #require(await waitForShardConfirmation(subscriber, subscribed), "events:\n\(recorder.recentEvents)")
                #expect(try cluster.spublish(channel, "before", on: from) == 1)
                #expect(await eventually(within: 5) { recorder.messages(on: channel).contains { $0.payloadString == "before" } })

                try await offPool { try cluster.migrate(slot: slot, from: from, to: to) }

                let pushed = await eventually(within: 5) {
                    recorder.events.contains(.subscriptionLost(kind: .shardChannel, name: channel, node: "127.0.0.1:\(from)"))
                }
                #expect(pushed, "no sunsubscribe push seen; events:\n\(recorder.recentEvents)")
                let delivered = await publishUntilDelivered(recorder, channel: channel, within: 10) { payload in
                    _ = try cluster.spublish(channel, payload, on: to)
                }
                #expect(delivered, "not delivered from the new owner \(to); events:\n\(recorder.recentEvents)")
                #expect(try links(named: name, on: to, in: cluster, subscribedOnly: true).count == 1, "a link to the new owner")
                #expect(await waitForShardConfirmation(subscriber, subscribed))
                if sourceKeepsAChannel {
                    // The channel that stayed is still delivered by the source master, on the same link.
                    #expect(try links(named: name, on: from, in: cluster, subscribedOnly: true).count == 1)
                    #expect(try cluster.spublish(stay, "still-here", on: from) == 1)
                    #expect(await eventually(within: 5) { recorder.messages(on: stay).contains { $0.payloadString == "still-here" } })
                } else {
                    // Nothing is left for the source master: its link is closed.
                    let closed = try await eventually(within: 5) { try links(named: name, on: from, in: cluster).isEmpty }
                    #expect(closed, "the source master still lists our link; events:\n\(recorder.recentEvents)")
                    let nodes = await subscriber.linkStates().map { $0.node }
                    #expect(nodes == ["127.0.0.1:\(to)"])
                }
                // The moved channel is delivered once, by the new owner only.
                #expect(try cluster.spublish(channel, "once", on: to) == 1)
                #expect(await eventually(within: 5) { recorder.messages(on: channel).contains { $0.payloadString == "once" } })
                try? await Task.sleep(for: .milliseconds(200))
                #expect(recorder.messages(on: channel).filter { $0.payloadString == "once" }.count == 1)
            }
        }

        @Test("a first seed that logs in but never answers CLUSTER SHARDS costs one attempt timeout: the next seed gives the topology")
        func stalledSeed() async throws {
            let cluster = try SharedCluster.require()
            let masters = try cluster.masters()
            let stalled = try StalledRedisNode()
            defer { stalled.stop() }
            let channels = (0..<30).map { "stalled-seed-\($0)" }
            let ownerOf = try owners(channels, in: cluster)
            var configuration = try clusterConfiguration(seeds: [masters[0]], clientName: "resub-stalled-seed")
            // The stalled node first, a real master second. An attempt may take connectTimeout + 2 s = 3 s.
            configuration.cluster?.seeds = [try RedisEndpoint(url: stalled.url), try RedisEndpoint(url: cluster.url(masters[0]))]

            try await withRecordedSubscriber(configuration) { subscriber, recorder in
                try await subscriber.subscribe(shardChannels: channels)
                let confirmed = await waitForShardConfirmation(subscriber, Set(channels), within: 12)
                let failures = recorder.events.filter { if case .topologyRefreshFailed = $0 { true } else { false } }
                #expect(confirmed, """
                    no topology although the second seed is healthy; the stalled node got \(stalled.clusterCommandCount) CLUSTER \
                    commands; \(failures.count) refresh failures; events:
                    \(recorder.recentEvents)
                    """)
                #expect(stalled.clusterCommandCount >= 1, "the stalled seed was asked first")
                guard confirmed else { return }
                for channel in channels {
                    #expect(try cluster.spublish(channel, "after-stall", on: ownerOf[channel]!) == 1)
                }
                #expect(await eventually(within: 5) { recorder.messages.count >= channels.count })
            }
        }

        @Test("two subscribers serving disjoint slot ranges split 100 shard channels: each message is delivered by exactly one")
        func disjointSlotRanges() async throws {
            let cluster = try SharedCluster.require()
            let masters = try cluster.masters()
            let channels = (0..<100).map { "split-\($0)" }
            let low = try SlotRanges(parsing: "0-8191"), high = try SlotRanges(parsing: "8192-16383")
            let lowChannels = Set(channels.filter { low.contains(HashSlot(key: $0)) })
            let highChannels = Set(channels).subtracting(lowChannels)
            try #require(!lowChannels.isEmpty && !highChannels.isEmpty)
            let ownerOf = try owners(channels, in: cluster)

            try await withRecordedSubscriber(try clusterConfiguration(seeds: [masters[0]], clientName: "resub-split-low", slots: low)) { lowSubscriber, lowRecorder in
                try await withRecordedSubscriber(try clusterConfiguration(seeds: [masters[2]], clientName: "resub-split-high", slots: high)) { highSubscriber, highRecorder in
                    try await lowSubscriber.subscribe(shardChannels: channels)
                    try await highSubscriber.subscribe(shardChannels: channels)
                    try #require(await waitForShardConfirmation(lowSubscriber, lowChannels), "events:\n\(lowRecorder.recentEvents)")
                    try #require(await waitForShardConfirmation(highSubscriber, highChannels), "events:\n\(highRecorder.recentEvents)")
                    #expect(await lowSubscriber.subscriptions().desired.shardChannels == lowChannels)
                    #expect(await highSubscriber.subscriptions().desired.shardChannels == highChannels)

                    // The channels outside each range were reported ignored, once.
                    func ignored(_ recorder: Recorder) -> [[String]] {
                        recorder.events.compactMap { (event: SubscriberEvent) -> [String]? in
                            if case .shardChannelsIgnored(let names, _) = event { return names }
                            return nil
                        }
                    }
                    #expect(await eventually(within: 2) { !ignored(lowRecorder).isEmpty && !ignored(highRecorder).isEmpty })
                    #expect(ignored(lowRecorder).map { Set($0) } == [highChannels])
                    #expect(ignored(highRecorder).map { Set($0) } == [lowChannels])
                    try await lowSubscriber.subscribe(shardChannels: Array(highChannels))
                    try? await Task.sleep(for: .milliseconds(100))
                    #expect(ignored(lowRecorder).count == 1, "asking again for ignored channels reports nothing new")

                    var receivers: [String: Int] = [:]
                    for channel in channels {
                        receivers[channel] = try cluster.spublish(channel, "one-\(channel)", on: ownerOf[channel]!)
                    }
                    #expect(receivers.values.allSatisfy { $0 == 1 }, "exactly one receiver each: \(receivers.filter { $0.value != 1 })")
                    let all = await eventually(within: 10) {
                        lowRecorder.messages.count + highRecorder.messages.count >= channels.count
                    }
                    #expect(all)
                    try? await Task.sleep(for: .milliseconds(300))
                    let lowGot = lowRecorder.messages.map(\.channel), highGot = highRecorder.messages.map(\.channel)
                    #expect(Set(lowGot).union(highGot) == Set(channels), "union is every channel")
                    #expect(Set(lowGot).isDisjoint(with: highGot), "intersection is empty")
                    #expect(lowGot.count + highGot.count == channels.count, "no duplicates")
                    #expect(Set(lowGot) == lowChannels)
                    #expect(Set(highGot) == highChannels)
                }
            }
        }

        @Test("two resub processes with --cluster and disjoint --slots deliver each of 100 shard messages exactly once between them")
        func disjointSlotProcesses() async throws {
            let cluster = try SharedCluster.require()
            let masters = try cluster.masters()
            let executable = try resubExecutable()
            let channels = (0..<100).map { "proc-\($0)" }
            let low = try SlotRanges(parsing: "0-8191")
            let lowChannels = Set(channels.filter { low.contains(HashSlot(key: $0)) })
            let highChannels = Set(channels).subtracting(lowChannels)
            let ownerOf = try owners(channels, in: cluster)
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("resub-cluster-proc-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }

            func arguments(slots: String, name: String) -> [String] {
                ["--cluster", "--url", cluster.url(masters[0]), "--url", cluster.url(masters[1]), "--slots", slots,
                 "--client-name", name, "--ping-interval", "0.5", "--ping-timeout", "0.5",
                 "--reconnect-min", "0.05", "--reconnect-max", "0.5"] + channels.flatMap { ["--shard-channel", $0] }
            }
            let lowProcess = try ClusterResubProcess(executable: executable, arguments: arguments(slots: "0-8191", name: "resub-proc-low"), directory: directory, name: "low")
            defer { lowProcess.stop() }
            let highProcess = try ClusterResubProcess(executable: executable, arguments: arguments(slots: "8192-16383", name: "resub-proc-high"), directory: directory, name: "high")
            defer { highProcess.stop() }

            // Subscribed: every channel has exactly one shard subscriber on its master.
            let subscribed = await eventually(within: 15) {
                channels.allSatisfy { channel in
                    let reply = try? cluster.command(ownerOf[channel]!, ["PUBSUB", "SHARDNUMSUB", channel])
                    return reply?.elements?.last?.int == 1
                }
            }
            try #require(subscribed, "low:\n\(lowProcess.logTail)\nhigh:\n\(highProcess.logTail)")
            var receivers: [String: Int] = [:]
            for channel in channels {
                receivers[channel] = try cluster.spublish(channel, "proc-\(channel)", on: ownerOf[channel]!)
            }
            #expect(receivers.values.allSatisfy { $0 == 1 }, "exactly one receiver each: \(receivers.filter { $0.value != 1 })")
            let all = await eventually(within: 10) {
                lowProcess.deliveredChannels().count + highProcess.deliveredChannels().count >= channels.count
            }
            #expect(all)
            try? await Task.sleep(for: .milliseconds(300))
            let lowGot = lowProcess.deliveredChannels(), highGot = highProcess.deliveredChannels()
            #expect(Set(lowGot).union(highGot) == Set(channels), "union is every channel")
            #expect(Set(lowGot).isDisjoint(with: highGot), "intersection is empty")
            #expect(lowGot.count + highGot.count == channels.count, "no duplicates")
            #expect(Set(lowGot) == lowChannels)
            #expect(Set(highGot) == highChannels)
            #expect(lowProcess.process.isRunning && highProcess.process.isRunning)
        }
    }

    @Suite("Cluster failover on a cluster of its own", .serialized)
    struct Failover {
        @Test("after a master is killed and its replica promoted, its shard channels and the plain channel whose link was on it deliver again")
        func masterFailover() async throws {
            let cluster = try await offPool { try RedisCluster() }
            defer { cluster.stop() }
            let masters = try cluster.masters()
            try #require(masters.count == 3)
            let victim = masters[0]
            let replicas = try cluster.replicas(of: victim)
            try #require(replicas.count == 1)
            let name = "resub-failover"
            let channels = (0..<60).map { "fo-\($0)" }
            let ownerOf = try owners(channels, in: cluster)
            let victimChannels = channels.filter { ownerOf[$0] == victim }
            try #require(!victimChannels.isEmpty)
            let plain = "plain-failover"

            // The victim is the first seed, so the link for plain channels starts on it.
            try await withRecordedSubscriber(try clusterConfiguration(seeds: [victim, masters[1]], clientName: name)) { subscriber, recorder in
                try await subscriber.subscribe(shardChannels: channels)
                try await subscriber.subscribe(channels: [plain])
                try #require(await waitForShardConfirmation(subscriber, Set(channels)), "events:\n\(recorder.recentEvents)")
                try #require(await eventually(within: 10) { await subscriber.subscriptions().confirmed.channels == [plain] })
                #expect(try links(named: name, on: victim, in: cluster, subscribedOnly: true).count == 2, "the shard link and the plain-channel link are both on the victim")
                // PUBLISH counts only the receivers on the node it runs on; the message itself crosses the bus.
                try cluster.publish(plain, "before", on: masters[2])
                #expect(await eventually(within: 5) { recorder.messages(on: plain).count == 1 })

                try cluster.kill(victim)
                let promoted = try await offPool { try cluster.waitForFailover(of: victim, timeout: 30) }
                #expect(replicas.contains(promoted), "the victim's replica took over")

                for channel in victimChannels {
                    let delivered = await publishUntilDelivered(recorder, channel: channel, within: 15) { payload in
                        _ = try cluster.spublish(channel, payload, on: promoted)
                    }
                    #expect(delivered, "\(channel) not delivered after failover; events:\n\(recorder.recentEvents)")
                    if !delivered { break }
                }
                let plainDelivered = await publishUntilDelivered(recorder, channel: plain, within: 15) { payload in
                    _ = try cluster.publish(plain, payload, on: masters[2])
                }
                #expect(plainDelivered, "the plain channel is not delivered after failover; events:\n\(recorder.recentEvents)")
                // Every other master's channels still deliver, exactly once each.
                for channel in channels where ownerOf[channel] != victim {
                    #expect(try cluster.spublish(channel, "after", on: ownerOf[channel]!) == 1)
                }
                #expect(await eventually(within: 5) {
                    channels.filter { ownerOf[$0] != victim }.allSatisfy { c in recorder.messages(on: c).contains { $0.payloadString == "after" } }
                })
                #expect(await waitForShardConfirmation(subscriber, Set(channels)))
                // No link is left on the dead node.
                let gone = await eventually(within: 5) { !(await subscriber.linkStates().map { $0.node }.contains("127.0.0.1:\(victim)")) }
                let links = await subscriber.linkStates().map { "\($0.node) \($0.state)" }
                #expect(gone, "links: \(links)")
            }
        }
    }
}

/// On the shared cluster (notify-keyspace-events off there).
extension ClusterIntegrationTests.Shared {
    @Test("resub --cluster with a keyspace pattern: /readyz and /metrics show every master's share, and the events being off is logged once per master")
    func readyzAndWarning() async throws {
        let cluster = try SharedCluster.require()
        let masters = try cluster.masters()
        let executable = try resubExecutable()
        let adminPort = try RedisServer.freePort()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("resub-ks-proc-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = try ClusterResubProcess(executable: executable, arguments: [
            "--cluster", "--url", cluster.url(masters[0]), "--pattern", "__keyspace@0__:*", "--channel", "plain",
            "--admin", "127.0.0.1:\(adminPort)", "--client-name", "resub-ks-proc",
        ], directory: directory, name: "ks")
        defer { process.stop() }
        // This cluster runs with notify-keyspace-events off: each master's missing flags are logged once.
        let warned = await eventually(within: 15) {
            let log = (try? String(contentsOfFile: process.stderrPath, encoding: .utf8)) ?? ""
            return masters.allSatisfy { log.contains("notify-keyspace-events is \"\" on 127.0.0.1:\($0)") }
        }
        #expect(warned, "log:\n\(process.logTail)")
        let ready = await eventually(within: 10) { (try? TestHTTP.request(port: adminPort, path: "/readyz"))?.status == 200 }
        #expect(ready, "log:\n\(process.logTail)")
        let readyz = try TestHTTP.request(port: adminPort, path: "/readyz")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(readyz.body)) as? [String: Any])
        let keyspace = try #require(object["keyspace"] as? [[String: Any]], "\(readyz.text)")
        #expect(keyspace.compactMap { $0["node"] as? String }.sorted() == masters.map { "127.0.0.1:\($0)" }.sorted())
        #expect(keyspace.allSatisfy { $0["state"] as? String == "healthy" && $0["confirmed"] as? Int == 1 })
        let metrics = try TestHTTP.request(port: adminPort, path: "/metrics").text
        for master in masters {
            #expect(metrics.contains("resub_keyspace_subscriptions{node=\"127.0.0.1:\(master)\",status=\"confirmed\"} 1"), "\(metrics.split(separator: "\n").filter { $0.contains("keyspace") })")
        }
        try? await Task.sleep(for: .milliseconds(300))
        let log = (try? String(contentsOfFile: process.stderrPath, encoding: .utf8)) ?? ""
        #expect(log.components(separatedBy: "notify-keyspace-events is").count - 1 == masters.count, "one warning per master")
    }
}
