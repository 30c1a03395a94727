import TestSupport
import RESP
import Resub
import Testing

// MARK: Helpers

/// `count` distinct channel names (prefix + number) whose slots lie in `range`.
private func names(_ count: Int, inSlots range: ClosedRange<Int>, prefix: String = "ch") -> [String] {
    var found: [String] = []
    var i = 0
    while found.count < count, i < 1_000_000 {
        let name = "\(prefix)-\(i)"
        if range.contains(Int(HashSlot(key: name).rawValue)) { found.append(name) }
        i += 1
    }
    return found
}

/// Shard channels `names` as a set.
private func shards(_ names: [String]) -> SubscriptionSet { SubscriptionSet(shardChannels: Set(names)) }

private func slot(_ name: String) -> Int { Int(HashSlot(key: name).rawValue) }

/// Slot `n` (a constant within 0…16383).
private func hs(_ n: Int) -> HashSlot { HashSlot(rawValue: n)! }

/// The names of an `openLink`/`add`/`remove` action, sorted; nil for other actions.
private func actionNames(_ action: ShardedStateMachine.Action) -> [String]? {
    switch action {
    case .openLink(_, let names): return names.shardChannels.union(names.channels).union(names.patterns).sorted()
    case .add(_, _, let names), .remove(_, _, let names), .ignored(let names): return names.sorted()
    case .closeLink, .refreshTopology: return nil
    }
}

/// A fake link table driven only by the machine's actions, failing the test on any impossible action.
private struct FakeLinks {
    var links: [String: SubscriptionSet] = [:]
    var opens: [String: Int] = [:]
    var closes: [String: Int] = [:]
    var ignored: [String] = []
    var refreshes = 0
    var violations: [String] = []

    /// The shard channels of each link that holds some.
    var shardLinks: [String: Set<String>] { links.compactMapValues { $0.shardChannels.isEmpty ? nil : $0.shardChannels } }

    mutating func apply(_ actions: [ShardedStateMachine.Action]) {
        for action in actions {
            switch action {
            case .openLink(let node, let names):
                if links[node.address] != nil { violations.append("second open of \(node.address) without a close") }
                if names.isEmpty { violations.append("open of \(node.address) with no names") }
                links[node.address] = names
                opens[node.address, default: 0] += 1
            case .add(let node, let kind, let names):
                if links[node] == nil { violations.append("add to \(node), which is not open") }
                if names.isEmpty { violations.append("add of nothing to \(node)") }
                if !(links[node]?[kind].isDisjoint(with: names) ?? true) { violations.append("add to \(node) of a \(kind) it holds") }
                links[node, default: SubscriptionSet()][kind].formUnion(names)
            case .remove(let node, let kind, let names):
                if links[node] == nil { violations.append("remove from \(node), which is not open") }
                if !Set(names).isSubset(of: links[node]?[kind] ?? []) { violations.append("remove from \(node) of a \(kind) it does not hold") }
                links[node]?[kind].subtract(names)
                if links[node]?.isEmpty == true { violations.append("remove left \(node) open with nothing") }
            case .closeLink(let node):
                if links.removeValue(forKey: node) == nil { violations.append("close of \(node), which is not open") }
                closes[node, default: 0] += 1
            case .ignored(let names):
                ignored += names
            case .refreshTopology:
                refreshes += 1
            }
        }
    }
}

// MARK: Routing and link lifetime

