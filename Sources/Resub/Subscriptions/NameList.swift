/// A list of names in one byte buffer, in order, duplicates kept: how a configuration's long lists are read
/// (a million channel names are 17 MB of bytes and 4 MB of ends, not a million `String`s), and what a
/// ``SubscriptionTable`` is bulk-loaded from, taking the bytes over as its own.
package struct NameList: Sendable, Equatable, RandomAccessCollection, ExpressibleByArrayLiteral {
    /// Every name's UTF-8 bytes, one after the other.
    package private(set) var bytes: [UInt8] = []
    /// Where each name ends in ``bytes``.
    private var ends: [UInt32] = []

    /// An empty list.
    package init() {}

    /// The names of `names`, in order.
    package init(_ names: some Sequence<String>) {
        for name in names { append(name) }
    }

    package init(arrayLiteral names: String...) {
        self.init(names)
    }

    /// Adds a name given as bytes.
    package mutating func append(_ name: UnsafeRawBufferPointer) {
        precondition(bytes.count + name.count <= Int(UInt32.max), "name list over 4 GiB")
        bytes.append(contentsOf: name)
        ends.append(UInt32(bytes.count))
    }

    /// Adds a name.
    package mutating func append(_ name: String) {
        var name = name
        name.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// Makes room for `count` more names of `bytes` bytes in all.
    package mutating func reserveCapacity(names count: Int, bytes: Int) {
        ends.reserveCapacity(ends.count + count)
        self.bytes.reserveCapacity(self.bytes.count + bytes)
    }

    package var startIndex: Int { 0 }
    package var endIndex: Int { ends.count }

    /// Where the `i`th name's bytes are in ``bytes``.
    package func range(_ i: Int) -> Range<Int> {
        (i == 0 ? 0 : Int(ends[i - 1]))..<Int(ends[i])
    }

    /// The `i`th name, as a new string.
    package subscript(i: Int) -> String {
        String(decoding: bytes[range(i)], as: UTF8.self)
    }

    /// Whether any name is empty (no string made).
    package var containsEmpty: Bool {
        var previous: UInt32 = 0
        for end in ends {
            if end == previous { return true }
            previous = end
        }
        return false
    }
}
