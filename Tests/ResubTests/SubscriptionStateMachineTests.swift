import TestSupport
import Resub
import Testing

/// Desired, requested and confirmed subscription state, and the commands that converge the server.
@Suite("Subscription state machine")
struct SubscriptionStateMachineTests {
    typealias Machine = SubscriptionStateMachine<ManualInstant>
    typealias Command = Machine.Command

    /// A command's contents, comparable with `==` (the machine's `Command` has no public memberwise init).
    struct Sent: Equatable, CustomStringConvertible {
        var kind: SubscriptionKind
        var subscribe: Bool
        var names: [String]

        init(_ kind: SubscriptionKind, subscribe: Bool, _ names: [String]) {
            self.kind = kind
            self.subscribe = subscribe
            self.names = names
        }

        var description: String {
            "\(subscribe ? kind.subscribeCommand : kind.unsubscribeCommand) \(names.joined(separator: " "))"
        }
    }

    private static func sent(_ commands: [Command], _ m: Machine) -> [Sent] {
        commands.map { Sent($0.kind, subscribe: $0.subscribe, m.names($0)) }
    }

    private static func names(_ prefix: String, _ count: Int) -> [String] {
        (0..<count).map { "\(prefix)\($0)" }
    }

    /// Applies commands in order to a simulated server subscription set, as Redis would.
    private static func apply(_ commands: [Command], _ m: Machine, to server: inout SubscriptionSet) {
        for command in commands {
            for name in m.names(command) {
                if command.subscribe {
                    server[command.kind].insert(name)
                } else {
                    server[command.kind].remove(name)
                }
            }
        }
    }

    // MARK: Disconnected (through the one change path, as configured names)

    @Test("adding while disconnected sends nothing but grows the desired set")
    func addWhileDisconnected() {
        var m = Machine()
        #expect(m.add(.channel, ["a", "b"]).isEmpty)
        #expect(m.add(.pattern, ["n*"]).isEmpty)
        #expect(m.desired == SubscriptionSet(channels: ["a", "b"], patterns: ["n*"]))
        #expect(m.requested.isEmpty)
        #expect(!m.isConnected)
        #expect(!m.isFullyConfirmed)
    }

    @Test("removing while disconnected sends nothing and shrinks the desired set")
    func removeWhileDisconnected() {
        var m = Machine(desired: SubscriptionSet(channels: ["a", "b"]))
        #expect(m.remove(.channel, ["a", "missing"]).isEmpty)
        #expect(m.desired == SubscriptionSet(channels: ["b"]))
    }

    // MARK: Replay

    @Test("connecting replays 2,500 channels in batches of 1000, 1000 and 500")
    func replayInBatches() {
        let all = Self.names("ch", 2500)
        var m = Machine(desired: SubscriptionSet(channels: Set(all)), batchSize: 1000)
        let commands = m.connected().commands
        #expect(commands.map(\.rows.count) == [1000, 1000, 500])
        #expect(commands.allSatisfy { $0.kind == .channel && $0.subscribe })
        let sent = commands.flatMap { m.names($0) }
        #expect(sent.count == 2500)
        #expect(Set(sent) == Set(all))
        #expect(m.requested == m.desired)
        #expect(m.isConnected)
    }

    @Test("a machine made from a configured table replays every name once and keeps refused ones")
    func configuredTable() {
        let table = SubscriptionTable(configured: { kind in
            switch kind {
            case .channel: ["a", "b", "a"]
            case .pattern: ["p.*"]
            case .shardChannel: []
            }
        })
        var m = Machine(configured: table, batchSize: 10)
        #expect(m.desired == SubscriptionSet(channels: ["a", "b"], patterns: ["p.*"]))
        let out = m.connected()
        #expect(Self.sent(out.commands, m) == [Sent(.channel, subscribe: true, ["a", "b"]), Sent(.pattern, subscribe: true, ["p.*"])])
        let refused = m.refused(out.commands[1], error: "NOPERM", now: .zero)
        #expect(refused.refusals.map(\.name) == ["p.*"])
        #expect(m.desired.patterns == ["p.*"], "a configured name stays desired when refused")
    }

