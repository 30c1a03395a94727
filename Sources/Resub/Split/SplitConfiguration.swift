#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Cluster mode, `--slots auto`: the instances of one group share the slots among the live members.
public struct SplitConfiguration: Sendable, Hashable {
    /// The group's name; its keys live under the hash tag `{resub:NAME}`.
    public var group: String
    /// How long a member's lease lasts without renewal: a dead member's slots move after at most this
    /// plus about one second.
    public var memberTTL: Duration
    /// This member's id: the join time first, so ids sort by age (see `SlotAssignment`).
    public var memberID: String

    /// Creates the configuration; `memberID` defaults to join time, host and process id.
    public init(group: String = "resub", memberTTL: Duration = .seconds(5), memberID: String? = nil) {
        self.group = group
        self.memberTTL = memberTTL
        self.memberID = memberID ?? Self.makeMemberID()
    }

    /// The hash tag every key of the group shares, so one master holds them all and one script sees them.
    package var hashTag: String { "{resub:\(group)}" }

    /// How often a member renews its lease and reads the group: every TTL/3, and at least twice a second
    /// so that a member leaving (SIGTERM) is noticed well within its 2 s bound.
    package var renewalPeriod: Duration { min(memberTTL / 3, .milliseconds(500)) }

    private static func makeMemberID() -> String {
        let joined = UInt64(max(0, RFC3339.wallClockSeconds() * 1000))
        let digits = String(joined, radix: 10)
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count - 1) == 0 ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "host"
        let random = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return String(repeating: "0", count: max(0, 15 - digits.count)) + digits + "-" + host + "-" + random
    }
}
