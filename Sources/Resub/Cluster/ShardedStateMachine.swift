/// The routing of the sharded manager, with no I/O: which names each node's link holds, and when a link
/// opens and closes.
///
/// Two kinds of names live on per-node links:
/// - shard channels, each on the master that owns its hash slot (from the ``ShardMap``);
/// - node-local names (keyspace and keyevent channels and patterns, see ``KeyspaceEvents``), on every master
///   that owns at least one slot: each node publishes only its own keys' events, and replicas are left out
///   so that every event arrives once (in a split group, only on the member that serves the plain channels).
/// A node's link holds both kinds together. It is opened when the node gets its first name and closed,
/// exactly once, when it loses its last; no interleaving of requests can close it twice or leave a name on a
/// node that no longer should have it. Correct by construction: the machine alone decides, every input is
/// handled on one thread, and it answers with actions.
package struct ShardedStateMachine: Sendable {
    /// What the owner must do.
    package enum Action: Equatable, Sendable {
        /// Open a link to `node` subscribing `names`.
        case openLink(node: ClusterNode, names: SubscriptionSet)
        /// Add `names` of `kind` to the open link of `node`.
        case add(node: String, kind: SubscriptionKind, names: [String])
        /// Remove `names` of `kind` from the open link of `node`.
        case remove(node: String, kind: SubscriptionKind, names: [String])
        /// Close the link of `node` (its last name is gone).
        case closeLink(node: String)
        /// These names are outside the served slot ranges and are ignored (log once).
        case ignored(names: [String])
        /// Some wanted name has no known node: ask the cluster for its topology.
        case refreshTopology
    }

    /// Every shard channel named to the machine, each once, as bytes, in one ``SubscriptionTable`` of
    /// `.shardChannel` rows: wanted within the served slots (`.desired`), wanted outside them (`.outside`, kept
    /// so that a change of slots can serve them), reported as ignored (`.ignored`, so that each is reported
    /// once). The routing of a wanted row is one number beside it (`rowNodes`), not a name kept per node.
    package internal(set) var shards = SubscriptionTable()
    /// Per row of `shards`: the number of the node (an index into `nodeAddresses`) its wanted channel is on,
    /// or -1 (no known master, or not wanted within the served slots).
    private var rowNodes: [Int32] = []
    /// The addresses of the nodes met so far, by number (a cluster has a handful: numbers are not reused).
    private var nodeAddresses: [String] = []
    /// The number of each node address in `nodeAddresses`.
    private var nodeNumbers: [String: Int32] = [:]
    /// Per node number, how many wanted shard channels are routed to it: its link opens with the first and
    /// closes with the last, in O(1).
    private var shardCounts: [Int] = []
    /// How many wanted shard channels have no known master.
    package private(set) var unassignedCount = 0
    /// The node-local names each open link holds, by node address; a node is here exactly while its link is
    /// open (its shard channels are the rows routed to it).
    private(set) var openLinks: [String: SubscriptionSet] = [:]
    /// The node-local channels and patterns wanted (their `shardChannels` is always empty).
    package private(set) var nodeLocal = SubscriptionSet()
    /// The masters that own at least one slot, by address: the nodes that carry the node-local names.
    package private(set) var eventNodes: [String: ClusterNode] = [:]
    /// Whether this instance subscribes the node-local names at all: in a split group only the member that
    /// serves the plain channels does, so that every event arrives once across the group (see
    /// `nodeLocalServed(_:)`). Always true otherwise.
    package internal(set) var servesNodeLocal = true
    /// The topology in use.
    package private(set) var map: ShardMap?
    /// The slots this instance serves (`--slots`, or the split group's share: see `slotsChanged`); node-local
    /// names are not filtered by slot (a master's events cannot be split by key).
    package internal(set) var slots: SlotRanges

    /// Creates the machine for the given slot ranges.
    package init(slots: SlotRanges = .all) {
        self.slots = slots
    }

    /// The nodes with an open link.
    package var openNodes: Set<String> { Set(openLinks.keys) }

    // MARK: Reading the store (lookups in place; the sets and dictionaries are views built on demand)

    /// Whether shard channel `name` is wanted within the served slots.
    package func wants(_ name: String) -> Bool {
        shards.row(.shardChannel, name).map { shards.state($0).contains(.desired) } ?? false
    }

    /// The node (address) wanted shard channel `name` is on, if it is wanted and its slot's master is known.
    package func node(of name: String) -> String? {
        guard let row = shards.row(.shardChannel, name), Int(row) < rowNodes.count else { return nil }
        let node = rowNodes[Int(row)]
        return node < 0 ? nil : nodeAddresses[Int(node)]
    }

    /// How many shard channels are wanted within the served slots.
    package var desiredCount: Int { shards.count(.shardChannel, .desired) }

    /// How many wanted shard channels are routed to `node` (its link's shard channels).
    package func shardCount(on node: String) -> Int {
        nodeNumbers[node].map { shardCounts[Int($0)] } ?? 0
    }

    /// Calls `body` with each shard channel wanted within the served slots, in row order (no set is built).
    package func forEachWanted(_ body: (String) -> Void) {
        for row in shards.rows(.shardChannel, all: .desired) { body(shards.name(row)) }
    }

    /// The shard channels wanted (within the served slots): a view.
    package var desired: Set<String> { names(all: .desired) }

    /// Wanted channels outside the served slots: a view.
    package var outside: Set<String> { names(all: .outside) }

    /// Wanted shard channels whose slot has no known master: a view.
    package var unassigned: Set<String> {
        Set(shards.rows(.shardChannel, all: .desired).lazy.filter { self.rowNodes[Int($0)] < 0 }.map(shards.name))
    }

    /// The node (address) each assigned shard channel is on: a view.
    package var nodeOf: [String: String] {
        var result: [String: String] = [:]
        for row in shards.rows(.shardChannel, all: .desired) where rowNodes[Int(row)] >= 0 {
            result[shards.name(row)] = nodeAddresses[Int(rowNodes[Int(row)])]
        }
        return result
    }

    /// What each open link holds, by node address: a view.
    package var links: [String: SubscriptionSet] {
        var result = openLinks
        for (name, node) in nodeOf { result[node]?.shardChannels.insert(name) }
        return result
    }

    /// The shard channels of each open link that holds some: a view.
    package var assignment: [String: Set<String>] {
        links.compactMapValues { $0.shardChannels.isEmpty ? nil : $0.shardChannels }
    }

    /// The names of the rows with all bits of `state`, as a new set.
    private func names(all state: SubscriptionTable.State) -> Set<String> {
        Set(shards.rows(.shardChannel, all: state).map(shards.name))
    }

    /// The hash slot of a row's name, read from its bytes in place.
    func slot(_ row: SubscriptionTable.Row) -> HashSlot {
        shards.withName(row) { HashSlot(key: $0) }
    }

    // MARK: Shard channels

    /// Wants shard channels `names` too.
    package mutating func add(_ names: [String]) -> [Action] {
        var actions: [Action] = []
        var newlyIgnored: [String] = []
        var byNode: [String: (ClusterNode, [String])] = [:]
        var needRefresh = false
        if shards.count == 0 {
            // A first large batch (a configuration): one allocation each instead of repeated growth.
            shards.reserveCapacity(rows: names.count, bytes: names.reduce(0) { $0 + $1.utf8.count })
            rowNodes.reserveCapacity(names.count)
        }
        for name in names {
            let slot = HashSlot(key: name)
            guard slots.contains(slot) else {
                let row = shards.insert(.shardChannel, name)
                if !shards.state(row).contains(.ignored) { newlyIgnored.append(name) }
                shards.update(row, set: [.outside, .ignored])
                continue
            }
            let row = shards.insert(.shardChannel, name)
            guard !shards.state(row).contains(.desired) else { continue }
            want(row)
            if let owner = map?.owner(of: slot) {
                byNode[owner.address, default: (owner, [])].1.append(name)
                route(row, to: number(of: owner.address))
            } else {
                needRefresh = true
            }
        }
        if !newlyIgnored.isEmpty { actions.append(.ignored(names: newlyIgnored)) }
        for (_, (node, list)) in byNode.sorted(by: { $0.key < $1.key }) {
            actions += grant(.shardChannel, list, to: node)
        }
        if needRefresh { actions.append(.refreshTopology) }
        return actions
    }

    /// No longer wants shard channels `names`.
    package mutating func remove(_ names: [String]) -> [Action] {
        var byNode: [String: [String]] = [:]
        for name in names {
            guard let row = shards.row(.shardChannel, name) else { continue }
            let node = shards.state(row).contains(.desired) ? unwant(row) : -1
            shards.update(row, clear: [.desired, .outside])
            if node >= 0 { byNode[nodeAddresses[Int(node)], default: []].append(name) }
        }
        var actions: [Action] = []
        for (node, list) in byNode.sorted(by: { $0.key < $1.key }) {
            actions += withdraw(.shardChannel, list, from: node)
        }
        return actions
    }

    // MARK: Routing rows

    /// Marks `row` wanted within the served slots, with no node yet.
    private mutating func want(_ row: SubscriptionTable.Row) {
        shards.update(row, set: .desired)
        while rowNodes.count <= Int(row) { rowNodes.append(-1) }
        rowNodes[Int(row)] = -1
        unassignedCount += 1
    }

    /// Takes wanted `row` off its node, returning that node's number (or -1); the caller clears `.desired`.
    private mutating func unwant(_ row: SubscriptionTable.Row) -> Int32 {
        let node = rowNodes[Int(row)]
        route(row, to: -1)
        unassignedCount -= 1
        return node
    }

    /// Routes wanted `row` to node number `node` (-1: none), keeping the per-node and unassigned counts.
    private mutating func route(_ row: SubscriptionTable.Row, to node: Int32) {
        let old = rowNodes[Int(row)]
        guard old != node else { return }
        if old < 0 { unassignedCount -= 1 } else { shardCounts[Int(old)] -= 1 }
        if node < 0 { unassignedCount += 1 } else { shardCounts[Int(node)] += 1 }
        rowNodes[Int(row)] = node
    }

    /// The number of a node address, given one when first met.
    private mutating func number(of address: String) -> Int32 {
        if let number = nodeNumbers[address] { return number }
        let number = Int32(nodeAddresses.count)
        nodeAddresses.append(address)
        nodeNumbers[address] = number
        shardCounts.append(0)
        return number
    }

    // MARK: Node-local names

    /// Wants node-local channels or patterns `names` too, on every master that owns a slot.
    package mutating func addNodeLocal(_ kind: SubscriptionKind, _ names: [String]) -> [Action] {
        precondition(kind != .shardChannel, "shard channels are routed by slot, not node-local")
        let new = Set(names).subtracting(nodeLocal[kind])
        guard !new.isEmpty else { return [] }
        nodeLocal[kind].formUnion(new)
        guard servesNodeLocal else { return [] }
        guard map != nil else { return [.refreshTopology] }
        let list = new.sorted()
        return eventNodes.sorted { $0.key < $1.key }.flatMap { grant(kind, list, to: $0.value) }
    }

    /// No longer wants node-local channels or patterns `names`.
    package mutating func removeNodeLocal(_ kind: SubscriptionKind, _ names: [String]) -> [Action] {
        precondition(kind != .shardChannel, "shard channels are routed by slot, not node-local")
        let gone = Set(names).intersection(nodeLocal[kind])
        guard !gone.isEmpty else { return [] }
        nodeLocal[kind].subtract(gone)
        let list = gone.sorted()
        return openLinks.keys.sorted().flatMap { withdraw(kind, list, from: $0) }
    }

    // MARK: Topology

    /// A new topology: route every wanted shard channel to its slot's master and the node-local names to
    /// every master that owns a slot, moving what changed. Every addition comes before every removal, so a
    /// node that keeps some names is never closed and reopened.
    package mutating func topologyChanged(_ newMap: ShardMap) -> [Action] {
        map = newMap
        var additions: [String: (node: ClusterNode, names: SubscriptionSet)] = [:]
        var removals: [String: SubscriptionSet] = [:]
        for row in shards.rows(.shardChannel, all: .desired) {
            let current = rowNodes[Int(row)]
            let owner = newMap.owner(of: slot(row))
            let target = owner.map { number(of: $0.address) } ?? -1
            guard current != target else { continue }
            let name = shards.name(row)
            if current >= 0 { removals[nodeAddresses[Int(current)], default: SubscriptionSet()].shardChannels.insert(name) }
            if let owner { additions[owner.address, default: (owner, SubscriptionSet())].names.shardChannels.insert(name) }
            route(row, to: target)
        }
        let newEventNodes = Dictionary(newMap.mastersWithSlots.map { ($0.address, $0) }, uniquingKeysWith: { first, _ in first })
        if !nodeLocal.isEmpty && servesNodeLocal {
            for (address, node) in newEventNodes where eventNodes[address] == nil {
                additions[address, default: (node, SubscriptionSet())].names.channels.formUnion(nodeLocal.channels)
                additions[address, default: (node, SubscriptionSet())].names.patterns.formUnion(nodeLocal.patterns)
            }
            for address in eventNodes.keys where newEventNodes[address] == nil {
                removals[address, default: SubscriptionSet()].channels.formUnion(nodeLocal.channels)
                removals[address, default: SubscriptionSet()].patterns.formUnion(nodeLocal.patterns)
            }
        }
        eventNodes = newEventNodes
        var actions: [Action] = []
        for (_, (node, names)) in additions.sorted(by: { $0.key < $1.key }) {
            actions += grant(names, to: node)
        }
        for (node, names) in removals.sorted(by: { $0.key < $1.key }) {
            actions += withdraw(names, from: node)
        }
        return actions
    }

    // MARK: Opening, adding, removing, closing

    private mutating func grant(_ kind: SubscriptionKind, _ names: [String], to node: ClusterNode) -> [Action] {
        var set = SubscriptionSet()
        set[kind] = Set(names)
        return grant(set, to: node, order: [kind: names])
    }

    /// Adds `names` to `node`'s link, opening it when it is not open. Its shard channels are routed to the
    /// node already (`route`) and were not on it before: they are all new. `order` keeps the caller's order
    /// of the names of a kind in the action.
    mutating func grant(_ names: SubscriptionSet, to node: ClusterNode, order: [SubscriptionKind: [String]] = [:]) -> [Action] {
        guard !names.isEmpty else { return [] }
        guard openLinks[node.address] != nil else {
            var local = names
            local.shardChannels = []
            openLinks[node.address] = local
            return [.openLink(node: node, names: names)]
        }
        var actions: [Action] = []
        for kind in SubscriptionKind.allCases {
            let new = kind == .shardChannel ? names.shardChannels : names[kind].subtracting(openLinks[node.address]![kind])
            guard !new.isEmpty else { continue }
            if kind != .shardChannel { openLinks[node.address]![kind].formUnion(new) }
            let list = order[kind]?.filter { new.contains($0) } ?? new.sorted()
            actions.append(.add(node: node.address, kind: kind, names: list))
        }
        return actions
    }

    private mutating func withdraw(_ kind: SubscriptionKind, _ names: [String], from node: String) -> [Action] {
        var set = SubscriptionSet()
        set[kind] = Set(names)
        return withdraw(set, from: node, order: [kind: names])
    }

    /// Removes `names` from `node`'s link, closing it when nothing is left. Its shard channels are routed away
    /// from the node already (`route`) and were on it: they are all gone.
    mutating func withdraw(_ names: SubscriptionSet, from node: String, order: [SubscriptionKind: [String]] = [:]) -> [Action] {
        guard var held = openLinks[node] else { return [] }
        var removed: [(SubscriptionKind, [String])] = []
        for kind in SubscriptionKind.allCases {
            let gone = kind == .shardChannel ? names.shardChannels : held[kind].intersection(names[kind])
            guard !gone.isEmpty else { continue }
            if kind != .shardChannel { held[kind].subtract(gone) }
            removed.append((kind, order[kind]?.filter { gone.contains($0) } ?? gone.sorted()))
        }
        guard !removed.isEmpty else { return [] }
        if held.isEmpty && shardCount(on: node) == 0 {
            openLinks[node] = nil
            return [.closeLink(node: node)]
        }
        openLinks[node] = held
        return removed.map { .remove(node: node, kind: $0.0, names: $0.1) }
    }
}