@Suite("Sharded state machine")
struct ShardedStateMachineTests {
    @Test("shard channels are routed to the master of their slot, one openLink per node with its names")
    func routesBySlot() {
        var machine = ShardedStateMachine()
        _ = machine.topologyChanged(threeMasters)
        let a = names(10, inSlots: 0...5460, prefix: "a")
        let b = names(10, inSlots: 5461...10922, prefix: "b")
        let c = names(10, inSlots: 10923...16383, prefix: "c")
        let actions = machine.add(a + b + c)
        #expect(actions == [
            .openLink(node: nodeA, names: shards(a)),
            .openLink(node: nodeB, names: shards(b)),
            .openLink(node: nodeC, names: shards(c)),
        ])
        #expect(machine.desired == Set(a + b + c))
        #expect(machine.assignment == [nodeA.address: Set(a), nodeB.address: Set(b), nodeC.address: Set(c)])
        for name in a { #expect(machine.nodeOf[name] == nodeA.address) }
        #expect(machine.unassigned.isEmpty)
        #expect(machine.openNodes == [nodeA.address, nodeB.address, nodeC.address])
    }

    @Test("a node whose link is open gets add, not a second openLink; known names produce nothing")
    func secondAddIsAdd() {
        var machine = ShardedStateMachine()
        _ = machine.topologyChanged(threeMasters)
        let a = names(6, inSlots: 0...5460)
        #expect(machine.add(Array(a[0..<3])) == [.openLink(node: nodeA, names: shards(Array(a[0..<3])))])
        #expect(machine.add(Array(a[3..<6])) == [.add(node: nodeA.address, kind: .shardChannel, names: Array(a[3..<6]))])
        #expect(machine.add(a).isEmpty)
        #expect(machine.add([a[0], a[0]]).isEmpty)
        #expect(machine.assignment[nodeA.address] == Set(a))
    }

    @Test("a name given twice in one call is opened once")
    func duplicateInOneCall() {
        var machine = ShardedStateMachine()
        _ = machine.topologyChanged(threeMasters)
        let a = names(1, inSlots: 0...5460)[0]
        #expect(machine.add([a, a]) == [.openLink(node: nodeA, names: shards([a]))])
    }

    @Test("closeLink comes exactly once, when the node's last channel is removed, and the link reopens when one returns")
    func closesOnLastRemoval() {
        var machine = ShardedStateMachine()
        _ = machine.topologyChanged(threeMasters)
        let a = names(4, inSlots: 0...5460)
        let b = names(1, inSlots: 5461...10922)
        _ = machine.add(a + b)
        #expect(machine.remove([a[0]]) == [.remove(node: nodeA.address, kind: .shardChannel, names: [a[0]])])
        #expect(machine.remove([a[1], a[2]]) == [.remove(node: nodeA.address, kind: .shardChannel, names: [a[1], a[2]])])
        #expect(machine.remove([a[3]]) == [.closeLink(node: nodeA.address)])
        // Removing again (or names never added) does nothing: no second close.
        #expect(machine.remove(a).isEmpty)
        #expect(machine.remove(["never-added"]).isEmpty)
        #expect(machine.openNodes == [nodeB.address])
        #expect(machine.add([a[2]]) == [.openLink(node: nodeA, names: shards([a[2]]))])
        #expect(machine.openNodes == [nodeA.address, nodeB.address])
    }

    @Test("removing every channel of two nodes in one call closes each once and leaves the third open")
    func removeAcrossNodes() {
        var machine = ShardedStateMachine()
        _ = machine.topologyChanged(threeMasters)
        let a = names(3, inSlots: 0...5460)
        let b = names(3, inSlots: 5461...10922)
        let c = names(3, inSlots: 10923...16383)
        _ = machine.add(a + b + c)
        let actions = machine.remove(a + b + [c[0]])
        #expect(actions == [
            .closeLink(node: nodeA.address),
            .closeLink(node: nodeB.address),
            .remove(node: nodeC.address, kind: .shardChannel, names: [c[0]]),
        ])
        #expect(machine.desired == Set(c[1...]))
    }

    // MARK: Topology changes

    @Test("a range moving to a node with a link: add to the new node comes before remove from the old")
    func moveToOpenNode() throws {
        var machine = ShardedStateMachine()
        _ = machine.topologyChanged(threeMasters)
        let low = names(3, inSlots: 0...1000, prefix: "low")
        let high = names(3, inSlots: 1001...5460, prefix: "high")
        let b = names(2, inSlots: 5461...10922, prefix: "b")
        _ = machine.add(low + high + b)
        let moved = makeMap([(0...1000, nodeB), (1001...5460, nodeA), (5461...10922, nodeB), (10923...16383, nodeC)])
        let actions = machine.topologyChanged(moved)
        #expect(actions.count == 2)
        let addIndex = try #require(actions.firstIndex { if case .add(nodeB.address, _, _) = $0 { true } else { false } })
        let removeIndex = try #require(actions.firstIndex { if case .remove(nodeA.address, _, _) = $0 { true } else { false } })
        #expect(addIndex < removeIndex)
        #expect(actionNames(actions[addIndex]) == low.sorted())
        #expect(actionNames(actions[removeIndex]) == low.sorted())
        #expect(machine.assignment[nodeA.address] == Set(high))
        #expect(machine.assignment[nodeB.address] == Set(low + b))
    }

    @Test("a node losing all its channels is closed after the new node's link is opened")
    func moveAllToNewNode() throws {
        var machine = ShardedStateMachine()
        _ = machine.topologyChanged(threeMasters)
        let a = names(5, inSlots: 0...5460)
        _ = machine.add(a)
        let nodeD = ClusterNode(id: String(repeating: "d", count: 40), host: "127.0.0.1", port: 7004, isMaster: true)
        let failedOver = makeMap([(0...5460, nodeD), (5461...10922, nodeB), (10923...16383, nodeC)])
        let actions = machine.topologyChanged(failedOver)
        #expect(actions.count == 2)
        guard actions.count == 2, case .openLink(let node, let opened) = actions[0] else {
            Issue.record("expected openLink first, got \(actions)")
            return
        }
        #expect(node == nodeD)
        #expect(opened == shards(a))
        #expect(actions[1] == .closeLink(node: nodeA.address))
        #expect(machine.openNodes == [nodeD.address])
        // The same topology again changes nothing.
        #expect(machine.topologyChanged(failedOver).isEmpty)
    }

    @Test("a topology that keeps every owner produces no action")
    func unchangedTopology() {
        var machine = ShardedStateMachine()
        _ = machine.topologyChanged(threeMasters)
        _ = machine.add(names(30, inSlots: 0...16383))
        #expect(machine.topologyChanged(threeMasters).isEmpty)
        // Other slots moving does not touch these channels either.
        let a = names(1, inSlots: 0...5460, prefix: "x")
        var machine2 = ShardedStateMachine()
        _ = machine2.topologyChanged(threeMasters)
        _ = machine2.add(a)
        let s = slot(a[0])
        let other = s == 5460 ? 0 : 5460
        var shifted = threeMasters
        shifted.assign(other...other, to: nodeB)
        #expect(machine2.topologyChanged(shifted).isEmpty)
    }

    // MARK: Channels with no owner

    @Test("before any topology, channels are unassigned and a refresh is asked for; the topology then opens links")
    func noTopologyYet() {
        var machine = ShardedStateMachine()
        let a = names(3, inSlots: 0...5460)
        let c = names(2, inSlots: 10923...16383)
        #expect(machine.add(a + c) == [.refreshTopology])
        #expect(machine.unassigned == Set(a + c))
        #expect(machine.openNodes.isEmpty)
        let actions = machine.topologyChanged(threeMasters)
        #expect(actions.count == 2)
        #expect(actions.contains { if case .openLink(nodeA, let names) = $0 { names == shards(a) } else { false } })
        #expect(actions.contains { if case .openLink(nodeC, let names) = $0 { names == shards(c) } else { false } })
        #expect(machine.unassigned.isEmpty)
    }

    @Test("a channel in a slot no master serves is unassigned with a refresh; served channels in the same call open links")
    func holeInTopology() {
        var machine = ShardedStateMachine()
        _ = machine.topologyChanged(makeMap([(0...5460, nodeA), (10923...16383, nodeC)]))
        let hole = names(2, inSlots: 5461...10922, prefix: "hole")
        let a = names(1, inSlots: 0...5460)
        let actions = machine.add(hole + a)
        #expect(actions == [.openLink(node: nodeA, names: shards(a)), .refreshTopology])
        #expect(machine.unassigned == Set(hole))
        #expect(machine.desired == Set(hole + a))
        // Removing an unassigned channel closes nothing.
        #expect(machine.remove([hole[0]]).isEmpty)
        #expect(machine.unassigned == [hole[1]])
        // The slot gets a master: the remaining channel is opened there.
        #expect(machine.topologyChanged(threeMasters) == [.openLink(node: nodeB, names: shards([hole[1]]))])
        #expect(machine.unassigned.isEmpty)
    }

    @Test("a topology in which a channel's slot lost its master unassigns it and closes the emptied link")
    func ownerDisappears() {
        var machine = ShardedStateMachine()
        _ = machine.topologyChanged(threeMasters)
        let b = names(2, inSlots: 5461...10922)
        let a = names(1, inSlots: 0...5460)
        _ = machine.add(b + a)
        let actions = machine.topologyChanged(makeMap([(0...5460, nodeA), (10923...16383, nodeC)]))
        #expect(actions == [.closeLink(node: nodeB.address)])
        #expect(machine.unassigned == Set(b))
        #expect(machine.nodeOf[b[0]] == nil)
        #expect(machine.openNodes == [nodeA.address])
    }

    // MARK: Served slot ranges

    @Test("channels outside the served slot ranges are reported ignored once and never routed")
    func slotFilter() throws {
        var machine = ShardedStateMachine(slots: try SlotRanges(parsing: "0-8191"))
        _ = machine.topologyChanged(threeMasters)
        let inside = names(4, inSlots: 0...5460, prefix: "in")
        let outside = names(4, inSlots: 8192...16383, prefix: "out")
        let actions = machine.add(inside + outside)
        #expect(actions == [.ignored(names: outside), .openLink(node: nodeA, names: shards(inside))])
        #expect(machine.desired == Set(inside))
        // Asked again: nothing new to report.
        #expect(machine.add(outside).isEmpty)
        #expect(machine.add(outside + [inside[0]]).isEmpty)
        // Only the new one is reported.
        let more = names(5, inSlots: 8192...16383, prefix: "out")
        #expect(machine.add(more) == [.ignored(names: [more[4]])])
        // Removing an ignored channel is a no-op.
        #expect(machine.remove(outside).isEmpty)
        // A topology change never routes them.
        let actions2 = machine.topologyChanged(makeMap([(0...16383, nodeB)]))
        #expect(actions2.allSatisfy { actionNames($0).map { Set($0).isDisjoint(with: outside) } ?? true })
        #expect(machine.assignment[nodeB.address] == Set(inside))
    }

    // MARK: Node-local names (keyspace and keyevent)

    @Test("a keyspace pattern is opened on every master, once each, and on no replica")
    func nodeLocalOnEveryMaster() {
        var map = threeMasters
        let replica = ClusterNode(id: String(repeating: "r", count: 40), host: "127.0.0.1", port: 7011, isMaster: false)
        map.assign(nil, to: nodeA, replicas: [replica])
        var machine = ShardedStateMachine()
        _ = machine.topologyChanged(map)
        let pattern = "__keyspace@0__:*"
        #expect(machine.addNodeLocal(.pattern, [pattern]) == [nodeA, nodeB, nodeC].map { .openLink(node: $0, names: SubscriptionSet(patterns: [pattern])) })
        #expect(machine.openNodes == [nodeA.address, nodeB.address, nodeC.address])
        // Asked again: nothing.
        #expect(machine.addNodeLocal(.pattern, [pattern]).isEmpty)
        #expect(machine.nodeLocal == SubscriptionSet(patterns: [pattern]))
    }

    @Test("a node's link holds its shard channels and the keyspace names together: add, never a second open")
    func sharedWithShardChannels() {
        var machine = ShardedStateMachine()
        _ = machine.topologyChanged(threeMasters)
        let a = names(2, inSlots: 0...5460)
        _ = machine.add(a)
        let channel = "__keyevent@0__:expired"
        #expect(machine.addNodeLocal(.channel, [channel]) == [
            .add(node: nodeA.address, kind: .channel, names: [channel]),
            .openLink(node: nodeB, names: SubscriptionSet(channels: [channel])),
            .openLink(node: nodeC, names: SubscriptionSet(channels: [channel])),
        ])
        #expect(machine.links[nodeA.address] == SubscriptionSet(channels: [channel], shardChannels: Set(a)))
        // Removing the last keyspace name closes the links that held nothing else, and only removes it from A.
        #expect(machine.removeNodeLocal(.channel, [channel, "__keyevent@0__:never"]) == [
            .remove(node: nodeA.address, kind: .channel, names: [channel]),
            .closeLink(node: nodeB.address),
            .closeLink(node: nodeC.address),
        ])
        #expect(machine.removeNodeLocal(.channel, [channel]).isEmpty)
        #expect(machine.openNodes == [nodeA.address])
        // And the shard channels going leave A closed once.
        #expect(machine.remove(a) == [.closeLink(node: nodeA.address)])
    }

    @Test("before any topology a keyspace name asks for one; the topology then opens every master")
    func nodeLocalBeforeTopology() {
        var machine = ShardedStateMachine()
        #expect(machine.addNodeLocal(.pattern, ["__keyevent@*__:*"]) == [.refreshTopology])
        #expect(machine.openNodes.isEmpty)
        let actions = machine.topologyChanged(threeMasters)
        #expect(Set(actions.map { if case .openLink(let node, _) = $0 { node.address } else { "other" } }) == [nodeA.address, nodeB.address, nodeC.address])
        #expect(actions.count == 3)
    }

    @Test("a failover moves the failed master's keyspace names and shard channels to the promoted replica, which opens before the old link closes once")
    func nodeLocalFailover() throws {
        var machine = ShardedStateMachine()
        _ = machine.topologyChanged(threeMasters)
        let a = names(3, inSlots: 0...5460)
        _ = machine.add(a)
        _ = machine.addNodeLocal(.pattern, ["__keyspace@0__:*"])
        let promoted = ClusterNode(id: String(repeating: "d", count: 40), host: "127.0.0.1", port: 7004, isMaster: true)
        var failedOver = makeMap([(0...5460, promoted), (5461...10922, nodeB), (10923...16383, nodeC)])
        failedOver.assign(nil, to: ClusterNode(id: nodeA.id, host: nodeA.host, port: nodeA.port, isMaster: true, isOnline: false))
        let actions = machine.topologyChanged(failedOver)
        #expect(actions == [
            .openLink(node: promoted, names: SubscriptionSet(patterns: ["__keyspace@0__:*"], shardChannels: Set(a))),
            .closeLink(node: nodeA.address),
        ])
        #expect(machine.openNodes == [promoted.address, nodeB.address, nodeC.address])
        #expect(machine.topologyChanged(failedOver).isEmpty)
    }

    @Test("a master that joins without slots gets nothing; once it owns a slot it gets the keyspace names; losing them all closes it once")
    func nodeLocalResharding() {
        let nodeE = ClusterNode(id: String(repeating: "e", count: 40), host: "127.0.0.1", port: 7005, isMaster: true)
        var machine = ShardedStateMachine()
        _ = machine.topologyChanged(threeMasters)
        let channel = "__keyevent@0__:set"
        _ = machine.addNodeLocal(.channel, [channel])
        var joined = threeMasters
        joined.assign(nil, to: nodeE)
        #expect(machine.topologyChanged(joined).isEmpty, "a master with no slot publishes no key's events")
        var resharded = joined
        resharded.assign(0...99, to: nodeE)
        #expect(machine.topologyChanged(resharded) == [.openLink(node: nodeE, names: SubscriptionSet(channels: [channel]))])
        // A's slots all move to E: A is left, its link closed exactly once.
        var drained = resharded
        drained.assign(0...5460, to: nodeE)
        #expect(machine.topologyChanged(drained) == [.closeLink(node: nodeA.address)])
        #expect(machine.topologyChanged(drained).isEmpty)
        #expect(machine.eventNodes.keys.sorted() == [nodeB.address, nodeC.address, nodeE.address])
    }

    @Test("a split member that does not serve the plain channels holds no keyspace name; serving them opens every master, leaving them withdraws from every link")
    func nodeLocalGatedBySplit() {
        var machine = ShardedStateMachine()
        #expect(machine.nodeLocalServed(false).isEmpty, "nothing wanted yet")
        _ = machine.topologyChanged(threeMasters)
        let a = names(2, inSlots: 0...5460)
        _ = machine.add(a)
        let pattern = "__keyspace@0__:*"
        #expect(machine.addNodeLocal(.pattern, [pattern]).isEmpty, "wanted, but another member subscribes it")
        #expect(machine.nodeLocal == SubscriptionSet(patterns: [pattern]))
        #expect(machine.openNodes == [nodeA.address])
        #expect(machine.topologyChanged(fourMastersForGating()).isEmpty, "a new master is not this member's either")
        // This member now serves the plain channels: every master that owns a slot gets the name.
        let opened = machine.nodeLocalServed(true)
        #expect(opened.count == 4)
        #expect(opened.contains(.add(node: nodeA.address, kind: .pattern, names: [pattern])))
        #expect(opened.filter { if case .openLink = $0 { true } else { false } }.count == 3)
        #expect(machine.nodeLocalServed(true).isEmpty)
        // And hands them on: withdrawn everywhere, links left empty close once, A keeps its shard channels.
        let withdrawn = machine.nodeLocalServed(false)
        #expect(withdrawn.contains(.remove(node: nodeA.address, kind: .pattern, names: [pattern])))
        #expect(withdrawn.filter { if case .closeLink = $0 { true } else { false } }.count == 3)
        #expect(machine.openNodes == [nodeA.address])
        #expect(machine.links[nodeA.address] == SubscriptionSet(shardChannels: Set(a)))
        #expect(machine.nodeLocal == SubscriptionSet(patterns: [pattern]), "still wanted by the group")
    }

    /// ``threeMasters`` with a fourth master owning slots 16300...16383 (taken from C).
    private func fourMastersForGating() -> ShardMap {
        var map = threeMasters
        map.assign(16300...16383, to: ClusterNode(id: String(repeating: "f", count: 40), host: "127.0.0.1", port: 7006, isMaster: true))
        return map
    }

    @Test("a master carrying a keyspace name that gains a shard channel keeps one link holding both")
    func nodeLocalRemovedKeepsShards() {
        var machine = ShardedStateMachine()
        _ = machine.topologyChanged(threeMasters)
        _ = machine.addNodeLocal(.channel, ["__keyspace@0__:user"])
        let c = names(1, inSlots: 10923...16383)
        #expect(machine.add(c) == [.add(node: nodeC.address, kind: .shardChannel, names: c)])
        #expect(machine.links[nodeC.address] == SubscriptionSet(channels: ["__keyspace@0__:user"], shardChannels: Set(c)))
    }

    // MARK: Randomized

    @Test("thousands of random adds, removes and topology changes of shard channels and keyspace names keep links and owners consistent", arguments: [1, 2, 3, 42] as [UInt64])
    func randomized(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let nodes = (0..<5).map { i in
            ClusterNode(id: String(repeating: String(i), count: 40), host: "127.0.0.1", port: 7100 + i, isMaster: true)
        }
        let pool = (0..<150).map { "r\(seed)-\($0)" }
        let served: SlotRanges = seed % 2 == 0 ? try SlotRanges(parsing: "0-3000,9000-16383") : .all

        func randomMap() -> ShardMap {
            // 1…8 contiguous ranges over the slots, each owned by a random node or (sometimes) by nobody.
            var cuts = Set<Int>()
            for _ in 0..<Int.random(in: 0...7, using: &random) { cuts.insert(Int.random(in: 1...16383, using: &random)) }
            let bounds = [0] + cuts.sorted() + [16384]
            var map = ShardMap()
            for i in 0..<(bounds.count - 1) {
                guard Int.random(in: 0..<10, using: &random) > 0 else { continue }  // a hole, 1 in 10
                map.assign(bounds[i]...(bounds[i + 1] - 1), to: nodes[Int.random(in: 0..<nodes.count, using: &random)])
            }
            return map
        }

        var machine = ShardedStateMachine(slots: served)
        var fake = FakeLinks()
        var wanted = Set<String>()
        let eventPool = (0..<8).map { "__keyspace@0__:k\($0)" } + (0..<4).map { "__keyevent@0__:e\($0)" }
        var wantedEvents = SubscriptionSet()
        var map: ShardMap?
        var everIgnored = Set<String>()
        for step in 0..<3000 {
            let roll = Int.random(in: 0..<100, using: &random)
            let pick = (0..<Int.random(in: 1...12, using: &random)).map { _ in pool[Int.random(in: 0..<pool.count, using: &random)] }
            let before = fake.ignored.count
            let kind: SubscriptionKind = Bool.random(using: &random) ? .channel : .pattern
            let events = (0..<Int.random(in: 1...3, using: &random)).map { _ in eventPool[Int.random(in: 0..<eventPool.count, using: &random)] }
            if roll < 10 {
                fake.apply(machine.addNodeLocal(kind, events))
                wantedEvents[kind].formUnion(events)
            } else if roll < 18 {
                fake.apply(machine.removeNodeLocal(kind, events))
                wantedEvents[kind].subtract(events)
            } else if roll < 50 {
                fake.apply(machine.add(pick))
                wanted.formUnion(pick.filter { served.contains(HashSlot(key: $0)) })
            } else if roll < 85 {
                fake.apply(machine.remove(pick))
                wanted.subtract(pick)
            } else {
                let next = randomMap()
                map = next
                fake.apply(machine.topologyChanged(next))
            }
            // Ignored names are reported once each.
            let newlyIgnored = fake.ignored[before...]
            for name in newlyIgnored {
                #expect(!served.contains(HashSlot(key: name)))
                #expect(everIgnored.insert(name).inserted, "\(name) reported ignored twice (step \(step))")
            }

            // Invariants after every step.
            #expect(fake.violations.isEmpty, "step \(step): \(fake.violations)")
            guard fake.violations.isEmpty else { return }
            #expect(machine.desired == wanted, "step \(step)")
            #expect(machine.nodeLocal == wantedEvents, "step \(step)")
            var expected: [String: SubscriptionSet] = [:]
            var expectedUnassigned = Set<String>()
            for name in wanted {
                if let owner = map?.owner(of: HashSlot(key: name)) {
                    expected[owner.address, default: SubscriptionSet()].shardChannels.insert(name)
                } else {
                    expectedUnassigned.insert(name)
                }
            }
            // Keyspace names: on every master that owns a slot, and nowhere else.
            for master in map?.mastersWithSlots ?? [] where !wantedEvents.isEmpty {
                expected[master.address, default: SubscriptionSet()].channels = wantedEvents.channels
                expected[master.address, default: SubscriptionSet()].patterns = wantedEvents.patterns
            }
            #expect(fake.links == expected, "step \(step): the links do not hold exactly each owner's desired names")
            #expect(machine.unassigned == expectedUnassigned, "step \(step)")
            #expect(machine.openNodes == Set(fake.links.keys), "step \(step)")
            for node in nodes {
                let opens = fake.opens[node.address, default: 0], closes = fake.closes[node.address, default: 0]
                #expect(opens - closes == (fake.links[node.address] == nil ? 0 : 1), "step \(step): \(node) opened \(opens), closed \(closes)")
            }
            guard fake.links == expected else { return }
        }
        // The run exercised every kind of action.
        #expect(fake.opens.values.reduce(0, +) > 20)
        #expect(fake.closes.values.reduce(0, +) > 20)
        #expect(fake.refreshes > 0)
        if served != .all { #expect(!everIgnored.isEmpty) }
    }
}

