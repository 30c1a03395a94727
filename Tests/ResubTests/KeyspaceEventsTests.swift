import Resub
import Testing

@Suite("Keyspace events")
struct KeyspaceEventsTests {
    @Test("keyspace and keyevent channels and patterns are node-local; anything else is not")
    func nodeLocalNames() {
        for name in ["__keyspace@0__:user:1", "__keyevent@0__:expired", "__keyspace@*__:*", "__keyevent@15__:*"] {
            #expect(KeyspaceEvents.isNodeLocal(name), "\(name)")
        }
        for name in ["orders", "__keyspace", "_keyspace@0__:x", "__key*__:*", "__redis__:invalidate", "x__keyspace@0__:y", ""] {
            #expect(!KeyspaceEvents.isNodeLocal(name), "\(name)")
        }
    }

    @Test("switched off: a keyevent channel needs E and its event's class, a keyspace pattern K and some class")
    func allOff() {
        #expect(KeyspaceEvents.missingFlags(configured: "", names: ["__keyevent@0__:expired"]) == "Ex")
        #expect(KeyspaceEvents.missingFlags(configured: "", names: ["__keyevent@0__:set"]) == "E$")
        #expect(KeyspaceEvents.missingFlags(configured: "", names: ["__keyspace@0__:*"]) == "KA")
        #expect(KeyspaceEvents.missingFlags(configured: "", names: ["__keyspace@0__:*", "__keyevent@0__:del", "orders"]) == "KEAg")
    }

    @Test("what the server has is not asked for; A covers every class but m and n")
    func partlyOn() {
        #expect(KeyspaceEvents.missingFlags(configured: "AKE", names: ["__keyspace@0__:*", "__keyevent@0__:expired"]) == "")
        #expect(KeyspaceEvents.missingFlags(configured: "Ex", names: ["__keyevent@0__:expired"]) == "")
        #expect(KeyspaceEvents.missingFlags(configured: "Ex", names: ["__keyspace@0__:k"]) == "K")
        #expect(KeyspaceEvents.missingFlags(configured: "Kx", names: ["__keyevent@0__:evicted"]) == "Ee")
        #expect(KeyspaceEvents.missingFlags(configured: "AE", names: ["__keyevent@0__:keymiss", "__keyevent@0__:new"]) == "mn")
        // Some class on is enough for names whose events are not known.
        #expect(KeyspaceEvents.missingFlags(configured: "Kg", names: ["__keyspace@0__:*"]) == "")
        #expect(KeyspaceEvents.missingFlags(configured: "E$", names: ["__keyevent@*__:*"]) == "")
        #expect(KeyspaceEvents.missingFlags(configured: "KEA", names: ["orders", "news.*"]) == "")
    }
}
