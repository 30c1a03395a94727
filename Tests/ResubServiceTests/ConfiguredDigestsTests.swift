import Resub
import ResubService
import Testing

/// SIGHUP's memory of the previous configuration: digests instead of a second copy of every name.
@Suite("Configured digests")
struct ConfiguredDigestsTests {
    @Test("contains answers for the configured names of each kind, and not across kinds")
    func membership() {
        let digests = ConfiguredDigests(SubscriptionTable(configured: SubscriptionSet(channels: ["orders", "a.b"], patterns: ["news.*"], shardChannels: ["user:{1}"])))
        #expect(digests.contains(.channel, "orders"))
        #expect(digests.contains(.channel, "a.b"))
        #expect(digests.contains(.pattern, "news.*"))
        #expect(digests.contains(.shardChannel, "user:{1}"))
        #expect(!digests.contains(.pattern, "orders"))
        #expect(!digests.contains(.channel, "news.*"))
        #expect(!digests.contains(.channel, "order"))
        #expect(!digests.contains(.channel, ""))
    }

    @Test("100,000 names: every one found, none of 100,000 others")
    func large() {
        let names = Set((0..<100_000).map { "mem.channel.\($0)" })
        let digests = ConfiguredDigests(SubscriptionTable(configured: SubscriptionSet(channels: names)))
        #expect(names.allSatisfy { digests.contains(.channel, $0) })
        #expect(!(100_000..<200_000).contains { digests.contains(.channel, "mem.channel.\($0)") })
    }

    @Test("a reload subscribes what is new, unsubscribes what the old file had and the new one drops, leaves admin-API names alone")
    func changes() {
        let digests = ConfiguredDigests(SubscriptionTable(configured: SubscriptionSet(channels: ["keep", "drop"], patterns: ["p.*"])))
        // "api" was added through the admin API; "drop" is still desired; "p.*" was unsubscribed by hand.
        let desired = SubscriptionSet(channels: ["keep", "drop", "api"])
        let fresh = SubscriptionSet(channels: ["keep", "new2", "new1"], patterns: ["q.*"])
        let changes = digests.changes(to: SubscriptionTable(configured: fresh), desired: desired)
        #expect(changes.count == 3)
        #expect(changes.contains { $0.kind == .channel && !$0.subscribe && $0.names == ["drop"] })
        #expect(changes.contains { $0.kind == .channel && $0.subscribe && $0.names == ["new1", "new2"] && $0.keepsRefused })
        #expect(changes.contains { $0.kind == .pattern && $0.subscribe && $0.names == ["q.*"] })
        #expect(!changes.contains { $0.names.contains("api") || $0.names.contains("keep") || $0.names.contains("p.*") })
    }

    @Test("the same file again changes nothing")
    func unchanged() {
        let set = SubscriptionSet(channels: ["a", "b"], patterns: ["c.*"], shardChannels: ["{d}"])
        let table = SubscriptionTable(configured: set)
        #expect(ConfiguredDigests(table).changes(to: table, desired: set).isEmpty)
    }
}