// MARK: Parsing the topology

/// RESP builders for topology replies.
private func bulk(_ s: String) -> RESPValue { .bulkString(Array(s.utf8)) }
private func int(_ i: Int) -> RESPValue { .integer(Int64(i)) }

/// A `CLUSTER SHARDS` node, as key/value pairs.
private func shardNode(id: String, port: Int, role: String, health: String = "online", endpoint: String = "127.0.0.1", ip: String = "127.0.0.1", tls: Bool = false) -> [(String, RESPValue)] {
    [
        ("id", bulk(id)), (tls ? "tls-port" : "port", int(port)), ("ip", bulk(ip)), ("endpoint", bulk(endpoint)),
        ("role", bulk(role)), ("replication-offset", int(1234)), ("health", bulk(health)),
    ]
}

private func resp3Map(_ pairs: [(String, RESPValue)]) -> RESPValue { .map(pairs.map { RESPPair(bulk($0.0), $0.1) }) }
private func resp2Map(_ pairs: [(String, RESPValue)]) -> RESPValue { .array(pairs.flatMap { [bulk($0.0), $0.1] }) }

/// A `CLUSTER SHARDS` reply with `style` maps (RESP3 `.map` or RESP2 flat arrays).
private func shardsReply(_ shards: [(slots: [Int], nodes: [[(String, RESPValue)]])], style: ([(String, RESPValue)]) -> RESPValue) -> RESPValue {
    .array(shards.map { shard in
        style([("slots", .array(shard.slots.map(int))), ("nodes", .array(shard.nodes.map(style)))])
    })
}

