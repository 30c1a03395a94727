import Resub

/// The subscriptions the configuration asked for last, kept as 64-bit digests (8 bytes a name, sorted) rather
/// than as a second copy of every name: the names themselves live once, in the links' subscription tables.
/// SIGHUP needs only to tell, of a name, whether the previous configuration had it. Pure value.
///
/// Two different names with the same digest would make a removed name look configured (or a new one look
/// already applied); with 64 bits and a million names the chance is about 3 in 100 million.
package struct ConfiguredDigests: Sendable {
    private var digests: [[UInt64]]

    /// The digests of the desired names of `table`, read as bytes (no string per name).
    package init(_ table: SubscriptionTable) {
        digests = SubscriptionKind.allCases.map { kind in
            var list = [UInt64]()
            list.reserveCapacity(table.count(kind, .desired))
            table.forEachName(kind, .desired) { list.append(Self.digest(kind, $0)) }
            list.sort()
            return list
        }
    }

    /// Whether the configuration had `name` as a `kind`.
    package func contains(_ kind: SubscriptionKind, _ name: String) -> Bool {
        var name = name
        return name.withUTF8 { contains(kind, UnsafeRawBufferPointer($0)) }
    }

    private func contains(_ kind: SubscriptionKind, _ name: UnsafeRawBufferPointer) -> Bool {
        let list = digests[kind.rawValue]
        let target = Self.digest(kind, name)
        var low = 0, high = list.count
        while low < high {
            let mid = (low + high) / 2
            if list[mid] < target { low = mid + 1 } else { high = mid }
        }
        return low < list.count && list[low] == target
    }

    /// The changes that take the live subscriptions from the previous configuration to `fresh` (a reloaded
    /// configuration's names): names configured now and not before are subscribed; names configured before,
    /// gone from `fresh` and still `desired` are unsubscribed. Names added otherwise (the admin API) are left
    /// alone. Sorted, per kind.
    package func changes(to fresh: SubscriptionTable, desired: SubscriptionSet) -> [SubscriptionChange] {
        var changes: [SubscriptionChange] = []
        for kind in SubscriptionKind.allCases {
            let gone = desired[kind].filter { contains(kind, $0) && fresh.row(kind, $0) == nil }.sorted()
            let new = fresh.names(kind, .desired, where: { !contains(kind, $0) }).sorted()
            if !gone.isEmpty { changes.append(SubscriptionChange(kind, gone, subscribe: false)) }
            // Configured names are kept when refused: reported and retried, not dropped.
            if !new.isEmpty { changes.append(SubscriptionChange(kind, new, subscribe: true, keepsRefused: true)) }
        }
        return changes
    }

    /// The subscription table's hash of the name (FNV-1a over the kind and the bytes), finished with a 64-bit
    /// mix (splitmix64's) so that every bit of the digest depends on every byte.
    private static func digest(_ kind: SubscriptionKind, _ name: UnsafeRawBufferPointer) -> UInt64 {
        var h = UInt64(bitPattern: Int64(SubscriptionTable.hash(kind.rawValue, name)))
        h = (h ^ (h >> 30)) &* 0xbf58_476d_1ce4_e5b9
        h = (h ^ (h >> 27)) &* 0x94d0_49bb_1331_11eb
        return h ^ (h >> 31)
    }
}
