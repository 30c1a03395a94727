/// A set of hash slots given as ranges, e.g. `0-5460,10923-16383` (for `--slots`).
public struct SlotRanges: Sendable, Hashable, CustomStringConvertible {
    /// The ranges, sorted and merged.
    public private(set) var ranges: [ClosedRange<Int>]

    /// Every slot.
    public static let all = SlotRanges(uncheckedRanges: [0...(HashSlot.count - 1)])

    /// Ranges already sorted, merged and within 0-16383 (none: no slot at all).
    package init(uncheckedRanges: [ClosedRange<Int>]) { ranges = uncheckedRanges }

    /// No slot at all (`--slots auto` before the group assigned any).
    package static let none = SlotRanges(uncheckedRanges: [])

    /// Parses `a-b,c,d-e`.
    /// - Throws: ``ResubError`` (`invalidConfiguration`) naming the bad part.
    public init(parsing text: String) throws(ResubError) {
        var parsed: [ClosedRange<Int>] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0.trimmingPrefixSpaces()) }
            guard (1...2).contains(bounds.count), bounds.allSatisfy({ $0 != nil }) else {
                throw ResubError(.invalidConfiguration, "slot range '\(part)' is not N or N-M")
            }
            let low = bounds[0]!, high = bounds.last!!
            guard low >= 0, high < HashSlot.count, low <= high else {
                throw ResubError(.invalidConfiguration, "slot range '\(part)' must lie within 0-16383, low to high")
            }
            parsed.append(low...high)
        }
        parsed.sort { $0.lowerBound < $1.lowerBound }
        var merged: [ClosedRange<Int>] = []
        for r in parsed {
            if let last = merged.last, r.lowerBound <= last.upperBound + 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        ranges = merged
    }

    /// Whether `slot` is in one of the ranges.
    public func contains(_ slot: HashSlot) -> Bool {
        let s = Int(slot.rawValue)
        return ranges.contains { $0.contains(s) }
    }

    /// `0-5460,10923-16383`.
    public var description: String {
        ranges.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
    }
}

extension Substring {
    fileprivate func trimmingPrefixSpaces() -> Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}
