// Heap bytes held by a ShardedStateMachine with 100,000 shard channels (`sh.channel.N`) over three masters:
// glibc's mallinfo2() in-use figure (uordblks + hblkhd) before the machine exists and after it is filled and
// routed. A measurement, not a timed benchmark: run
// `swift build --product resub-sharded-memory && .build/debug/resub-sharded-memory [count]`.
import Glibc
import CGlibcExtras
import Resub

/// Bytes the allocator has handed out and not had back.
func heapInUse() -> Int {
    let info = mallinfo2()
    return Int(info.uordblks) + Int(info.hblkhd)
}

let count = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 100_000 : 100_000

/// The machine, filled: built in a function so that the names array and the actions are gone before measuring.
func filled(_ count: Int) -> ShardedStateMachine {
    let nodes = (1...3).map { ClusterNode(id: String(repeating: String($0), count: 40), host: "127.0.0.1", port: 7000 + $0, isMaster: true) }
    var map = ShardMap()
    map.assign(0...5460, to: nodes[0])
    map.assign(5461...10922, to: nodes[1])
    map.assign(10923...16383, to: nodes[2])
    var machine = ShardedStateMachine()
    _ = machine.topologyChanged(map)
    let actions = machine.add((0..<count).map { "sh.channel.\($0)" })
    precondition(actions.count == 3, "expected one openLink per node, got \(actions.count) actions")
    return machine
}

let before = heapInUse()
let machine = filled(count)
let after = heapInUse()
let held = after - before
print("shard channels: \(count), nodes: \(machine.openNodes.count)")
print("heap in use before: \(before) B, after: \(after) B, held by the machine: \(held) B (\(held / count) B per name)")
withExtendedLifetime(machine) {}
