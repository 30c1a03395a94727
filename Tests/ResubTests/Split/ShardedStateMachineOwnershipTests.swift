import Resub
import Testing

@Suite("Sharded state machine: a change of the served slots")
struct ShardedStateMachineOwnershipTests {
    private let a = ClusterNode(id: String(repeating: "a", count: 40), host: "127.0.0.1", port: 7001, isMaster: true)
    private let b = ClusterNode(id: String(repeating: "b", count: 40), host: "127.0.0.1", port: 7002, isMaster: true)

    private func names(inSlots range: ClosedRange<Int>, count: Int, prefix: String) -> [String] {
        var found: [String] = []
        var i = 0
        while found.count < count {
            let name = "\(prefix)-\(i)"
            if range.contains(Int(HashSlot(key: name).rawValue)) { found.append(name) }
            i += 1
        }
        return found
    }

    @Test("channels entering the slots are subscribed first, those leaving unsubscribed after; removed ones never come back")
    func slotsChange() throws {
        var map = ShardMap()
        map.assign(0...8191, to: a)
        map.assign(8192...16383, to: b)
        var machine = ShardedStateMachine(slots: .none)
        _ = machine.topologyChanged(map)
        let low = names(inSlots: 0...8191, count: 3, prefix: "low"), high = names(inSlots: 8192...16383, count: 3, prefix: "high")
        let added = machine.add(low + high)
        #expect(added.allSatisfy { if case .ignored = $0 { return true } else { return false } })
        #expect(machine.desired.isEmpty)

        #expect(machine.slotsChanged(to: try SlotRanges(parsing: "0-8191")) == [.openLink(node: a, names: SubscriptionSet(shardChannels: Set(low)))])
        #expect(machine.desired == Set(low))

        // Move to the other half: b's link opens before a's closes.
        #expect(machine.slotsChanged(to: try SlotRanges(parsing: "8192-16383")) == [.openLink(node: b, names: SubscriptionSet(shardChannels: Set(high))), .closeLink(node: a.address)])

        // A channel removed while outside the slots is not subscribed when its slot comes back.
        _ = machine.remove([low[0]])
        let back = machine.slotsChanged(to: .all)
        #expect(back == [.openLink(node: a, names: SubscriptionSet(shardChannels: Set(low.dropFirst())))])
        #expect(machine.slotsChanged(to: .all).isEmpty)
    }
}