private let id1 = String(repeating: "1", count: 40), id2 = String(repeating: "2", count: 40), id3 = String(repeating: "3", count: 40)
private let id4 = String(repeating: "4", count: 40), id5 = String(repeating: "5", count: 40), id6 = String(repeating: "6", count: 40)

/// After a failover of 7001: its replica 7004 serves 0-5460 (and slot 16383 too), the failed 7001 is a master
/// with no slots, 7002 serves 5461-10922 with a replica, and the shard of 10923-16382 has no master at all.
private let failoverShards: [(slots: [Int], nodes: [[(String, RESPValue)]])] = [
    (slots: [0, 5460, 16383, 16383], nodes: [shardNode(id: id4, port: 7004, role: "master")]),
    (slots: [], nodes: [shardNode(id: id1, port: 7001, role: "master", health: "failed")]),
    (slots: [5461, 10922], nodes: [shardNode(id: id2, port: 7002, role: "master"), shardNode(id: id5, port: 7005, role: "replica", endpoint: "")]),
    (slots: [10923, 16382], nodes: [shardNode(id: id6, port: 7006, role: "replica", health: "loading")]),
]

@Suite("Shard map parsing")
struct ShardMapParsingTests {
    private func checkFailoverMap(_ map: ShardMap) throws {
        let s0 = hs(0), s5460 = hs(5460)
        let s5461 = hs(5461), s10922 = hs(10922)
        let s10923 = hs(10923), s16382 = hs(16382)
        let s16383 = hs(16383)
        #expect(map.owner(of: s0)?.port == 7004)
        #expect(map.owner(of: s5460)?.port == 7004)
        #expect(map.owner(of: s16383)?.port == 7004)
        #expect(map.owner(of: s5461)?.port == 7002)
        #expect(map.owner(of: s10922)?.id == id2)
        #expect(map.owner(of: s10923) == nil)
        #expect(map.owner(of: s16382) == nil)
        #expect(map.coveredSlotCount == 5461 + 5462 + 1)
        // The failed master is known but serves nothing and is not online.
        let failed = try #require(map.masters.first { $0.port == 7001 })
        #expect(!failed.isOnline)
        #expect(failed.isMaster)
        #expect(map.masters.first { $0.port == 7004 }?.isOnline == true)
        // The replica with an empty endpoint falls back to its ip.
        let replica = try #require(map.replicas["127.0.0.1:7002"]?.first)
        #expect(replica.port == 7005 && replica.host == "127.0.0.1" && !replica.isMaster && replica.id == id5)
        #expect(Set(map.allNodes.map(\.port)) == [7004, 7001, 7002, 7005])
    }

