/// The subscription state of one link, with no I/O: what the caller wants (desired), what the server will
/// have once every command sent so far is applied (requested), and which commands are still unconfirmed
/// (in flight).
///
/// Desired state, not commands: callers change the desired set; the machine answers with the commands that
/// converge the server to it. On every (re)connect it replays the whole desired set. Because Redis applies
/// commands in order, keeping `requested` equal to `desired` after each change is enough to converge, even
/// when a name is added and removed again before the first command is confirmed.
///
/// Confirmations are counted per command by the connection; the machine only learns that a command
/// completed, and applies its names to `confirmed` then (commands complete in the order they were sent).
package struct SubscriptionStateMachine: Sendable {
    /// One command to send.
    package struct Command: Sendable, Hashable {
        /// Identifies the command while it is in flight.
        package var id: Int
        /// The subscription kind.
        package var kind: SubscriptionKind
        /// Subscribe (true) or unsubscribe (false).
        package var subscribe: Bool
        /// The names, at most the batch size; shard channels all of one hash slot.
        package var names: [String]
    }

    package private(set) var desired = SubscriptionSet()
    package private(set) var requested = SubscriptionSet()
    package private(set) var isConnected = false
    /// What the server has confirmed: the effect of every completed command, in order, and of the server's
    /// own drops. Updated once per command (not per confirmation frame).
    package private(set) var confirmed = SubscriptionSet()
    /// Commands sent and not yet confirmed or refused.
    package private(set) var inFlight: [Int: Command] = [:]
    private var nextID = 0
    /// Names per command.
    package let batchSize: Int

    /// Creates the machine, disconnected, with an initial desired set.
    package init(desired: SubscriptionSet = .init(), batchSize: Int = 1000) {
        precondition(batchSize > 0, "batch size must be positive")
        self.desired = desired
        self.batchSize = batchSize
    }

    /// Whether the server confirmed everything requested (which, while connected, is the desired set).
    package var isFullyConfirmed: Bool { isConnected && inFlight.isEmpty }

    /// The caller wants these names too. Returns the commands to send now (none while disconnected).
    package mutating func add(_ kind: SubscriptionKind, _ names: some Sequence<String>) -> [Command] {
        var new: [String] = []
        for name in names {
            desired[kind].insert(name)
            if isConnected, requested[kind].insert(name).inserted { new.append(name) }
        }
        return makeCommands(kind, subscribe: true, new)
    }

    /// The caller no longer wants these names. Returns the commands to send now.
    package mutating func remove(_ kind: SubscriptionKind, _ names: some Sequence<String>) -> [Command] {
        var gone: [String] = []
        for name in names {
            desired[kind].remove(name)
            if isConnected, requested[kind].remove(name) != nil { gone.append(name) }
        }
        return makeCommands(kind, subscribe: false, gone)
    }

    /// A connection is ready: replay everything desired.
    package mutating func connected() -> [Command] {
        isConnected = true
        requested = desired
        confirmed = SubscriptionSet()
        inFlight = [:]
        var all: [Command] = []
        for kind in SubscriptionKind.allCases {
            all += makeCommands(kind, subscribe: true, Array(desired[kind]))
        }
        return all
    }

    /// The connection is gone: the server holds nothing for us any more.
    package mutating func disconnected() {
        isConnected = false
        requested = SubscriptionSet()
        confirmed = SubscriptionSet()
        inFlight = [:]
    }

    /// Every name of a command was confirmed.
    package mutating func completed(_ command: Command) {
        guard inFlight.removeValue(forKey: command.id) != nil else { return }
        if command.subscribe {
            confirmed[command.kind].formUnion(command.names)
        } else {
            confirmed[command.kind].subtract(command.names)
        }
    }

    /// The server dropped a name on its own (e.g. a shard channel's slot moved away). It is still desired;
    /// returns the commands that ask for it again (on this link; a cluster manager re-routes instead).
    package mutating func lost(_ kind: SubscriptionKind, name: String) -> [Command] {
        confirmed[kind].remove(name)
        requested[kind].remove(name)
        guard isConnected, desired[kind].contains(name) else { return [] }
        requested[kind].insert(name)
        return makeCommands(kind, subscribe: true, [name])
    }

    /// The server dropped a name on its own and the owner will re-route it: it is no longer requested here
    /// (so a later ``add(_:_:)`` of it on this link sends it again). Returns nothing to send.
    package mutating func dropped(_ kind: SubscriptionKind, name: String) -> [Command] {
        confirmed[kind].remove(name)
        requested[kind].remove(name)
        return []
    }

    /// A subscribe command was refused: its names are no longer requested. With `dropDesired` they leave
    /// the desired set too (a live request that the caller is told failed).
    package mutating func refused(_ command: Command, dropDesired: Bool) {
        inFlight.removeValue(forKey: command.id)
        guard command.subscribe else { return }
        for name in command.names {
            requested[command.kind].remove(name)
            if dropDesired { desired[command.kind].remove(name) }
        }
    }

    /// Splits names into commands of at most `batchSize` names and records them in flight; shard channels
    /// are grouped by hash slot (a cluster rejects an SSUBSCRIBE naming several slots with CROSSSLOT).
    private mutating func makeCommands(_ kind: SubscriptionKind, subscribe: Bool, _ names: [String]) -> [Command] {
        let groups = Self.split(kind, names, batchSize: batchSize)
        var result: [Command] = []
        result.reserveCapacity(groups.count)
        for group in groups {
            nextID += 1
            let command = Command(id: nextID, kind: kind, subscribe: subscribe, names: group)
            inFlight[command.id] = command
            result.append(command)
        }
        return result
    }

    /// Groups names into batches of at most `batchSize`; shard channels one hash slot per batch.
    package static func split(_ kind: SubscriptionKind, _ names: [String], batchSize: Int) -> [[String]] {
        guard !names.isEmpty else { return [] }
        var result: [[String]] = []
        if kind == .shardChannel {
            var bySlot: [UInt16: [String]] = [:]
            for name in names { bySlot[HashSlot(key: name).rawValue, default: []].append(name) }
            for slot in bySlot.keys.sorted() {
                let group = bySlot[slot]!
                for start in stride(from: 0, to: group.count, by: batchSize) {
                    result.append(Array(group[start..<min(start + batchSize, group.count)]))
                }
            }
        } else {
            for start in stride(from: 0, to: names.count, by: batchSize) {
                result.append(Array(names[start..<min(start + batchSize, names.count)]))
            }
        }
        return result
    }
}
