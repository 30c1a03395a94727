/// A split group member's state, for `/readyz`.
package struct SplitStatus: Sendable {
    /// The group's name.
    package var group: String
    /// This member's id.
    package var member: String
    /// The live members as the last round found them.
    package var members: Int
    /// Whether the member holds its lease.
    package var leaseHeld: Bool
    /// The slot ranges served.
    package var ranges: String
    /// The hash slots served.
    package var slots: Int
    /// Whether the member serves the plain channels and patterns.
    package var broadcast: Bool
    /// Blocks subscribed but not confirmed yet, and blocks being handed off.
    package var acquiring: Int, releasing: Int

    /// Settled: holding the lease, with no handoff under way.
    package var isSettled: Bool { leaseHeld && acquiring == 0 && releasing == 0 }
}
