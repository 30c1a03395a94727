extension ShardedManager {
    /// These slot ranges, and with `broadcast` the plain channels, patterns and node-local names, are this
    /// instance's now:
    /// the channels entering them are subscribed, those leaving unsubscribed. The one entry point for a
    /// change of ownership (the automatic split calls it; static `--slots` is the same, fixed at start).
    package func serve(slots: SlotRanges, broadcast serveBroadcast: Bool) {
        carry(machine.slotsChanged(to: slots))
        // The node-local names (keyspace events) go with the plain channels: one member subscribes them on
        // every master, so each event arrives once across the group.
        carry(machine.nodeLocalServed(serveBroadcast))
        servesBroadcast = serveBroadcast
        if serveBroadcast {
            if broadcast == nil, !broadcastDesired.isEmpty { openBroadcast() }
        } else if let link = broadcast {
            link.stop()
            broadcast = nil
        }
    }

    /// The blocks among `blocks` whose every wanted subscription the servers confirmed (a block with no
    /// wanted channel counts as confirmed).
    package func confirmedBlocks(among blocks: BlockSet) -> BlockSet {
        // Called every step of the split: the wanted shard channels are read in the machine's store, not
        // copied into a set first.
        let wanted = desiredChannelsAndPatterns, have = confirmed
        var unconfirmed = BlockSet()
        machine.forEachWanted { name in
            if !have.shardChannels.contains(name) { unconfirmed.insert(BlockSet.block(of: HashSlot(key: name))) }
        }
        if !wanted.channels.isSubset(of: have.channels) || !wanted.patterns.isSubset(of: have.patterns) {
            unconfirmed.insert(BlockSet.broadcast)
        }
        return blocks.subtracting(unconfirmed)
    }

    /// `--slots auto`: the member's state (nil otherwise).
    package var splitStatus: SplitStatus? { split?.status }

    /// SIGTERM with `--slots auto`: leave the group, handing the blocks off (bounded); then `completion`.
    /// At once without a group.
    package func leaveSplitGroup(completion: @escaping () -> Void) {
        guard let split else { return completion() }
        split.leave(completion: completion)
    }

    /// Joins the split group when configured; until it assigns blocks, nothing is served.
    func startSplit() {
        guard let configuration = cluster.split, split == nil else { return }
        servesBroadcast = false
        carry(machine.nodeLocalServed(false))
        split = SplitCoordinator(manager: self, configuration: configuration)
        split?.start()
    }

    /// The master of the group's hash slot, once the topology is known.
    func splitEndpoint(for configuration: SplitConfiguration) -> RedisEndpoint? {
        machine.map?.owner(of: HashSlot(key: configuration.hashTag)).map { endpoint(for: $0) }
    }
}
