/// The subscription state of one link, with no I/O: what the caller wants (desired), what the server will
/// have once every command sent so far is applied (requested), and what the server has confirmed.
///
/// Desired state, not commands: callers change the desired set; the machine answers with the commands that
/// converge the server to it. On every (re)connect it replays the whole desired set. Because Redis applies
/// commands in order, keeping `requested` equal to `desired` after each change is enough to converge, even
/// when a name is added and removed again before the first command is confirmed.
package struct SubscriptionStateMachine: Sendable {
    /// One command to send.
    package struct Command: Sendable, Hashable {
        /// The subscription kind.
        package var kind: SubscriptionKind
        /// Subscribe (true) or unsubscribe (false).
        package var subscribe: Bool
        /// The names, at most the batch size; shard channels all of one hash slot.
        package var names: [String]
    }

    package private(set) var desired = SubscriptionSet()
    package private(set) var requested = SubscriptionSet()
    package private(set) var confirmed = SubscriptionSet()
    package private(set) var isConnected = false
    /// Names per command.
    package let batchSize: Int

    /// Creates the machine, disconnected, with an initial desired set.
    package init(desired: SubscriptionSet = .init(), batchSize: Int = 1000) {
        precondition(batchSize > 0, "batch size must be positive")
        self.desired = desired
        self.batchSize = batchSize
    }

    /// Whether the server confirmed exactly the desired set.
    package var isFullyConfirmed: Bool { isConnected && confirmed == desired }

    /// The caller wants these names too. Returns the commands to send now (none while disconnected).
    package mutating func add(_ kind: SubscriptionKind, _ names: some Sequence<String>) -> [Command] {
        var new: [String] = []
        for name in names {
            desired[kind].insert(name)
            if isConnected, requested[kind].insert(name).inserted { new.append(name) }
        }
        return commands(kind, subscribe: true, new)
    }

    /// The caller no longer wants these names. Returns the commands to send now.
    package mutating func remove(_ kind: SubscriptionKind, _ names: some Sequence<String>) -> [Command] {
        var gone: [String] = []
        for name in names {
            desired[kind].remove(name)
            if isConnected, requested[kind].remove(name) != nil { gone.append(name) }
        }
        return commands(kind, subscribe: false, gone)
    }

    /// A connection is ready: replay everything desired.
    package mutating func connected() -> [Command] {
        isConnected = true
        requested = desired
        confirmed = SubscriptionSet()
        var all: [Command] = []
        for kind in SubscriptionKind.allCases {
            all += commands(kind, subscribe: true, Array(desired[kind]))
        }
        return all
    }

    /// The connection is gone: the server holds nothing for us any more.
    package mutating func disconnected() {
        isConnected = false
        requested = SubscriptionSet()
        confirmed = SubscriptionSet()
    }

    /// The server confirmed one name.
    package mutating func confirm(_ kind: SubscriptionKind, subscribe: Bool, name: String) {
        if subscribe {
            confirmed[kind].insert(name)
        } else {
            confirmed[kind].remove(name)
        }
    }

    /// The server unsubscribed a name on its own (e.g. a shard channel's slot moved away). It is still
    /// desired; returns the commands that ask for it again (on this link; a cluster manager re-routes instead).
    package mutating func lost(_ kind: SubscriptionKind, name: String) -> [Command] {
        confirmed[kind].remove(name)
        requested[kind].remove(name)
        guard isConnected, desired[kind].contains(name) else { return [] }
        requested[kind].insert(name)
        return commands(kind, subscribe: true, [name])
    }

    /// A subscribe command was refused: its names are no longer requested. With `dropDesired` they leave
    /// the desired set too (a live request that the caller is told failed).
    package mutating func refused(_ command: Command, dropDesired: Bool) {
        for name in command.names {
            if command.subscribe {
                requested[command.kind].remove(name)
                if dropDesired { desired[command.kind].remove(name) }
            }
        }
    }

    /// Splits names into commands of at most `batchSize` names; shard channels are grouped by hash slot
    /// (a cluster rejects an SSUBSCRIBE naming several slots with CROSSSLOT).
    package func commands(_ kind: SubscriptionKind, subscribe: Bool, _ names: [String]) -> [Command] {
        guard !names.isEmpty else { return [] }
        var result: [Command] = []
        if kind == .shardChannel {
            var bySlot: [UInt16: [String]] = [:]
            for name in names { bySlot[HashSlot(key: name).rawValue, default: []].append(name) }
            for slot in bySlot.keys.sorted() {
                let group = bySlot[slot]!
                for start in stride(from: 0, to: group.count, by: batchSize) {
                    result.append(Command(kind: kind, subscribe: subscribe, names: Array(group[start..<min(start + batchSize, group.count)])))
                }
            }
        } else {
            for start in stride(from: 0, to: names.count, by: batchSize) {
                result.append(Command(kind: kind, subscribe: subscribe, names: Array(names[start..<min(start + batchSize, names.count)])))
            }
        }
        return result
    }
}
