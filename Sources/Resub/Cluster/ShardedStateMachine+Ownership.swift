extension ShardedStateMachine {
    /// The served slots become `newSlots` (static `--slots` and the automatic split alike): the wanted
    /// channels entering them are routed and subscribed first, then those leaving are unsubscribed, so a
    /// node that keeps some channels keeps its link. Nothing is reported as ignored.
    package mutating func slotsChanged(to newSlots: SlotRanges) -> [Action] {
        slots = newSlots
        let entering = outside.filter { newSlots.contains(HashSlot(key: $0)) }
        let leaving = desired.filter { !newSlots.contains(HashSlot(key: $0)) }
        outside.subtract(entering)
        var actions = add(Array(entering).sorted())
        actions += remove(Array(leaving).sorted())
        outside.formUnion(leaving)
        return actions
    }
}
