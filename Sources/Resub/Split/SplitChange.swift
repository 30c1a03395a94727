/// A change of the blocks a split group member serves, for logs and metrics.
public struct SplitChange: Sendable, Hashable, CustomStringConvertible {
    /// The member's id.
    public var member: String
    /// What is served now: slot ranges, plus `channels/patterns` for the group's broadcast member.
    public var serving: String
    /// The hash slots served now.
    public var slots: Int
    /// Slot ranges (and broadcast) taken on.
    public var gained: String
    /// Slot ranges (and broadcast) given up.
    public var released: String
    /// Blocks of 16 slots (or the broadcast pseudo-block) taken on and given up.
    public var gainedBlocks: Int, releasedBlocks: Int
    /// Why: `assignment` (the group changed), `lease lost`, `leaving`.
    public var reason: String

    /// Creates a change record.
    package init(member: String, serving: String, slots: Int, gained: String, released: String, gainedBlocks: Int, releasedBlocks: Int, reason: String) {
        self.member = member
        self.serving = serving
        self.slots = slots
        self.gained = gained
        self.released = released
        self.gainedBlocks = gainedBlocks
        self.releasedBlocks = releasedBlocks
        self.reason = reason
    }

    /// One line for the log.
    public var description: String {
        "split member \(member) (\(reason)): serving \(serving) (\(slots) slots); gained \(gained); released \(released)"
    }
}
