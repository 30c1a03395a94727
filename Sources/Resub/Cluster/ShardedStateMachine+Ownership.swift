extension ShardedStateMachine {
    /// The served slots become `newSlots` (static `--slots` and the automatic split alike): the wanted
    /// channels entering them are routed and subscribed first, then those leaving are unsubscribed, so a
    /// node that keeps some channels keeps its link. Nothing is reported as ignored.
    package mutating func slotsChanged(to newSlots: SlotRanges) -> [Action] {
        slots = newSlots
        var leaving: [String] = [], entering: [String] = []
        for row in shards.rows(.shardChannel, all: .desired) where !newSlots.contains(slot(row)) {
            leaving.append(shards.name(row))
        }
        for row in shards.rows(.shardChannel, all: .outside) where newSlots.contains(slot(row)) {
            entering.append(shards.name(row))
            shards.update(row, clear: .outside)
        }
        var actions = add(entering.sorted())
        actions += remove(leaving.sorted())
        for name in leaving { shards.update(shards.insert(.shardChannel, name), set: .outside) }
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
        return openLinks.keys.sorted().flatMap { withdraw(names, from: $0) }
    }
}
