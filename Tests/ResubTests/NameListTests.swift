import Resub
import Testing

/// Names in one buffer: a configuration's long lists.
@Suite("Name list")
struct NameListTests {
    @Test("names keep their order, duplicates and bytes; an empty name is found without a string")
    func basics() {
        var list: NameList = ["orders", "é.x", "orders"]
        #expect(Array(list) == ["orders", "é.x", "orders"])
        #expect(list.count == 3 && list.range(1) == 6..<10, "é is two bytes")
        #expect(!list.containsEmpty)
        list.append("")
        #expect(list.containsEmpty && list.count == 4 && list[3] == "")
        #expect(NameList().isEmpty && !NameList().containsEmpty)
        let empty: NameList = [""]
        #expect(empty.containsEmpty, "an empty first name")
        #expect(list.bytes.count == 16)
    }
}