    @Test("connecting replays every kind: channels, then patterns, then shard channels")
    func replayEveryKind() {
        let desired = SubscriptionSet(channels: ["a"], patterns: ["p*"], shardChannels: ["s"])
        var m = Machine(desired: desired)
        let commands = m.connected().commands
        #expect(Self.sent(commands, m) == [
            Sent(.channel, subscribe: true, ["a"]),
            Sent(.pattern, subscribe: true, ["p*"]),
            Sent(.shardChannel, subscribe: true, ["s"]),
        ])
    }

    @Test("connecting with nothing desired sends nothing and is fully confirmed")
    func replayNothing() {
        var m = Machine()
        #expect(m.connected().commands.isEmpty)
        #expect(m.isFullyConfirmed)
    }

    @Test("shard channels are grouped into commands of one hash slot each")
    func shardChannelsBySlot() {
        var names: [String] = []
        for tag in ["a", "b", "user1000", "orders"] {
            names += (0..<7).map { "{\(tag)}.\($0)" }
        }
        names += Self.names("plain-", 40)
        var m = Machine(desired: SubscriptionSet(shardChannels: Set(names)), batchSize: 3)
        let commands = m.connected().commands
        for command in commands {
            #expect(command.kind == .shardChannel)
            #expect(!m.names(command).isEmpty && m.names(command).count <= 3)
            let slots = Set(m.names(command).map { HashSlot(key: $0) })
            #expect(slots.count == 1, "command \(m.names(command)) spans slots \(slots)")
        }
        let sent = commands.flatMap { m.names($0) }
        #expect(sent.count == names.count)
        #expect(Set(sent) == Set(names))
        // Seven names of one tag with batch size 3 need three commands: 3, 3 and 1.
        let tagged = commands.filter { m.names($0).allSatisfy { $0.hasPrefix("{a}.") } }
        #expect(tagged.map(\.rows.count).sorted() == [1, 3, 3])
    }

    @Test("shard channel commands while connected are split by slot too")
    func liveShardAddSplitsBySlot() {
        var m = Machine()
        _ = m.connected().commands
        let commands = m.add(.shardChannel, ["{x}1", "{y}1", "{x}2"])
        #expect(commands.count == 2)
        for command in commands {
            #expect(Set(m.names(command).map { HashSlot(key: $0) }).count == 1)
        }
        #expect(Set(commands.flatMap { m.names($0) }) == ["{x}1", "{y}1", "{x}2"])
    }

    // MARK: Live changes

    @Test("adding while connected sends only the names not yet requested")
    func addDifference() {
        var m = Machine(desired: SubscriptionSet(channels: ["a", "b"]))
        _ = m.connected().commands
        #expect(Self.sent(m.add(.channel, ["b", "c", "c"]), m) == [Sent(.channel, subscribe: true, ["c"])])
        #expect(m.add(.channel, ["a"]).isEmpty)
        #expect(m.requested.channels == ["a", "b", "c"])
    }

    @Test("removing while connected unsubscribes only the names that were requested")
    func removeDifference() {
        var m = Machine(desired: SubscriptionSet(patterns: ["a*", "b*"]))
        _ = m.connected().commands
        #expect(Self.sent(m.remove(.pattern, ["b*", "zzz*"]), m) == [Sent(.pattern, subscribe: false, ["b*"])])
        #expect(m.remove(.pattern, ["b*"]).isEmpty)
        #expect(m.desired.patterns == ["a*"])
        #expect(m.requested.patterns == ["a*"])
    }

    @Test("large live additions are batched")
    func liveAddBatched() {
        var m = Machine(batchSize: 4)
        _ = m.connected().commands
        #expect(m.add(.channel, Self.names("c", 10)).map(\.rows.count) == [4, 4, 2])
    }

    @Test("adding then removing before any confirmation converges to the desired set")
    func addRemoveBeforeConfirmation() {
        var m = Machine(desired: SubscriptionSet(channels: ["keep"]))
        var server = SubscriptionSet()
        var sent = m.connected().commands
        sent += m.add(.channel, ["x"])
        sent += m.remove(.channel, ["x"])
        sent += m.add(.channel, ["y"])
        sent += m.remove(.channel, ["keep"])
        sent += m.add(.channel, ["keep"])
        #expect(m.requested == m.desired)
        #expect(m.desired.channels == ["keep", "y"])
        Self.apply(sent, m, to: &server)
        #expect(server == m.desired)
    }

    // MARK: Confirmation

    @Test("completed commands update the confirmed set until it matches the desired set")
    func confirmations() throws {
        var m = Machine(desired: SubscriptionSet(channels: ["a"], patterns: ["p*"]))
        let replay = m.connected().commands
        #expect(replay.count == 2)
        #expect(m.confirmed.isEmpty)
        #expect(!m.isFullyConfirmed)
        _ = m.completed(replay[0])
        #expect(m.confirmed == SubscriptionSet(channels: ["a"]))
        #expect(!m.isFullyConfirmed)
        _ = m.completed(replay[1])
        #expect(m.confirmed == m.desired)
        #expect(m.isFullyConfirmed)
        let unsubscribe = try #require(m.remove(.channel, ["a"]).first)
        #expect(!m.isFullyConfirmed)
        #expect(m.confirmed == SubscriptionSet(channels: ["a"], patterns: ["p*"]), "the server still serves it until confirmed")
        _ = m.completed(unsubscribe)
        #expect(m.confirmed == SubscriptionSet(patterns: ["p*"]))
        #expect(m.isFullyConfirmed)
    }

    @Test("disconnecting clears requested and confirmed but keeps the desired set")
    func disconnectKeepsDesired() {
        let desired = SubscriptionSet(channels: ["a"], shardChannels: ["{s}1"])
        var m = Machine(desired: desired)
        for command in m.connected().commands { _ = m.completed(command) }
        #expect(m.isFullyConfirmed)
        _ = m.disconnected()
        #expect(!m.isConnected)
        #expect(m.requested.isEmpty)
        #expect(m.confirmed.isEmpty)
        #expect(m.desired == desired)
        #expect(!m.isFullyConfirmed)
        // The next connection replays it all and starts unconfirmed.
        let replay = m.connected().commands
        #expect(Set(replay.flatMap { m.names($0) }) == ["a", "{s}1"])
        #expect(m.confirmed.isEmpty)
    }

    // MARK: Server-side losses and refusals

    @Test("a still-desired name the server dropped is requested again")
    func lostIsResubscribed() {
        var m = Machine(desired: SubscriptionSet(shardChannels: ["{s}1", "{s}2"]))
        for command in m.connected().commands { _ = m.completed(command) }
        #expect(Self.sent(m.lost(.shardChannel, name: "{s}1", resubscribe: true).commands, m) == [Sent(.shardChannel, subscribe: true, ["{s}1"])])
        #expect(m.confirmed.shardChannels == ["{s}2"])
        #expect(m.requested.shardChannels == ["{s}1", "{s}2"])
        #expect(!m.isFullyConfirmed)
    }

    @Test("a name the server dropped that is no longer desired is not requested again")
    func lostUndesired() {
        var m = Machine(desired: SubscriptionSet(shardChannels: ["s"]))
        for command in m.connected().commands { _ = m.completed(command) }
        for command in m.remove(.shardChannel, ["s"]) { _ = m.completed(command) }
        #expect(m.lost(.shardChannel, name: "s", resubscribe: true).commands.isEmpty)
        #expect(m.requested.isEmpty)
        #expect(m.confirmed.isEmpty)
    }

    @Test("a loss reported while disconnected requests nothing")
    func lostWhileDisconnected() {
        var m = Machine(desired: SubscriptionSet(shardChannels: ["s"]))
        #expect(m.lost(.shardChannel, name: "s", resubscribe: true).commands.isEmpty)
        #expect(m.desired.shardChannels == ["s"])
    }

    @Test("a refused unsubscribe changes nothing but answers the change with the refusal")
    func refusedUnsubscribe() throws {
        var m = Machine(desired: SubscriptionSet(channels: ["a", "b"]))
        _ = m.connected()
        let (ticket, output) = m.apply(SubscriptionChange(.channel, ["a"], subscribe: false), now: .zero)
        let command = try #require(output.commands.first)
        let after = m.refused(command, error: "ERR nope", now: .zero)
        #expect(m.desired == SubscriptionSet(channels: ["b"]))
        #expect(after.finished.map(\.ticket) == [ticket])
        #expect(after.finished.first?.result.refused == [SubscriptionChangeResult.Refusal(name: "a", error: "ERR nope")])
    }

    // MARK: Randomized

    @Test("thousands of random operations always converge the server to the desired set", arguments: [1, 2, 3, 42, 2024] as [UInt64])
    func randomizedConvergence(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var m = Machine(batchSize: Int.random(in: 1...4, using: &rng))
        var model = SubscriptionSet()
        var server = SubscriptionSet()
        var inFlight: [Command] = []
        let universe = (0..<10).map { "{t\($0 % 3)}n\($0)" }

        func randomNames() -> [String] {
            (0..<Int.random(in: 1...4, using: &rng)).map { _ in universe.randomElement(using: &rng)! }
        }

        /// Redis applies the oldest in-flight command and confirms each of its names.
        func deliver(_ count: Int) {
            for _ in 0..<min(count, inFlight.count) {
                let command = inFlight.removeFirst()
                Self.apply([command], m, to: &server)
                _ = m.completed(command)
            }
        }

        for step in 0..<4000 {
            let kind = SubscriptionKind.allCases.randomElement(using: &rng)!
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<30:
                let names = randomNames()
                model[kind].formUnion(names)
                inFlight += m.add(kind, names)
            case 30..<55:
                let names = randomNames()
                model[kind].subtract(names)
                inFlight += m.remove(kind, names)
            case 55..<80:
                deliver(Int.random(in: 1...3, using: &rng))
            case 80..<86:
                if m.isConnected {
                    _ = m.disconnected()
                    server = SubscriptionSet()
                    inFlight = []
                }
            case 86..<94:
                if !m.isConnected {
                    #expect(inFlight.isEmpty)
                    inFlight += m.connected().commands
                }
            default:
                // The server drops a subscribed shard channel on its own (its slot moved).
                if m.isConnected, let name = server.shardChannels.randomElement(using: &rng) {
                    server.shardChannels.remove(name)
                    inFlight += m.lost(.shardChannel, name: name, resubscribe: true).commands
                }
            }
            #expect(m.desired == model, "step \(step)")
            if m.isConnected {
                #expect(m.requested == m.desired, "step \(step)")
                #expect(m.confirmed == server, "step \(step)")
                var eventually = server
                Self.apply(inFlight, m, to: &eventually)
                #expect(eventually == m.desired, "step \(step)")
            } else {
                #expect(m.requested.isEmpty && m.confirmed.isEmpty, "step \(step)")
            }
        }

        if !m.isConnected { inFlight += m.connected().commands }
        deliver(inFlight.count)
        #expect(server == model)
        #expect(m.confirmed == model)
        #expect(m.isFullyConfirmed)
    }
}

extension SubscriptionStateMachine where Instant == ManualInstant {
    /// Adds configured names (kept when refused) and returns the commands to send.
    mutating func add(_ kind: SubscriptionKind, _ names: [String]) -> [Command] {
        apply(SubscriptionChange(kind, names, subscribe: true, keepsRefused: true), now: .zero).output.commands
    }

    /// Removes names and returns the commands to send.
    mutating func remove(_ kind: SubscriptionKind, _ names: [String]) -> [Command] {
        apply(SubscriptionChange(kind, names, subscribe: false), now: .zero).output.commands
    }
}