    @Test("CLUSTER SHARDS in RESP3 maps: a promoted replica's shard, the failed master with no slots, a shard with no master")
    func shardsRESP3() throws {
        try checkFailoverMap(try ShardMap.parseShards(shardsReply(failoverShards, style: resp3Map)))
    }

    @Test("CLUSTER SHARDS in RESP2 flat key/value arrays parses to the same map")
    func shardsRESP2() throws {
        let resp2 = try ShardMap.parseShards(shardsReply(failoverShards, style: resp2Map))
        try checkFailoverMap(resp2)
        #expect(resp2 == (try ShardMap.parseShards(shardsReply(failoverShards, style: resp3Map))))
    }

    @Test("a shard with an online and a failed master routes to the online one; a tls-port is used when no port is given")
    func onlineMasterPreferred() throws {
        let reply = shardsReply([
            (slots: [0, 16383], nodes: [
                shardNode(id: id1, port: 7001, role: "master", health: "failed"),
                shardNode(id: id4, port: 7004, role: "master", endpoint: "?", ip: "127.0.0.4", tls: true),
            ]),
        ], style: resp3Map)
        let map = try ShardMap.parseShards(reply)
        let owner = try #require(map.owner(of: hs(100)))
        #expect(owner.port == 7004 && owner.host == "127.0.0.4")
        #expect(map.coveredSlotCount == 16384)
    }

