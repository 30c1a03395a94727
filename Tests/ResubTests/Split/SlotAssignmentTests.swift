import Resub
import Testing

/// Member ids as `SplitConfiguration` makes them: join time, host, random.
private func memberIDs(_ count: Int, seed: Int) -> [String] {
    (0..<count).map { "\(1_764_600_000_000 + seed * 1000 + $0)-pod-\(seed)-\($0)-\(String(seed &* 7919 &+ $0 &* 104_729, radix: 16))" }
}

private func shares(_ assignment: SlotAssignment) -> [String: Int] {
    var result: [String: Int] = [:]
    for block in 0..<BlockSet.slotBlockCount { result[assignment.owner(of: block)!, default: 0] += 1 }
    return result
}

@Suite("Slot assignment (rendezvous hashing over blocks of slots)")
struct SlotAssignmentTests {
    @Test("every slot block has exactly one owner, and every member computes the same one", arguments: [1, 3, 5])
    func oneOwnerEverywhere(count: Int) {
        let members = memberIDs(count, seed: 1)
        let here = SlotAssignment(members: members)
        let there = SlotAssignment(members: members.reversed())
        var union = BlockSet()
        for member in members {
            let mine = here.blocks(of: member)
            #expect(mine.intersection(union).isEmpty, "\(member) shares blocks with another member")
            union = union.union(mine)
            #expect(mine == there.blocks(of: member), "the order of the member list changed the result")
        }
        #expect(union == BlockSet.all)
    }

    @Test("3 and 5 members get balanced shares (within 15% of the mean) for many sets of ids", arguments: [3, 5])
    func balanced(count: Int) {
        var worst = 0.0
        for seed in 0..<20 {
            let counts = shares(SlotAssignment(members: memberIDs(count, seed: seed)))
            #expect(counts.count == count)
            let mean = Double(BlockSet.slotBlockCount) / Double(count)
            for value in counts.values { worst = max(worst, abs(Double(value) - mean) / mean) }
        }
        #expect(worst < 0.15, "worst deviation from the mean share: \(worst)")
    }

    @Test("when a member leaves, only its blocks move, spread over the others")
    func leaveMovesOnlyTheLeaversBlocks() {
        let members = memberIDs(5, seed: 3)
        let before = SlotAssignment(members: members)
        let leaver = members[2]
        let after = SlotAssignment(members: members.filter { $0 != leaver })
        var receivers: Set<String> = []
        for block in 0..<BlockSet.slotBlockCount {
            let old = before.owner(of: block)!, new = after.owner(of: block)!
            if old == leaver { receivers.insert(new) } else { #expect(old == new, "block \(block) moved from \(old) though \(leaver) left") }
        }
        #expect(receivers.count == 4, "the leaver's blocks went to \(receivers.count) of 4 members")
    }

    @Test("a joiner takes about 1/n of the blocks, and every moved block moves to it", arguments: [3, 5])
    func joinerTakesItsShare(count: Int) {
        let members = memberIDs(count + 1, seed: 4)
        let joiner = members.last!
        let before = SlotAssignment(members: members.dropLast())
        let after = SlotAssignment(members: members)
        var moved = 0
        for block in 0..<BlockSet.slotBlockCount where before.owner(of: block) != after.owner(of: block) {
            moved += 1
            #expect(after.owner(of: block) == joiner)
        }
        let expected = Double(BlockSet.slotBlockCount) / Double(count + 1)
        #expect(abs(Double(moved) - expected) / expected < 0.2, "moved \(moved) blocks, expected about \(expected)")
    }

    @Test("plain channels and patterns go to the lowest-ranked (oldest) member, and a join does not move them")
    func broadcastToTheOldest() {
        let members = memberIDs(3, seed: 5)
        #expect(SlotAssignment(members: members.shuffled()).owner(of: BlockSet.broadcast) == members[0])
        #expect(SlotAssignment(members: members + ["9999999999999999-late"]).owner(of: BlockSet.broadcast) == members[0])
        #expect(SlotAssignment(members: Array(members.dropFirst())).owner(of: BlockSet.broadcast) == members[1])
        #expect(SlotAssignment(members: []).owner(of: 7) == nil)
    }

    @Test("a block set round-trips through its hex form and maps to merged slot ranges")
    func blockSetEncoding() throws {
        let set = BlockSet([0, 1, 2, 5, BlockSet.slotBlockCount - 1, BlockSet.broadcast])
        #expect(BlockSet(hex: set.hex) == set)
        #expect(BlockSet(hex: "zz") == nil)
        #expect(set.slotRanges.description == "0-47,80-95,16368-16383")
        #expect(set.slotCount == 5 * BlockSet.slotsPerBlock)
        #expect(set.description == "0-47,80-95,16368-16383 + channels/patterns")
        #expect(BlockSet().description == "none")
        #expect(BlockSet.block(of: HashSlot(key: "{x}a")) == Int(HashSlot(key: "x").rawValue) / BlockSet.slotsPerBlock)
    }
}
