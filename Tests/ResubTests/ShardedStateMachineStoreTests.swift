import Resub
import Testing

// The sharded machine keeps every shard channel once, in one table, with its node as a number per row: these
// tests fail if a name is held twice (rows beyond the distinct names), if a node's count drifts from the names
// routed to it, or if a link is opened or closed at the wrong time.

private let nodeD = ClusterNode(id: String(repeating: "d", count: 40), host: "127.0.0.1", port: 7004, isMaster: true)

/// `sh.channel.0` … `sh.channel.(count-1)`.
private func channels(_ count: Int) -> [String] { (0..<count).map { "sh.channel.\($0)" } }

/// Which node of `map` owns each name, worked out from the slots alone.
private func expectedOwners(_ names: [String], _ map: ShardMap) -> [String: String] {
    var owners: [String: String] = [:]
    for name in names { owners[name] = map.owner(of: HashSlot(key: name))?.address }
    return owners
}

/// The links as the owner sees them, built only from the actions; counts every open and close.
private struct LinkTracker {
    var links: [String: Set<String>] = [:]
    var opens: [String: Int] = [:]
    var closes: [String: Int] = [:]
    var violations: [String] = []

    mutating func apply(_ actions: [ShardedStateMachine.Action]) {
        for action in actions {
            switch action {
            case .openLink(let node, let names):
                if links[node.address] != nil { violations.append("second open of \(node.address)") }
                links[node.address] = names.shardChannels
                opens[node.address, default: 0] += 1
            case .add(let node, _, let names):
                if links[node] == nil { violations.append("add to closed \(node)") }
                if !(links[node]?.isDisjoint(with: names) ?? true) { violations.append("add to \(node) of a name it holds") }
                links[node, default: []].formUnion(names)
            case .remove(let node, _, let names):
                if !Set(names).isSubset(of: links[node] ?? []) { violations.append("remove from \(node) of a name it lacks") }
                links[node]?.subtract(names)
                if links[node]?.isEmpty == true { violations.append("remove left \(node) open with nothing") }
            case .closeLink(let node):
                if links.removeValue(forKey: node) == nil { violations.append("close of \(node), not open") }
                closes[node, default: 0] += 1
            case .ignored, .refreshTopology:
                break
            }
        }
    }
}

/// A machine on `threeMasters` with `sh.channel.0` … `sh.channel.99999` added, and the links its actions made.
private func filled() -> (ShardedStateMachine, LinkTracker, [String]) {
    var machine = ShardedStateMachine()
    var tracker = LinkTracker()
    tracker.apply(machine.topologyChanged(threeMasters))
    let names = channels(100_000)
    tracker.apply(machine.add(names))
    return (machine, tracker, names)
}