    @Test("an empty CLUSTER SHARDS reply is an empty map")
    func emptyShards() throws {
        let map = try ShardMap.parseShards(.array([]))
        #expect(map.coveredSlotCount == 0)
        #expect(map.masters.isEmpty)
        #expect(map == ShardMap())
    }

    @Test("CLUSTER SLOTS: ranges, masters, replicas, and an empty host meaning the node asked")
    func slots() throws {
        let reply: RESPValue = .array([
            .array([int(0), int(5460), .array([bulk("127.0.0.1"), int(7001), bulk(id1)]), .array([bulk("127.0.0.1"), int(7004), bulk(id4)])]),
            .array([int(5461), int(10922), .array([bulk(""), int(7002), bulk(id2)])]),
            .array([int(10923), int(16383), .array([bulk("127.0.0.3"), int(7003)])]),
        ])
        let map = try ShardMap.parseSlots(reply)
        #expect(map.owner(of: hs(0))?.port == 7001)
        #expect(map.owner(of: hs(5461)) == ClusterNode(id: id2, host: "127.0.0.1", port: 7002, isMaster: true))
        #expect(map.owner(of: hs(16383)) == ClusterNode(id: "", host: "127.0.0.3", port: 7003, isMaster: true))
        #expect(map.replicas["127.0.0.1:7001"] == [ClusterNode(id: id4, host: "127.0.0.1", port: 7004, isMaster: false)])
        #expect(map.coveredSlotCount == 16384)
        #expect(map.masters.count == 3)
    }

