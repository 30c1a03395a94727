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

    /// Whether this instance subscribes the node-local names: on (the default, and for the split group's member
    /// that serves the plain channels) they go to every master that owns a slot; off, they leave every link
    /// (and links left with nothing close). They stay wanted either way, so switching back on restores them.
    package mutating func nodeLocalServed(_ serve: Bool) -> [Action] {
        guard serve != servesNodeLocal else { return [] }
        servesNodeLocal = serve
        var names = nodeLocal
        names.shardChannels = []
        guard !names.isEmpty else { return [] }
        if serve {
            guard map != nil else { return [.refreshTopology] }
            return eventNodes.sorted { $0.key < $1.key }.flatMap { grant(names, to: $0.value) }
        }
        return links.keys.sorted().flatMap { withdraw(names, from: $0) }
    }
}
