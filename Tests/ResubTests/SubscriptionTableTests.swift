import Resub
import Testing
import TestSupport

/// The one table of names with state bits.
@Suite("Subscription table")
struct SubscriptionTableTests {
    @Test("a name is stored once per kind; its state bits are set, cleared and counted")
    func states() {
        var table = SubscriptionTable()
        let a = table.insert(.channel, "orders.a")
        #expect(table.insert(.channel, "orders.a") == a, "the same row for the same name")
        let p = table.insert(.pattern, "orders.a")
        #expect(p != a, "kinds are separate")
        table.update(a, set: [.desired, .requested])
        table.update(p, set: .desired)
        #expect(table.count == 2)
        #expect(table.count(.channel, .desired) == 1 && table.count(.channel, .requested) == 1)
        #expect(table.count(.pattern, .desired) == 1 && table.count(.pattern, .requested) == 0)
        table.update(a, set: .confirmed, clear: .requested)
        #expect(table.state(a) == [.desired, .confirmed])
        #expect(table.count(.channel, .requested) == 0 && table.count(.channel, .confirmed) == 1)
        #expect(table.set(.confirmed) == SubscriptionSet(channels: ["orders.a"]))
        #expect(table.name(a) == "orders.a" && table.kind(p) == .pattern)
    }

    @Test("a row with no bit and no pin is freed and its number reused; a pinned row survives")
    func freeing() {
        var table = SubscriptionTable()
        let a = table.insert(.channel, "a")
        table.update(a, set: .desired)
        table.pin(a)
        table.update(a, clear: .desired)
        #expect(table.row(.channel, "a") == a, "pinned: still there")
        table.unpin(a)
        #expect(table.row(.channel, "a") == nil)
        #expect(table.count == 0)
        let b = table.insert(.channel, "b")
        #expect(b == a, "the freed row is reused")
        #expect(table.name(b) == "b")
    }

    @Test("100,000 names added, half removed and added again stay consistent through rehash and compaction")
    func many() {
        var table = SubscriptionTable()
        let names = (0..<100_000).map { "mem.channel.\($0)" }
        for name in names { table.update(table.insert(.channel, name), set: .desired) }
        #expect(table.count(.channel, .desired) == 100_000)
        for name in names where name.hasSuffix("1") || name.hasSuffix("3") {
            table.update(table.row(.channel, name)!, clear: .desired)
        }
        #expect(table.count == 80_000)
        for name in names where name.hasSuffix("1") { table.update(table.insert(.channel, name), set: .desired) }
        #expect(table.count == 90_000)
        let wrong = names.filter { (table.row(.channel, $0) != nil) == $0.hasSuffix("3") }
        #expect(wrong.isEmpty)
        let rows = table.rows(.channel, all: .desired)
        #expect(Set(rows.map { table.name($0) }) == Set(names.filter { !$0.hasSuffix("3") }))
    }

    @Test("a configured table holds each name once, desired and kept, and its bytes are read without a string")
    func configured() {
        let table = SubscriptionTable(configured: { kind in
            switch kind {
            case .channel: ["a", "b", "a", "c"]
            case .pattern: ["a", "p.*"]
            case .shardChannel: NameList()
            }
        })
        #expect(table.count == 5, "the repeated channel is stored once; a pattern of the same name is its own row")
        #expect(table.count(.channel, .desired) == 3 && table.count(.pattern, .desired) == 2)
        #expect(table.count(.channel, .requested) == 0 && table.count(.channel, .confirmed) == 0)
        #expect(table.rows(.channel, all: [.desired, .kept]).count == 3, "configured names are kept when refused")
        #expect(table.set(.desired) == SubscriptionSet(channels: ["a", "b", "c"], patterns: ["a", "p.*"]))
        var seen: [String] = []
        table.forEachName(.channel, .desired) { seen.append(String(decoding: $0, as: UTF8.self)) }
        #expect(seen == ["a", "b", "c"], "in row order, channels only")
        var none = 0
        table.forEachName(.channel, .confirmed) { _ in none += 1 }
        #expect(none == 0, "only the rows with the asked-for bits")
    }

    @Test("a configured table of 100,000 names, each given twice, finds every name in one row and takes changes after")
    func configuredLarge() {
        let names = (0..<100_000).map { "mem.channel.\($0)" }
        var table = SubscriptionTable(configured: { $0 == .channel ? NameList(names + names.reversed()) : [] })
        #expect(table.count == 100_000 && table.count(.channel, .desired) == 100_000)
        let rows = names.map { table.row(.channel, $0) }
        #expect(rows.allSatisfy { $0 != nil } && Set(rows).count == 100_000, "every name found, each in its own row")
        #expect(rows.enumerated().allSatisfy { $0.element == SubscriptionTable.Row($0.offset) }, "the first of each repeat kept, in order")
        #expect(table.row(.channel, "mem.channel.100000") == nil && table.row(.pattern, names[0]) == nil)
        let added = table.insert(.channel, "mem.channel.100000")
        #expect(added != rows[0] && table.row(.channel, "mem.channel.100000") == added, "inserting after a bulk load")
        table.update(rows[0]!, clear: [.desired, .kept])
        #expect(table.row(.channel, names[0]) == nil && table.count(.channel, .desired) == 99_999, "removing after a bulk load")
    }
}