    @Test("the same master in several CLUSTER SLOTS ranges is one master")
    func slotsSameMasterTwice() throws {
        let master: RESPValue = .array([bulk("127.0.0.1"), int(7001), bulk(id1)])
        let reply: RESPValue = .array([
            .array([int(0), int(99), master]),
            .array([int(200), int(299), master]),
        ])
        let map = try ShardMap.parseSlots(reply)
        #expect(map.masters.count == 1)
        #expect(map.coveredSlotCount == 200)
        #expect(map.owner(of: hs(150)) == nil)
    }

    private static func shardsWithSlots(_ slots: [RESPValue]) -> RESPValue {
        .array([resp3Map([("slots", .array(slots)), ("nodes", .array([resp3Map(shardNode(id: id1, port: 7001, role: "master"))]))])])
    }

    private static let malformedShards: [(String, RESPValue)] = [
        ("slot start above end", shardsWithSlots([int(10), int(5)])),
        ("slot end above 16383", shardsWithSlots([int(0), int(16384)])),
        ("negative slot start", shardsWithSlots([int(-1), int(5)])),
        ("odd slot list", shardsWithSlots([int(0), int(100), int(200)])),
        ("slot that is not a number", shardsWithSlots([bulk("zero"), int(100)])),
        ("reply not an array", bulk("nope")),
        ("shard not a map", .array([int(1)])),
        ("shard without nodes", .array([resp3Map([("slots", .array([int(0), int(1)]))])])),
        ("node without port", .array([resp3Map([("slots", .array([int(0), int(1)])), ("nodes", .array([resp3Map([("id", bulk(id1)), ("ip", bulk("127.0.0.1")), ("role", bulk("master"))])]))])])),
        ("node without any host", .array([resp3Map([("slots", .array([int(0), int(1)])), ("nodes", .array([resp3Map(shardNode(id: id1, port: 7001, role: "master", endpoint: "", ip: ""))]))])])),
    ]

