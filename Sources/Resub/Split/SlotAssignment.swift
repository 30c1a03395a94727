/// The rule every member of a split group applies to the same member list, so all agree on who serves
/// what with no further talk: each slot block goes to the member with the highest rendezvous score for it
/// (a hash of member id and block), and the plain channels and patterns to the lowest-ranked member (the
/// smallest id; ids start with the join time, so that is the oldest member and a join does not move them).
///
/// Rendezvous hashing moves as little as possible: when a member leaves, only its blocks move (each to the
/// member with the next score); when one joins, it takes exactly the blocks where it scores highest, about
/// 1/n of them, from whoever had each.
package struct SlotAssignment: Sendable {
    /// The live members, sorted by id.
    package let members: [String]
    private let seeds: [UInt64]

    /// The assignment among `members` (duplicates ignored).
    package init(members: some Sequence<String>) {
        self.members = Array(Set(members)).sorted()
        self.seeds = self.members.map(Self.fnv1a)
    }

    /// The member serving `block` (a slot block or ``BlockSet/broadcast``); nil when there is no member.
    package func owner(of block: Int) -> String? {
        if block == BlockSet.broadcast { return members.first }
        var best: (score: UInt64, index: Int)?
        for (index, seed) in seeds.enumerated() {
            let score = Self.score(seed: seed, block: block)
            if best == nil || score > best!.score { best = (score, index) }
        }
        return best.map { members[$0.index] }
    }

    /// The blocks `member` serves (none when it is not a member).
    package func blocks(of member: String) -> BlockSet {
        guard members.contains(member) else { return BlockSet() }
        var set = BlockSet()
        for block in 0..<BlockSet.count where owner(of: block) == member { set.insert(block) }
        return set
    }

    /// A score that depends on both member and block and is the same in every process (Swift's `Hasher`
    /// is seeded per process, so it cannot serve here): splitmix64 of the member's FNV-1a and the block.
    private static func score(seed: UInt64, block: Int) -> UInt64 {
        var z = seed ^ (UInt64(block) &* 0x9E37_79B9_7F4A_7C15)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01B3
        }
        return hash
    }
}
