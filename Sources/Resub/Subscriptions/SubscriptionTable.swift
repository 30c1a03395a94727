/// Every subscription name of one link, each stored once as bytes, with its state as bits.
///
/// One table instead of parallel `Set<String>`s (desired, requested, confirmed, …): a name costs its bytes in
/// one shared buffer, a 12-byte row and two to four index slots of 5 bytes (about 45 bytes for `mem.channel.12345`,
/// against several hundred for the same name held as a `String` in three sets). Rows are addressed by
/// number; a row is reused once no state bit and no in-flight command refers to it. No I/O.
package struct SubscriptionTable: Sendable {
    /// A row number: stable while the row holds a state bit or a pin.
    package typealias Row = Int32

    /// What is true of a name, as bits of one byte.
    package struct State: OptionSet, Sendable, Hashable {
        package let rawValue: UInt8
        package init(rawValue: UInt8) { self.rawValue = rawValue }
        /// The caller wants it.
        package static let desired = State(rawValue: 1)
        /// Sent (or about to be): the server will have it once every command sent so far is applied.
        package static let requested = State(rawValue: 2)
        /// The server confirmed it.
        package static let confirmed = State(rawValue: 4)
        /// The server refused it; it stays desired and is retried on its own backoff.
        package static let refused = State(rawValue: 8)
        /// Kept when refused (configured, not a live request the caller is told failed).
        package static let kept = State(rawValue: 16)
        /// Wanted, but outside the served slots (the sharded manager's shard channels, kept for a change of slots).
        package static let outside = State(rawValue: 32)
        /// Reported once as outside the served slots (the sharded manager's shard channels).
        package static let ignored = State(rawValue: 64)
        /// The states that are counted per kind: the low four bits (desired, requested, confirmed, refused).
        static let countedBits = 4
    }

    private struct Entry: Sendable {
        var offset: UInt32
        var length: UInt32
        /// The kind's raw value, or `freeKind` for a row on the free list.
        var kind: UInt8
        var state: State
        /// In-flight commands (and change tickets) that refer to the row.
        var pins: UInt16
    }

    private static let freeKind: UInt8 = 0xFF
    private static let empty: Int32 = -1
    private static let deleted: Int32 = -2

    private var bytes: [UInt8] = []
    private var entries: [Entry] = []
    /// Open addressing (linear probing) from a name's hash to its row; a power of two long.
    private var index: [Int32] = []
    /// Eight bits of each occupied slot's hash, beside `index`: a probe that meets another name is told apart
    /// by this byte, without reading that name's row and bytes (two cache misses each in a large table).
    private var tags: [UInt8] = []
    private var freeRows: [Row] = []
    private var tombstones = 0
    private var garbageBytes = 0
    /// Per kind and counted state, how many rows have the bit.
    private var counts = [Int](repeating: 0, count: SubscriptionKind.allCases.count * State.countedBits)

    /// An empty table.
    package init() {}

    /// A table of configured names, each desired and kept (a refused configured name is reported and retried,
    /// never dropped): what a link starts from. `names` gives the names of each kind, duplicates allowed; the
    /// channels' bytes become the table's own buffer, as they are.
    ///
    /// Built in bulk: the rows are appended in order, then indexed in the order of their slots, so that the
    /// index (8 MB for a million names) is written front to back instead of at a random place per name.
    package init(configured names: (SubscriptionKind) -> NameList) {
        let lists = SubscriptionKind.allCases.map(names)
        let rows = lists.reduce(0) { $0 + $1.count }
        entries.reserveCapacity(rows)
        var hashes: [Int] = []
        hashes.reserveCapacity(rows)
        for (kind, list) in zip(SubscriptionKind.allCases, lists) where !list.isEmpty {
            let base = bytes.count
            precondition(base + list.bytes.count <= Int(UInt32.max), "subscription table over 4 GiB of names")
            if bytes.isEmpty { bytes = list.bytes } else { bytes.append(contentsOf: list.bytes) }
            bytes.withUnsafeBytes { all in
                for i in list.indices {
                    let range = list.range(i)
                    hashes.append(Self.hash(kind.rawValue, UnsafeRawBufferPointer(rebasing: all[base + range.lowerBound..<base + range.upperBound])))
                    entries.append(Entry(offset: UInt32(base + range.lowerBound), length: UInt32(range.count), kind: UInt8(kind.rawValue), state: [], pins: 0))
                }
            }
        }
        var size = 16
        while size < entries.count * 2 + 2 { size <<= 1 }
        index = [Int32](repeating: Self.empty, count: size)
        tags = [UInt8](repeating: 0, count: size)
        for row in Self.slotOrder(hashes, slots: size) {
            let entry = entries[Int(row)]
            let found = withName(row) { find(SubscriptionKind(rawValue: Int(entry.kind))!, $0, hash: hashes[Int(row)]) }
            guard found.row == nil else {
                // A repeat: the first of its name (a lower row, indexed earlier in the same bucket) stays.
                entries[Int(row)].kind = Self.freeKind
                freeRows.append(row)
                garbageBytes += Int(entry.length)
                continue
            }
            index[found.slot] = row
            tags[found.slot] = found.tag
            entries[Int(row)].state = [.desired, .kept]
            counts[Int(entry.kind) * State.countedBits] += 1
        }
    }

    /// The rows in the order of their first slot (a counting sort on the slot's top bits): inserted in this
    /// order, each name's probe lands next to the previous one's.
    private static func slotOrder(_ hashes: [Int], slots: Int) -> [Row] {
        let shift = max(0, slots.trailingZeroBitCount - 12)  // up to 4,096 buckets
        var starts = [Int](repeating: 0, count: (slots >> shift) + 1)
        for hash in hashes { starts[(hash & (slots - 1)) >> shift + 1] += 1 }
        for i in 1..<starts.count { starts[i] += starts[i - 1] }
        var order = [Row](repeating: 0, count: hashes.count)
        for (row, hash) in hashes.enumerated() {
            let bucket = (hash & (slots - 1)) >> shift
            order[starts[bucket]] = Row(row)
            starts[bucket] += 1
        }
        return order
    }

    /// A table of the configured names of `set`, each desired and kept.
    package init(configured set: SubscriptionSet) {
        self.init(configured: { NameList(set[$0]) })
    }

    /// Rows in use.
    package var count: Int { entries.count - freeRows.count }

    /// Rows of `kind` with `state` set (`state` one of desired, requested, confirmed, refused).
    package func count(_ kind: SubscriptionKind, _ state: State) -> Int {
        let bit = state.rawValue.trailingZeroBitCount
        precondition(state.rawValue.nonzeroBitCount == 1 && bit < State.countedBits, "\(state) is not counted")
        return counts[kind.rawValue * State.countedBits + bit]
    }

    /// Makes room for `rows` names of `bytes` bytes in all (one allocation each instead of repeated growth
    /// and rehashing while a large configuration is loaded).
    package mutating func reserveCapacity(rows: Int, bytes: Int) {
        entries.reserveCapacity(count + rows)
        self.bytes.reserveCapacity(self.bytes.count + bytes)
        if (count + rows) * 2 > index.count { rehash(minimum: count + rows) }
    }

    // MARK: Finding and adding names

    /// The row of a name, if present.
    package func row(_ kind: SubscriptionKind, _ name: String) -> Row? {
        var name = name
        return name.withUTF8 { find(kind, UnsafeRawBufferPointer($0)).row }
    }

    /// The row of a name, added with no state bit when absent.
    package mutating func insert(_ kind: SubscriptionKind, _ name: String) -> Row {
        var name = name
        return name.withUTF8 { insert(kind, UnsafeRawBufferPointer($0)) }
    }

    private mutating func insert(_ kind: SubscriptionKind, _ name: UnsafeRawBufferPointer) -> Row {
        if index.isEmpty || (count + tombstones + 1) * 2 > index.count { rehash(minimum: count + 1) }
        let found = find(kind, name)
        if let row = found.row { return row }
        if bytes.count + name.count > Int(UInt32.max) { preconditionFailure("subscription table over 4 GiB of names") }
        let entry = Entry(offset: UInt32(bytes.count), length: UInt32(name.count), kind: UInt8(kind.rawValue), state: [], pins: 0)
        bytes.append(contentsOf: name)
        let row: Row
        if let reused = freeRows.popLast() {
            row = reused
            entries[Int(row)] = entry
        } else {
            row = Row(entries.count)
            entries.append(entry)
        }
        if index[found.slot] == Self.deleted { tombstones -= 1 }
        index[found.slot] = row
        tags[found.slot] = found.tag
        return row
    }

    /// The slot holding the name's row, or the first free slot on its probe sequence.
    private func find(_ kind: SubscriptionKind, _ name: UnsafeRawBufferPointer) -> (row: Row?, slot: Int, tag: UInt8) {
        find(kind, name, hash: Self.hash(kind.rawValue, name))
    }

    private func find(_ kind: SubscriptionKind, _ name: UnsafeRawBufferPointer, hash: Int) -> (row: Row?, slot: Int, tag: UInt8) {
        let tag = Self.tag(hash)
        guard !index.isEmpty else { return (nil, 0, tag) }
        let mask = index.count - 1
        var slot = hash & mask
        var firstDeleted: Int?
        while true {
            let row = index[slot]
            if row == Self.empty { return (nil, firstDeleted ?? slot, tag) }
            if row == Self.deleted {
                if firstDeleted == nil { firstDeleted = slot }
            } else if tags[slot] == tag, matches(row, kind, name) {
                return (row, slot, tag)
            }
            slot = (slot + 1) & mask
        }
    }

    /// The tag byte of a hash: bits the slot number does not use (the slot takes the low bits).
    private static func tag(_ hash: Int) -> UInt8 { UInt8(truncatingIfNeeded: UInt(bitPattern: hash) >> 56) }

    private func matches(_ row: Row, _ kind: SubscriptionKind, _ name: UnsafeRawBufferPointer) -> Bool {
        let entry = entries[Int(row)]
        guard entry.kind == UInt8(kind.rawValue), Int(entry.length) == name.count else { return false }
        return bytes.withUnsafeBytes { all in
            name.isEmpty || memcmpEqual(all.baseAddress! + Int(entry.offset), name.baseAddress!, name.count)
        }
    }

    /// FNV-1a over the kind and the bytes (also the start of the SIGHUP digests, which mix it further).
    package static func hash(_ kind: Int, _ name: UnsafeRawBufferPointer) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(kind)
        for byte in name {
            h ^= UInt64(byte)
            h &*= 0x100_0000_01b3
        }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    private mutating func rehash(minimum: Int) {
        var size = 16
        while size < minimum * 2 + 2 { size <<= 1 }
        index = [Int32](repeating: Self.empty, count: size)
        tags = [UInt8](repeating: 0, count: size)
        tombstones = 0
        let mask = size - 1
        for row in entries.indices where entries[row].kind != Self.freeKind {
            let entry = entries[row]
            let hash = bytes.withUnsafeBytes { all in
                Self.hash(Int(entry.kind), UnsafeRawBufferPointer(rebasing: all[Int(entry.offset)..<Int(entry.offset + entry.length)]))
            }
            var slot = hash & mask
            while index[slot] != Self.empty { slot = (slot + 1) & mask }
            index[slot] = Row(row)
            tags[slot] = Self.tag(hash)
        }
    }

    // MARK: Reading rows

    /// The kind of a row.
    package func kind(_ row: Row) -> SubscriptionKind { SubscriptionKind(rawValue: Int(entries[Int(row)].kind))! }

    /// The state bits of a row.
    package func state(_ row: Row) -> State { entries[Int(row)].state }

    /// The name of a row, as a new string.
    package func name(_ row: Row) -> String {
        let entry = entries[Int(row)]
        return String(decoding: bytes[Int(entry.offset)..<Int(entry.offset + entry.length)], as: UTF8.self)
    }

    /// The name's bytes of a row, for the duration of `body`.
    package func withName<R>(_ row: Row, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let entry = entries[Int(row)]
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[Int(entry.offset)..<Int(entry.offset + entry.length)])) }
    }

    /// Every row of `kind` that has all bits of `all` and none of `none`, in row order.
    package func rows(_ kind: SubscriptionKind, all: State, none: State = []) -> [Row] {
        var result: [Row] = []
        result.reserveCapacity(all.isEmpty ? 0 : count(kind, all.contains(.desired) ? .desired : .requested))
        let raw = UInt8(kind.rawValue)
        for row in entries.indices {
            let entry = entries[row]
            if entry.kind == raw, entry.state.isSuperset(of: all), entry.state.isDisjoint(with: none) { result.append(Row(row)) }
        }
        return result
    }

    /// The names of the rows of `kind` with all bits of `state` (and whose bytes pass `filter`, if given), in
    /// row order: only those names are made into strings (e.g. the few keyspace names among 100,000 channels).
    package func names(_ kind: SubscriptionKind, _ state: State, where filter: (UnsafeRawBufferPointer) -> Bool = { _ in true }) -> [String] {
        rows(kind, all: state).filter { withName($0, filter) }.map(name)
    }

    /// Calls `body` with the bytes of each name of `kind` that has all bits of `state`, in row order (no string
    /// made: e.g. hashing a million configured names).
    package func forEachName(_ kind: SubscriptionKind, _ state: State, _ body: (UnsafeRawBufferPointer) -> Void) {
        let raw = UInt8(kind.rawValue)
        bytes.withUnsafeBytes { all in
            for entry in entries where entry.kind == raw && entry.state.isSuperset(of: state) {
                body(UnsafeRawBufferPointer(rebasing: all[Int(entry.offset)..<Int(entry.offset + entry.length)]))
            }
        }
    }

    /// The names of every row with all bits of `state`, as a set per kind (a view for callers; not kept).
    package func set(_ state: State) -> SubscriptionSet {
        var set = SubscriptionSet()
        for kind in SubscriptionKind.allCases {
            let rows = rows(kind, all: state)
            set[kind].reserveCapacity(rows.count)
            for row in rows { set[kind].insert(name(row)) }
        }
        return set
    }

    // MARK: Changing rows

    /// Sets and clears state bits; a row left with no bit and no pin is freed.
    package mutating func update(_ row: Row, set: State = [], clear: State = []) {
        let i = Int(row)
        let old = entries[i].state
        let new = old.subtracting(clear).union(set)
        guard new != old else { return release(row) }
        entries[i].state = new
        // Bit arithmetic, not a loop over an array of states: this runs once per name per state change.
        let base = Int(entries[i].kind) * State.countedBits
        var changed = (old.rawValue ^ new.rawValue) & (1 << State.countedBits - 1)
        while changed != 0 {
            let bit = changed.trailingZeroBitCount
            counts[base + bit] += new.rawValue & (1 << bit) != 0 ? 1 : -1
            changed &= changed - 1
        }
        release(row)
    }

    /// Clears `state` on every row that has it.
    package mutating func clearAll(_ state: State) {
        for row in entries.indices where entries[row].kind != Self.freeKind && !entries[row].state.isDisjoint(with: state) {
            update(Row(row), clear: state)
        }
    }

    /// Keeps a row alive while a command refers to it.
    package mutating func pin(_ row: Row) {
        entries[Int(row)].pins += 1
    }

    /// Undoes one ``pin(_:)``.
    package mutating func unpin(_ row: Row) {
        precondition(entries[Int(row)].pins > 0, "unpinning row \(row) with no pin")
        entries[Int(row)].pins -= 1
        release(row)
    }

    /// Frees the row if nothing refers to it any more.
    private mutating func release(_ row: Row) {
        let entry = entries[Int(row)]
        guard entry.state.isEmpty, entry.pins == 0, entry.kind != Self.freeKind else { return }
        let slot = withName(row) { find(SubscriptionKind(rawValue: Int(entry.kind))!, $0).slot }
        precondition(index[slot] == row, "row \(row) missing from the index")
        index[slot] = Self.deleted
        tombstones += 1
        entries[Int(row)].kind = Self.freeKind
        freeRows.append(row)
        garbageBytes += Int(entry.length)
        if garbageBytes > 4096, garbageBytes * 2 > bytes.count { compact() }
    }

    /// Copies the live names into a fresh buffer (rows keep their numbers).
    private mutating func compact() {
        var fresh: [UInt8] = []
        fresh.reserveCapacity(bytes.count - garbageBytes)
        for row in entries.indices where entries[row].kind != Self.freeKind {
            let entry = entries[row]
            entries[row].offset = UInt32(fresh.count)
            fresh.append(contentsOf: bytes[Int(entry.offset)..<Int(entry.offset + entry.length)])
        }
        bytes = fresh
        garbageBytes = 0
    }
}

/// Whether `count` bytes at `a` and `b` are equal.
private func memcmpEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ count: Int) -> Bool {
    var i = 0
    while i < count {
        if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
        i += 1
    }
    return true
}