@Suite("Sharded state machine: one store for the shard channels")
struct ShardedStateMachineStoreTests {
    @Test("100,000 shard channels over three masters take one row each, and each node's count is its names")
    func oneRowPerName() {
        var (machine, tracker, names) = filled()
        // The same names again, and a few twice in one call: nothing new is stored or sent.
        #expect(machine.add(Array(names[0..<1000]) + Array(names[0..<1000])).isEmpty)
        #expect(machine.shards.count == 100_000)
        #expect(machine.desiredCount == 100_000)
        #expect(machine.unassignedCount == 0)
        let owners = expectedOwners(names, threeMasters)
        for node in [nodeA, nodeB, nodeC] {
            let mine = Set(owners.filter { $0.value == node.address }.keys)
            #expect(!mine.isEmpty)
            #expect(machine.shardCount(on: node.address) == mine.count)
            #expect(tracker.links[node.address] == mine)
        }
        #expect(tracker.opens.values.reduce(0, +) == 3)
        for name in names.prefix(2000) { #expect(machine.node(of: name) == owners[name]) }
        #expect(machine.node(of: "sh.channel.not-wanted") == nil)
        #expect(tracker.violations.isEmpty)
    }

    @Test("removing every shard channel closes each link exactly once, with its last name, and frees every row")
    func closesOnceOnTheLast() {
        var (machine, tracker, names) = filled()
        let owners = expectedOwners(names, threeMasters)
        // Removed in ten batches, odd numbers first: the nodes empty at different batches.
        let order = names.enumerated().sorted { ($0.offset % 2, $0.offset) > ($1.offset % 2, $1.offset) }.map(\.element)
        var left = Dictionary(grouping: names, by: { owners[$0]! }).mapValues(\.count)
        for start in stride(from: 0, to: order.count, by: 10_000) {
            let batch = Array(order[start..<start + 10_000])
            let closesBefore = tracker.closes
            tracker.apply(machine.remove(batch))
            for name in batch { left[owners[name]!]! -= 1 }
            for (node, count) in left {
                #expect(machine.shardCount(on: node) == count)
                #expect(tracker.closes[node, default: 0] == (count == 0 ? 1 : 0), "\(node) after batch \(start)")
                if count == 0, closesBefore[node, default: 0] == 0 { #expect(!machine.openNodes.contains(node)) }
            }
        }
        #expect(tracker.closes == [nodeA.address: 1, nodeB.address: 1, nodeC.address: 1])
        #expect(machine.shards.count == 0)
        #expect(machine.openNodes.isEmpty)
        #expect(machine.remove(names).isEmpty)
        #expect(tracker.violations.isEmpty)
    }

    @Test("a topology change moves exactly the shard channels whose slot changed owner")
    func movesExactlyTheChanged() {
        var (machine, tracker, names) = filled()
        // Slots 0…1000 go from A to B, 16000…16383 from C to a new master D.
        let moved = makeMap([(0...1000, nodeB), (1001...5460, nodeA), (5461...10922, nodeB), (10923...15999, nodeC), (16000...16383, nodeD)])
        let before = expectedOwners(names, threeMasters), after = expectedOwners(names, moved)
        let actions = machine.topologyChanged(moved)
        tracker.apply(actions)
        let toB = Set(names.filter { before[$0] == nodeA.address && after[$0] == nodeB.address })
        let toD = Set(names.filter { before[$0] == nodeC.address && after[$0] == nodeD.address })
        #expect(!toB.isEmpty && !toD.isEmpty)
        var added: [String: Set<String>] = [:], removed: [String: Set<String>] = [:]
        for action in actions {
            switch action {
            case .openLink(let node, let names): added[node.address, default: []].formUnion(names.shardChannels)
            case .add(let node, _, let names): added[node, default: []].formUnion(names)
            case .remove(let node, _, let names): removed[node, default: []].formUnion(names)
            default: Issue.record("unexpected \(action)")
            }
        }
        #expect(added == [nodeB.address: toB, nodeD.address: toD])
        #expect(removed == [nodeA.address: toB, nodeC.address: toD])
        #expect(machine.shards.count == 100_000, "a move changes the row's node, not the rows")
        for node in [nodeA, nodeB, nodeC, nodeD] {
            let mine = Set(after.filter { $0.value == node.address }.keys)
            #expect(machine.shardCount(on: node.address) == mine.count)
            #expect(tracker.links[node.address] == mine)
        }
        for name in names.prefix(2000) { #expect(machine.node(of: name) == after[name]) }
        #expect(tracker.violations.isEmpty)
    }

    @Test("a name outside the served slots, ignored, then served keeps one row throughout")
    func outsideAndIgnoredShareTheRow() {
        var machine = ShardedStateMachine(slots: SlotRanges(uncheckedRanges: [0...8191]))
        var tracker = LinkTracker()
        tracker.apply(machine.topologyChanged(threeMasters))
        let names = channels(10_000)
        let inside = names.filter { HashSlot(key: $0).rawValue <= 8191 }
        let actions = machine.add(names)
        tracker.apply(actions)
        #expect(actions.contains(ShardedStateMachine.Action.ignored(names: names.filter { HashSlot(key: $0).rawValue > 8191 })))
        #expect(machine.shards.count == 10_000)
        #expect(machine.desiredCount == inside.count)
        #expect(machine.add(names).isEmpty, "wanted or ignored already: nothing reported twice")
        tracker.apply(machine.slotsChanged(to: SlotRanges.all))
        #expect(machine.shards.count == 10_000)
        #expect(machine.desiredCount == 10_000)
        tracker.apply(machine.slotsChanged(to: SlotRanges(uncheckedRanges: [8192...16383])))
        #expect(machine.shards.count == 10_000)
        #expect(machine.desiredCount == names.count - inside.count)
        #expect(machine.outside == Set(inside))
        tracker.apply(machine.remove(names))
        #expect(machine.desiredCount == 0 && machine.outside.isEmpty)
        #expect(machine.shards.count == names.count - inside.count, "only the ignored names stay, so each is reported once")
        #expect(tracker.links.isEmpty && tracker.violations.isEmpty)
    }
}
