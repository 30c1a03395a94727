/// A set of the units the automatic split hands out: blocks of ``slotsPerBlock`` consecutive hash slots,
/// plus one pseudo-block, ``broadcast``, standing for the plain channels and patterns. Kept as a bitmap so a
/// member can publish its confirmed set in one short hash field.
package struct BlockSet: Hashable, Sendable, CustomStringConvertible {
    /// Slots per block: 1024 blocks keep the rendezvous balance within a few percent while a member's
    /// ranges stay readable.
    package static let slotsPerBlock = 16
    /// The number of slot blocks.
    package static let slotBlockCount = HashSlot.count / slotsPerBlock
    /// The pseudo-block of the plain channels and patterns.
    package static let broadcast = slotBlockCount
    /// Every block, the pseudo-block included.
    package static let count = slotBlockCount + 1

    private static let wordCount = (count + 63) / 64
    private var words: [UInt64]

    /// The empty set.
    package init() { words = Array(repeating: 0, count: Self.wordCount) }

    /// The set of `blocks`.
    package init(_ blocks: some Sequence<Int>) {
        self.init()
        for block in blocks { insert(block) }
    }

    /// Every block, the pseudo-block included.
    package static var all: BlockSet { BlockSet(0..<count) }

    /// The block holding `slot`.
    package static func block(of slot: HashSlot) -> Int { Int(slot.rawValue) / slotsPerBlock }

    /// Whether `block` is in the set.
    package func contains(_ block: Int) -> Bool { words[block >> 6] & (1 << UInt64(block & 63)) != 0 }

    /// Adds `block`.
    package mutating func insert(_ block: Int) {
        precondition((0..<Self.count).contains(block), "block \(block) out of range")
        words[block >> 6] |= 1 << UInt64(block & 63)
    }

    /// Removes `block`.
    package mutating func remove(_ block: Int) { words[block >> 6] &= ~(1 << UInt64(block & 63)) }

    /// Whether no block is in the set.
    package var isEmpty: Bool { words.allSatisfy { $0 == 0 } }

    /// How many blocks are in the set.
    package var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// The blocks, ascending.
    package var elements: [Int] { (0..<Self.count).filter { contains($0) } }

    /// The blocks in either set.
    package func union(_ other: BlockSet) -> BlockSet { combine(other) { $0 | $1 } }
    /// The blocks in both sets.
    package func intersection(_ other: BlockSet) -> BlockSet { combine(other) { $0 & $1 } }
    /// The blocks of this set that are not in `other`.
    package func subtracting(_ other: BlockSet) -> BlockSet { combine(other) { $0 & ~$1 } }

    private func combine(_ other: BlockSet, _ op: (UInt64, UInt64) -> UInt64) -> BlockSet {
        var result = BlockSet()
        for i in 0..<Self.wordCount { result.words[i] = op(words[i], other.words[i]) }
        return result
    }

    /// Whether the pseudo-block of plain channels and patterns is in the set.
    package var hasBroadcast: Bool { contains(Self.broadcast) }

    /// The hash slots of the slot blocks in the set, as merged ranges.
    package var slotRanges: SlotRanges {
        var ranges: [ClosedRange<Int>] = []
        for block in elements where block != Self.broadcast {
            let low = block * Self.slotsPerBlock, high = low + Self.slotsPerBlock - 1
            if let last = ranges.last, last.upperBound + 1 == low {
                ranges[ranges.count - 1] = last.lowerBound...high
            } else {
                ranges.append(low...high)
            }
        }
        return SlotRanges(uncheckedRanges: ranges)
    }

    /// How many hash slots the set covers.
    package var slotCount: Int { subtracting(BlockSet([Self.broadcast])).count * Self.slotsPerBlock }

    /// Fixed-width lowercase hex of the bitmap, word by word: the form kept in the group's hash.
    package var hex: String {
        words.map { word in
            let digits = String(word, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }.joined()
    }

    /// Parses ``hex``; nil for anything else (a peer of another version is then treated as confirming nothing).
    package init?(hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == Self.wordCount * 16 else { return nil }
        var words: [UInt64] = []
        for i in 0..<Self.wordCount {
            guard let word = UInt64(String(decoding: utf8[(i * 16)..<((i + 1) * 16)], as: UTF8.self), radix: 16) else { return nil }
            words.append(word)
        }
        self.words = words
    }

    /// `0-5455,10928-16383 + channels/patterns`, or `none`.
    package var description: String {
        var parts: [String] = []
        if slotCount > 0 { parts.append(slotRanges.description) }
        if hasBroadcast { parts.append("channels/patterns") }
        return parts.isEmpty ? "none" : parts.joined(separator: " + ")
    }
}
