import RESP

/// What one membership round trip returned: the group's live members and what each has confirmed.
package struct GroupView: Equatable, Sendable {
    /// The live members (lease not expired), sorted.
    package var members: [String]
    /// The blocks each member has subscribed and confirmed, as it last published them.
    package var confirmed: [String: BlockSet]
    /// This member held no lease before this renewal: it is new, or its lease expired and others may have
    /// taken its blocks.
    package var wasAbsent: Bool

    /// Creates a view.
    package init(members: [String], confirmed: [String: BlockSet] = [:], wasAbsent: Bool = false) {
        self.members = members.sorted()
        self.confirmed = confirmed
        self.wasAbsent = wasAbsent
    }

    /// Parses the reply of ``MembershipScript``: `[absent (0/1), [member...], [member, hex, member, hex...]]`.
    package init?(reply: RESPValue) {
        guard let parts = reply.elements, parts.count == 3, let absent = parts[0].int,
              let members = parts[1].elements?.compactMap(\.string), let pairs = parts[2].elements?.compactMap(\.string),
              pairs.count % 2 == 0 else { return nil }
        var confirmed: [String: BlockSet] = [:]
        for i in stride(from: 0, to: pairs.count, by: 2) {
            if let set = BlockSet(hex: pairs[i + 1]) { confirmed[pairs[i]] = set }
        }
        self.init(members: members, confirmed: confirmed, wasAbsent: absent != 0)
    }
}
