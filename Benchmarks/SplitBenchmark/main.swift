// Split balance benchmark: how evenly the automatic split's rule (SlotAssignment: rendezvous hashing over
// 1024 blocks of 16 slots) spreads the slots, and 10,000 shard channels, over 3 and 5 members, and how
// much moves when one joins or leaves. Averages over 50 sets of member ids like real ones. Pure: no Redis.
// (Takeover times and duplicates come from the integration test: Benchmarks/split.sh.)
// usage: resub-split-bench [CHANNELS]
import Resub

let channelCount = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1])! : 10_000
let channelSlots = (0..<channelCount).map { Int(HashSlot(key: "bench:\($0)").rawValue) }
let trials = 50

func ids(_ count: Int, trial: Int) -> [String] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { "\(1_764_600_000_000 + trial * 10_000 + $0)-pod-\(UInt32.random(in: 0...UInt32.max, using: &generator))" }
}

func spread(_ values: [Int]) -> (min: Int, max: Int, worst: Double) {
    let mean = Double(values.reduce(0, +)) / Double(values.count)
    return (values.min()!, values.max()!, values.map { abs(Double($0) - mean) / mean }.max()!)
}

for members in [3, 5] {
    var worstSlots = 0.0, worstChannels = 0.0, movedOnLeave = 0.0, movedOnJoin = 0.0
    var example = ""
    for trial in 0..<trials {
        let group = ids(members, trial: trial)
        let assignment = SlotAssignment(members: group)
        let slots = group.map { assignment.blocks(of: $0).slotCount }
        var owners: [String: Int] = [:]
        for slot in channelSlots { owners[assignment.owner(of: slot / BlockSet.slotsPerBlock)!, default: 0] += 1 }
        let channels = group.map { owners[$0] ?? 0 }
        let s = spread(slots), c = spread(channels)
        worstSlots = max(worstSlots, s.worst)
        worstChannels = max(worstChannels, c.worst)
        if trial == 0 { example = "slots \(slots), channels \(channels)" }
        // Leave: one member goes; join: one more comes. Count the slot blocks that change owner.
        let left = SlotAssignment(members: group.dropLast())
        let joined = SlotAssignment(members: group + ids(1, trial: trial + 1_000))
        var leave = 0, join = 0
        for block in 0..<BlockSet.slotBlockCount {
            if assignment.owner(of: block) != left.owner(of: block) { leave += 1 }
            if assignment.owner(of: block) != joined.owner(of: block) { join += 1 }
        }
        movedOnLeave += Double(leave) / Double(BlockSet.slotBlockCount) / Double(trials)
        movedOnJoin += Double(join) / Double(BlockSet.slotBlockCount) / Double(trials)
    }
    func pct(_ x: Double) -> String { "\(Double(Int(x * 1000)) / 10)%" }
    print("\(members) members: worst deviation from the mean over \(trials) id sets: slots \(pct(worstSlots)), \(channelCount) channels \(pct(worstChannels))")
    print("  e.g. \(example)")
    print("  moved on a leave: \(pct(movedOnLeave)) of the slots (ideal 1/\(members) = \(pct(1.0 / Double(members)))); on a join: \(pct(movedOnJoin)) (ideal 1/\(members + 1) = \(pct(1.0 / Double(members + 1))))")
}