    @Test("malformed CLUSTER SHARDS replies throw a protocol error instead of crashing", arguments: malformedShards.indices)
    func malformedShardsThrow(index: Int) {
        let (what, reply) = Self.malformedShards[index]
        do throws(ResubError) {
            _ = try ShardMap.parseShards(reply)
            Issue.record("\(what): no error thrown")
        } catch {
            #expect(error.code == .protocolError, "\(what)")
        }
    }

    private static let master: RESPValue = .array([bulk("127.0.0.1"), int(7001), bulk(id1)])
    private static let malformedSlots: [(String, RESPValue)] = [
        ("start above end", .array([.array([int(100), int(50), master])])),
        ("end above 16383", .array([.array([int(0), int(16384), master])])),
        ("negative start", .array([.array([int(-5), int(10), master])])),
        ("range without a master", .array([.array([int(0), int(10)])])),
        ("master without a port", .array([.array([int(0), int(10), .array([bulk("127.0.0.1")])])])),
        ("replica that is not an array", .array([.array([int(0), int(10), master, int(3)])])),
        ("reply not an array", .integer(7)),
        ("range not an array", .array([bulk("0-10")])),
    ]

    @Test("malformed CLUSTER SLOTS replies throw a protocol error instead of crashing", arguments: malformedSlots.indices)
    func malformedSlotsThrow(index: Int) {
        let (what, reply) = Self.malformedSlots[index]
        do throws(ResubError) {
            _ = try ShardMap.parseSlots(reply)
            Issue.record("\(what): no error thrown")
        } catch {
            #expect(error.code == .protocolError, "\(what)")
        }
    }
}
