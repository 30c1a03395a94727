import Foundation
import RESP
import Resub
import Testing
import TestSupport

/// The library against real `redis-server` processes: every test starts its own server on a free loopback
/// port (or a Unix socket) and stops it, and every wait is bounded.
@Suite("Subscriber against a real redis-server", .serialized, .timeLimit(.minutes(2)))
struct SubscriberIntegrationTests {
    static let protocols: [RESPProtocolPreference] = [.resp2, .resp3]

    // MARK: Kinds

    @Test("a channel, a pattern and a shard channel each deliver their messages with exact kind, channel, pattern and payload", arguments: protocols)
    func allThreeKinds(protocolPreference: RESPProtocolPreference) async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        let configuration = try testConfiguration(url: server.url, protocolPreference: protocolPreference)
        try await withSubscriber(configuration) { subscriber in
            let events = Collector(subscriber.events)
            let messages = Collector(subscriber.messages)
            try await bounded("subscribe(channels:)") { try await subscriber.subscribe(channels: ["news"]) }
            try await bounded("subscribe(patterns:)") { try await subscriber.subscribe(patterns: ["img.*"]) }
            try await bounded("subscribe(shardChannels:)") { try await subscriber.subscribe(shardChannels: ["user:{42}"]) }
            try await server.awaitSubscribers(channel: "news", client: client)
            try await server.awaitPatterns(count: 1, client: client)
            try await server.awaitShardSubscribers(channel: "user:{42}", client: client)

            #expect(try client.publish("news", "hello") == 1)
            #expect(try client.publish("img.cats", "meow") == 1)
            #expect(try client.command(["SPUBLISH", "user:{42}", "sharded"]).int == 1)
            #expect(try client.publish("unrelated", "nobody") == 0)

            let received = await messages.wait(forCount: 3)
            #expect(received == [
                Message(kind: .message, pattern: nil, channel: "news", payload: Array("hello".utf8)),
                Message(kind: .pmessage, pattern: "img.*", channel: "img.cats", payload: Array("meow".utf8)),
                Message(kind: .smessage, pattern: nil, channel: "user:{42}", payload: Array("sharded".utf8)),
            ])
            // Nothing else trickles in afterwards.
            try await Task.sleep(for: .milliseconds(100))
            #expect(messages.count == 3)

            let node = "127.0.0.1:\(server.port)"
            let seen = await events.wait { $0.contains(.connected(node: node, protocolVersion: protocolPreference.expectedVersion)) }
            #expect(seen.contains(.connected(node: node, protocolVersion: protocolPreference.expectedVersion)), "events: \(seen)")
            #expect(!seen.contains { if case .connected(_, let v) = $0 { v != protocolPreference.expectedVersion } else { false } })

            let (desired, confirmed) = try await bounded("subscriptions()") { await subscriber.subscriptions() }
            let expected = SubscriptionSet(channels: ["news"], patterns: ["img.*"], shardChannels: ["user:{42}"])
            #expect(desired == expected)
            #expect(confirmed == expected)

            // Unsubscribing all three leaves nothing on the server, and nothing more is delivered.
            try await bounded("unsubscribe(channels:)") { try await subscriber.unsubscribe(channels: ["news"]) }
            try await bounded("unsubscribe(patterns:)") { try await subscriber.unsubscribe(patterns: ["img.*"]) }
            try await bounded("unsubscribe(shardChannels:)") { try await subscriber.unsubscribe(shardChannels: ["user:{42}"]) }
            #expect(try server.numsub("news", client: client) == 0)
            #expect(try server.numpat(client: client) == 0)
            #expect(try server.shardNumsub("user:{42}", client: client) == 0)
            let after = try await bounded("subscriptions()") { await subscriber.subscriptions() }
            #expect(after.desired.isEmpty)
            #expect(after.confirmed.isEmpty)
            #expect(try client.publish("news", "gone") == 0)

            // The connection (out of subscribed mode in RESP2 now) takes a new subscription.
            try await bounded("subscribe(channels:)") { try await subscriber.subscribe(channels: ["again"]) }
            #expect(try server.numsub("again", client: client) == 1)
            try client.publish("again", "back")
            let more = await messages.wait(forCount: 4)
            #expect(more.dropFirst(3).map(\.payloadString) == ["back"])
        }
    }

    // MARK: Ordering

    @Test("20,000 messages per channel on two interleaved channels arrive in order, without gaps or duplicates", arguments: protocols)
    func orderingUnderLoad(protocolPreference: RESPProtocolPreference) async throws {
        let perChannel = 20_000
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        let channels = ["seq.a", "seq.b"]
        let configuration = try testConfiguration(
            url: server.url, protocolPreference: protocolPreference, initial: SubscriptionSet(channels: Set(channels)))
        try await withSubscriber(configuration) { subscriber in
            let messages = Collector(subscriber.messages)
            for channel in channels { try await server.awaitSubscribers(channel: channel, client: client) }

            let publisher = try server.client()
            let replies = try await onThread { () -> Int in
                var receivers = 0
                let chunk = 500  // rounds per pipeline: 1,000 PUBLISH commands
                for start in stride(from: 0, to: perChannel, by: chunk) {
                    var commands: [[String]] = []
                    for i in start..<min(start + chunk, perChannel) {
                        for channel in channels { commands.append(["PUBLISH", channel, String(i)]) }
                    }
                    receivers += try publisher.pipeline(commands).reduce(0) { $0 + Int($1.int ?? 0) }
                }
                return receivers
            }
            #expect(replies == 2 * perChannel, "every PUBLISH reached exactly one subscriber")

            let received = await messages.wait(forCount: 2 * perChannel, timeout: .seconds(60))
            #expect(received.count == 2 * perChannel)
            for channel in channels {
                let numbers = sequence(of: channel, in: received)
                #expect(numbers.count == perChannel, "\(channel): \(numbers.count) messages")
                #expect(numbers == Array(0..<perChannel), "\(channel) is not 0..<\(perChannel) in order; first bad index \(firstMismatch(numbers, Array(0..<perChannel)) ?? -1)")
            }
            #expect(received.allSatisfy { $0.kind == .message && $0.pattern == nil })
            #expect(subscriber.droppedMessageCount == 0)
        }
    }

    // MARK: Reconnect

    @Test("after the server restarts, the subscriber reconnects, replays every subscription and receives again", arguments: protocols)
    func replayAfterRestart(protocolPreference: RESPProtocolPreference) async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let initial = SubscriptionSet(channels: ["r.c"], patterns: ["r.p.*"], shardChannels: ["r.s"])
        let configuration = try testConfiguration(url: server.url, protocolPreference: protocolPreference, initial: initial)
        try await withSubscriber(configuration) { subscriber in
            let events = Collector(subscriber.events)
            let messages = Collector(subscriber.messages)
            var client = try server.client()
            try await server.awaitSubscribers(channel: "r.c", client: client)
            try client.publish("r.c", "before")
            #expect(await messages.wait(forCount: 1).map(\.payloadString) == ["before"])

            try server.restart()
            client = try server.client()
            try await server.awaitSubscribers(channel: "r.c", client: client)
            try await server.awaitPatterns(count: 1, client: client)
            try await server.awaitShardSubscribers(channel: "r.s", client: client)
            try client.publish("r.c", "c")
            try client.publish("r.p.x", "p")
            _ = try client.command(["SPUBLISH", "r.s", "s"])
            let received = await messages.wait(forCount: 4)
            #expect(received.map(\.payloadString) == ["before", "c", "p", "s"])
            #expect(received.map(\.kind) == [.message, .message, .pmessage, .smessage])

            let seen = await events.wait { $0.filter { if case .connected = $0 { true } else { false } }.count >= 2 }
            let connects = seen.filter { if case .connected = $0 { true } else { false } }
            #expect(connects.count == 2, "events: \(seen)")
            #expect(seen.contains { if case .disconnected = $0 { true } else { false } })
            #expect(seen.contains { if case .reconnectScheduled = $0 { true } else { false } })
            let state = try await bounded("subscriptions()") { await subscriber.subscriptions() }
            #expect(state.confirmed == initial)
        }
    }

    @Test("subscription changes made while the server is down return at once and are applied on reconnect")
    func changesWhileDisconnected() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let configuration = try testConfiguration(url: server.url, initial: SubscriptionSet(channels: ["d.a", "d.b"]))
        try await withSubscriber(configuration) { subscriber in
            let events = Collector(subscriber.events)
            let messages = Collector(subscriber.messages)
            try await server.awaitSubscribers(channel: "d.a", client: try server.client())

            server.kill()
            let down = await events.wait { $0.contains { if case .disconnected = $0 { true } else { false } } }
            try #require(down.contains { if case .disconnected = $0 { true } else { false } }, "no disconnect seen: \(down)")
            try await bounded("unsubscribe while down", timeout: .seconds(2)) { try await subscriber.unsubscribe(channels: ["d.a"]) }
            try await bounded("subscribe while down", timeout: .seconds(2)) { try await subscriber.subscribe(channels: ["d.c"]) }
            try await bounded("psubscribe while down", timeout: .seconds(2)) { try await subscriber.subscribe(patterns: ["d.p.*"]) }
            let offline = try await bounded("subscriptions()") { await subscriber.subscriptions() }
            #expect(offline.desired == SubscriptionSet(channels: ["d.b", "d.c"], patterns: ["d.p.*"]))
            #expect(offline.confirmed.isEmpty, "nothing is confirmed while disconnected")

            try server.start()
            let client = try server.client()
            try await server.awaitSubscribers(channel: "d.b", client: client)
            try await server.awaitSubscribers(channel: "d.c", client: client)
            try await server.awaitPatterns(count: 1, client: client)
            #expect(try server.numsub("d.a", client: client) == 0)
            for channel in ["d.a", "d.b", "d.c", "d.p.1"] { try client.publish(channel, channel) }
            let received = await messages.wait(forCount: 3)
            try await Task.sleep(for: .milliseconds(100))
            #expect(messages.all.map(\.payloadString) == ["d.b", "d.c", "d.p.1"], "received \(received.count)")
        }
    }

    // MARK: Many names

    @Test("thousands of channels and hundreds of shard channels subscribed in one call are all confirmed, and replayed after a restart", arguments: protocols)
    func manyNamesAtOnce(protocolPreference: RESPProtocolPreference) async throws {
        let server = try RedisServer()
        defer { server.stop() }
        var configuration = try testConfiguration(url: server.url, protocolPreference: protocolPreference)
        configuration.replayBatchSize = 1000
        let channels = (0..<2_500).map { "many.c.\($0)" }
        let shardChannels = (0..<300).map { "many.s.\($0)" }
        let patterns = (0..<50).map { "many.p.\($0).*" }
        try await withSubscriber(configuration) { subscriber in
            let events = Collector(subscriber.events)
            let messages = Collector(subscriber.messages)
            var client = try server.client()
            // Connected first, so that the calls below return only once the server confirmed every name.
            let up = await events.wait { $0.contains { if case .connected = $0 { true } else { false } } }
            try #require(up.contains { if case .connected = $0 { true } else { false } }, "never connected: \(up)")
            try await bounded("subscribe(channels:)") { try await subscriber.subscribe(channels: channels) }
            try await bounded("subscribe(shardChannels:)") { try await subscriber.subscribe(shardChannels: shardChannels) }
            try await bounded("subscribe(patterns:)") { try await subscriber.subscribe(patterns: patterns) }
            let expected = SubscriptionSet(channels: Set(channels), patterns: Set(patterns), shardChannels: Set(shardChannels))

            func serverCounts(_ client: SyncRedisClient) throws -> (Int, Int, Int) {
                let c = try client.command(["PUBSUB", "CHANNELS", "many.*"]).elements?.count ?? -1
                let s = try client.command(["PUBSUB", "SHARDCHANNELS", "many.*"]).elements?.count ?? -1
                return (c, s, try server.numpat(client: client))
            }
            var counts = try serverCounts(client)
            #expect(counts.0 == channels.count && counts.1 == shardChannels.count && counts.2 == patterns.count, "server has \(counts)")
            let state = try await bounded("subscriptions()") { await subscriber.subscriptions() }
            #expect(state.confirmed == expected)

            try server.restart()
            client = try server.client()
            let replayed = try await waitUntil(timeout: .seconds(10)) {
                let now = try serverCounts(client)
                return now.0 == channels.count && now.1 == shardChannels.count && now.2 == patterns.count
            }
            counts = try serverCounts(client)
            let clients = try server.clientNames(client: client)
            #expect(replayed, "after the restart the server has \(counts); events: \(events.all.suffix(12)); clients: \(clients)")
            // The server applied every command; the last confirmations may still be in flight to the subscriber.
            let confirmed = try await waitUntil {
                try await bounded("subscriptions()") { await subscriber.subscriptions() }.confirmed == expected
            }
            #expect(confirmed, "not every replayed name was confirmed")
            try client.publish("many.c.2499", "last channel")
            _ = try client.command(["SPUBLISH", "many.s.299", "last shard"])
            try client.publish("many.p.49.x", "last pattern")
            #expect(await messages.wait(forCount: 3).map(\.payloadString) == ["last channel", "last shard", "last pattern"])
        }
    }

    // MARK: Batches

    @Test("batches carry the same messages in the same order, tagged with the node and a receive time")
    func batchesCarryMessages() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        let configuration = try testConfiguration(url: server.url, initial: SubscriptionSet(channels: ["batch"]))
        try await withSubscriber(configuration) { subscriber in
            let batches = Collector(subscriber.batches)
            try await server.awaitSubscribers(channel: "batch", client: client)
            let before = Date().timeIntervalSince1970
            _ = try client.pipeline((0..<1_000).map { ["PUBLISH", "batch", String($0)] })
            let received = await batches.wait { $0.reduce(0) { $0 + $1.count } >= 1_000 }
            let after = Date().timeIntervalSince1970
            #expect(received.allSatisfy { !$0.isEmpty })
            #expect(received.allSatisfy { $0.node == "127.0.0.1:\(server.port)" })
            let times = received.map(\.receivedAt)
            let window = (before - 1)...(after + 1)
            #expect(times.allSatisfy { window.contains($0) }, "receivedAt is not a Unix time in seconds: \(times.prefix(3))")
            let payloads: [String] = received.flatMap { batch in batch.map { $0.payloadString ?? "" } }
            let expected: [String] = (0..<1_000).map { String($0) }
            #expect(payloads == expected)
        }
    }

    // MARK: Payloads

    @Test("empty, 1 MiB, unicode and non-UTF-8 payloads arrive byte for byte", arguments: protocols)
    func payloadsAreByteExact(protocolPreference: RESPProtocolPreference) async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        let configuration = try testConfiguration(
            url: server.url, protocolPreference: protocolPreference, initial: SubscriptionSet(channels: ["bin"]))
        let big = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 % 251) }
        let unicode = "héllo ✓ 日本"
        let payloads: [[UInt8]] = [[], big, Array(unicode.utf8), [0xff, 0xfe, 0x00, 0x80], Array("after".utf8)]
        try await withSubscriber(configuration) { subscriber in
            let messages = Collector(subscriber.messages)
            try await server.awaitSubscribers(channel: "bin", client: client)
            for payload in payloads { #expect(try client.publish("bin", bytes: payload) == 1) }

            let received = await messages.wait(forCount: payloads.count, timeout: .seconds(10))
            try #require(received.count == payloads.count, "got \(received.count) of \(payloads.count) messages")
            for (message, payload) in zip(received, payloads) {
                #expect(message.channel == "bin")
                #expect(message.kind == .message)
                #expect(message.payload.count == payload.count)
                #expect(message.payload == payload, "payload of \(payload.count) bytes differs")
            }
            #expect(received[0].payloadString == "")
            #expect(received[2].payloadString == unicode)
            #expect(received[3].payloadString == nil, "non-UTF-8 bytes are not a string")
        }
    }

    // MARK: Changing subscriptions while messages flow

    @Test("subscribing and unsubscribing while messages flow starts and stops delivery exactly at the confirmation", arguments: protocols)
    func subscribeAndUnsubscribeWhileFlowing(protocolPreference: RESPProtocolPreference) async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        let (a, b) = ("flow.a", "flow.b")
        let configuration = try testConfiguration(url: server.url, protocolPreference: protocolPreference)
        try await withSubscriber(configuration) { subscriber in
            let messages = Collector(subscriber.messages)
            try await bounded("subscribe(channels:)") { try await subscriber.subscribe(channels: [a]) }
            try await server.awaitSubscribers(channel: a, client: client)

            let publisher = try SequencePublisher(port: server.port, channels: [a, b])
            do {
                // a flows; b is published to but not subscribed.
                let early = await messages.wait { sequence(of: a, in: $0).count >= 50 }
                try #require(sequence(of: a, in: early).count >= 50, "a never flowed: \(publisher.error ?? "no publisher error")")
                #expect(sequence(of: b, in: early).isEmpty)

                // Subscribe b mid-stream: b starts arriving, with every number published after the confirmation.
                try await bounded("subscribe(channels:)") { try await subscriber.subscribe(channels: [b]) }
                let sentBAtSubscribe = publisher.sent(b)
                var state = try await bounded("subscriptions()") { await subscriber.subscriptions() }
                #expect(state.desired.channels == [a, b])
                #expect(state.confirmed.channels == [a, b])
                let withB = await messages.wait { sequence(of: b, in: $0).count >= 50 }
                let bNumbers = sequence(of: b, in: withB)
                try #require(bNumbers.count >= 50, "b never flowed after subscribing")
                #expect(isConsecutive(bNumbers), "b has gaps or duplicates")
                #expect(bNumbers.first! <= sentBAtSubscribe, "b's first message \(bNumbers.first!) is after \(sentBAtSubscribe), published after the confirmation")

                // Unsubscribe a: once the call returns, the server has no subscriber for a, and nothing published
                // to a after that point is delivered.
                try await bounded("unsubscribe(channels:)") { try await subscriber.unsubscribe(channels: [a]) }
                let sentAAtUnsubscribe = publisher.sent(a)
                let sentBAtUnsubscribe = publisher.sent(b)
                #expect(try server.numsub(a, client: client) == 0)
                #expect(try server.numsub(b, client: client) == 1)
                state = try await bounded("subscriptions()") { await subscriber.subscriptions() }
                #expect(state.desired.channels == [b])
                #expect(state.confirmed.channels == [b])

                // Let well over a hundred more rounds go by, then stop and drain b to the last number sent.
                let later = await messages.wait(timeout: .seconds(10)) { sequence(of: b, in: $0).last ?? 0 >= sentBAtUnsubscribe + 200 }
                #expect((sequence(of: b, in: later).last ?? 0) >= sentBAtUnsubscribe + 200, "b stalled after unsubscribing a")
                #expect(await publisher.stop())
                let lastB = publisher.sent(b) - 1
                let final = await messages.wait(timeout: .seconds(10)) { sequence(of: b, in: $0).last == lastB }
                #expect(publisher.error == nil)

                let aNumbers = sequence(of: a, in: final)
                #expect(isConsecutive(aNumbers), "a has gaps or duplicates")
                #expect(aNumbers.first == 0)
                #expect((aNumbers.last ?? 0) < sentAAtUnsubscribe, "a message \(aNumbers.last ?? -1) arrived that was published after unsubscribe returned (sent then: \(sentAAtUnsubscribe))")
                let allB = sequence(of: b, in: final)
                #expect(isConsecutive(allB), "b has gaps or duplicates")
                #expect(allB.last == lastB)
            } catch {
                await publisher.stop()
                throw error
            }
            await publisher.stop()
        }
    }

    // MARK: Authentication

    static let aclArguments = ["--user", "alice", "on", ">s3cret", "~*", "&*", "+@all", "--user", "default", "off"]

    @Test("an ACL user from the URL logs in and receives messages", arguments: protocols)
    func aclUserReceives(protocolPreference: RESPProtocolPreference) async throws {
        let server = try RedisServer(arguments: Self.aclArguments)
        defer { server.stop() }
        let client = try server.client()
        #expect(try client.command(["AUTH", "alice", "s3cret"]).string == "OK")
        let configuration = try testConfiguration(
            url: "redis://alice:s3cret@127.0.0.1:\(server.port)", protocolPreference: protocolPreference,
            initial: SubscriptionSet(channels: ["private"]))
        try await withSubscriber(configuration) { subscriber in
            let messages = Collector(subscriber.messages)
            try await server.awaitSubscribers(channel: "private", client: client)
            try client.publish("private", "for alice")
            let received = await messages.wait(forCount: 1)
            #expect(received == [Message(kind: .message, channel: "private", payload: Array("for alice".utf8))])
        }
    }

    @Test("a wrong password is reported as an authenticationFailed disconnect and delivers nothing", arguments: protocols)
    func wrongPasswordFails(protocolPreference: RESPProtocolPreference) async throws {
        let server = try RedisServer(arguments: Self.aclArguments)
        defer { server.stop() }
        let client = try server.client()
        #expect(try client.command(["AUTH", "alice", "s3cret"]).string == "OK")
        let configuration = try testConfiguration(
            url: "redis://alice:wrong@127.0.0.1:\(server.port)", protocolPreference: protocolPreference,
            initial: SubscriptionSet(channels: ["private"]))
        try await withSubscriber(configuration) { subscriber in
            let events = Collector(subscriber.events)
            let messages = Collector(subscriber.messages)
            let seen = await events.wait { $0.contains(where: Self.isAuthFailure) }
            #expect(seen.contains(where: Self.isAuthFailure), "events: \(seen)")
            #expect(!seen.contains { if case .connected = $0 { true } else { false } })
            #expect(try server.numsub("private", client: client) == 0)
            #expect(try client.publish("private", "not for you") == 0)
            try await Task.sleep(for: .milliseconds(100))
            #expect(messages.count == 0)
            // The reason never carries the password.
            for case .disconnected(_, let reason) in seen { #expect(!reason.description.contains("wrong")) }
        }
    }

    @Test("a password-only URL logs in with requirepass")
    func requirepassLogin() async throws {
        let server = try RedisServer(arguments: ["--requirepass", "hunter2"])
        defer { server.stop() }
        let client = try server.client()
        #expect(try client.command(["AUTH", "hunter2"]).string == "OK")
        let configuration = try testConfiguration(
            url: "redis://:hunter2@127.0.0.1:\(server.port)", initial: SubscriptionSet(channels: ["locked"]))
        try await withSubscriber(configuration) { subscriber in
            let messages = Collector(subscriber.messages)
            try await server.awaitSubscribers(channel: "locked", client: client)
            try client.publish("locked", "open")
            #expect(await messages.wait(forCount: 1).map(\.payloadString) == ["open"])
        }
    }

    @Test("a subscription the ACL forbids throws the server's NOPERM, leaves the desired set, and the link keeps working", arguments: protocols)
    func refusedSubscription(protocolPreference: RESPProtocolPreference) async throws {
        let server = try RedisServer(arguments: [
            "--user", "bob", "on", ">pw", "~*", "resetchannels", "&allowed.*", "+@all", "--user", "default", "off",
        ])
        defer { server.stop() }
        let client = try server.client()
        #expect(try client.command(["AUTH", "bob", "pw"]).string == "OK")
        let configuration = try testConfiguration(
            url: "redis://bob:pw@127.0.0.1:\(server.port)", protocolPreference: protocolPreference,
            initial: SubscriptionSet(channels: ["allowed.0"]))
        try await withSubscriber(configuration) { subscriber in
            let events = Collector(subscriber.events)
            let messages = Collector(subscriber.messages)
            try await server.awaitSubscribers(channel: "allowed.0", client: client)

            let error = await #expect(throws: ResubError.self) {
                try await bounded("subscribe(channels:)") { try await subscriber.subscribe(channels: ["forbidden"]) }
            }
            #expect(error?.code == .serverError)
            #expect(error?.serverError?.hasPrefix("NOPERM") == true, "server error: \(error?.serverError ?? "none")")
            let state = try await bounded("subscriptions()") { await subscriber.subscriptions() }
            #expect(state.desired.channels == ["allowed.0"])
            #expect(state.confirmed.channels == ["allowed.0"])
            let seen = await events.wait { $0.contains { if case .subscriptionFailed = $0 { true } else { false } } }
            #expect(seen.contains(.subscriptionFailed(kind: .channel, names: ["forbidden"], error: error ?? ResubError(.serverError, ""))))
            #expect(!seen.contains { if case .disconnected = $0 { true } else { false } }, "a refused live subscription must not drop the link")

            try await bounded("subscribe(channels:)") { try await subscriber.subscribe(channels: ["allowed.1"]) }
            try client.publish("allowed.0", "zero")
            try client.publish("allowed.1", "one")
            #expect(await messages.wait(forCount: 2).map(\.payloadString) == ["zero", "one"])
        }
    }

    static func isAuthFailure(_ event: SubscriberEvent) -> Bool {
        if case .disconnected(_, let reason) = event { return reason.code == .authenticationFailed }
        return false
    }

    // MARK: Unix socket

    @Test("a unix:// URL connects over the server's Unix socket and receives messages")
    func unixSocket() async throws {
        let server = try RedisServer(unixSocket: true)
        defer { server.stop() }
        let path = try #require(server.unixSocketPath)
        let client = try server.client()
        let configuration = try testConfiguration(url: "unix://\(path)", initial: SubscriptionSet(channels: ["local"]))
        try await withSubscriber(configuration) { subscriber in
            let events = Collector(subscriber.events)
            let messages = Collector(subscriber.messages)
            try await server.awaitSubscribers(channel: "local", client: client)
            // The subscriber's connection is the Unix socket one (CLIENT LIST shows it with addr=/path:0 or similar).
            let clients = try client.command(["CLIENT", "LIST"]).string ?? ""
            #expect(clients.split(separator: "\n").contains { $0.contains("name=resub") && $0.contains("flags=P") && !$0.contains("addr=127.0.0.1") })
            try client.publish("local", "over unix")
            #expect(await messages.wait(forCount: 1) == [Message(kind: .message, channel: "local", payload: Array("over unix".utf8))])
            let seen = await events.wait { $0.contains { if case .connected = $0 { true } else { false } } }
            #expect(seen.contains(.connected(node: "unix:\(path)", protocolVersion: 3)), "events: \(seen)")
        }
    }

    // MARK: Shutdown

    @Test("shutdown ends the messages and events sequences and closes the server-side client")
    func shutdownEndsEverything() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = try server.client()
        let configuration = try testConfiguration(url: server.url, initial: SubscriptionSet(channels: ["bye"]))
        let subscriber = Subscriber(configuration: configuration)
        let events = Collector(subscriber.events)
        let messages = Collector(subscriber.messages)
        do {
            try await server.awaitSubscribers(channel: "bye", client: client)
            #expect(try server.clientNames(client: client).contains("resub"))
            try client.publish("bye", "last")
            #expect(await messages.wait(forCount: 1).count == 1)
        } catch {
            try? await bounded("shutdown()") { await subscriber.shutdown() }
            throw error
        }

        try await bounded("shutdown()") { await subscriber.shutdown() }
        #expect(await messages.awaitEnd(), "messages did not end after shutdown")
        #expect(await events.awaitEnd(), "events did not end after shutdown")
        #expect(events.all.last == .shutdown)
        let gone = try await waitUntil { try !server.clientNames(client: client).contains("resub") }
        let names = try server.clientNames(client: client)
        #expect(gone, "CLIENT LIST still shows resub: \(names)")
        #expect(try server.numsub("bye", client: client) == 0)

        // Nothing more arrives, and the subscriber refuses new work.
        try client.publish("bye", "too late")
        #expect(messages.count == 1)
        await #expect(throws: ResubError.self) { try await bounded("subscribe(channels:)") { try await subscriber.subscribe(channels: ["again"]) } }
        try await bounded("a second shutdown()") { await subscriber.shutdown() }  // idempotent
    }
}

/// The first index where `a` and `b` differ, or nil if they are equal.
func firstMismatch(_ a: [Int], _ b: [Int]) -> Int? {
    for i in 0..<max(a.count, b.count) where i >= a.count || i >= b.count || a[i] != b[i] { return i }
    return nil
}
