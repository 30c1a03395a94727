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

    /// The shard channels wanted (within the served slots).
    package private(set) var desired: Set<String> = []
    /// The node-local channels and patterns wanted (their `shardChannels` is always empty).
    package private(set) var nodeLocal = SubscriptionSet()
    /// The node (address) each assigned shard channel is on.
    package private(set) var nodeOf: [String: String] = [:]
    /// What each open link holds, by node address.
    package private(set) var links: [String: SubscriptionSet] = [:]
    /// Wanted shard channels whose slot has no known master.
    package private(set) var unassigned: Set<String> = []
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
    private var ignoredNames: Set<String> = []
    /// Wanted channels outside the served slots, kept so that a change of slots can serve them.
    var outside: Set<String> = []

    /// Creates the machine for the given slot ranges.
    package init(slots: SlotRanges = .all) {
        self.slots = slots
    }

    /// The nodes with an open link.
    package var openNodes: Set<String> { Set(links.keys) }

    /// The shard channels of each open link that holds some.
    package var assignment: [String: Set<String>] {
        links.compactMapValues { $0.shardChannels.isEmpty ? nil : $0.shardChannels }
    }

    // MARK: Shard channels

    /// Wants shard channels `names` too.
    package mutating func add(_ names: [String]) -> [Action] {
        var actions: [Action] = []
        var newlyIgnored: [String] = []
        var byNode: [String: (ClusterNode, [String])] = [:]
        var needRefresh = false
        for name in names {
            guard slots.contains(HashSlot(key: name)) else {
                outside.insert(name)
                if ignoredNames.insert(name).inserted { newlyIgnored.append(name) }
                continue
            }
            guard desired.insert(name).inserted else { continue }
            if let owner = map?.owner(of: HashSlot(key: name)) {
                byNode[owner.address, default: (owner, [])].1.append(name)
            } else {
                unassigned.insert(name)
                needRefresh = true
            }
        }
        if !newlyIgnored.isEmpty { actions.append(.ignored(names: newlyIgnored)) }
        for (address, (node, list)) in byNode.sorted(by: { $0.key < $1.key }) {
            assignShards(list, to: address)
            actions += grant(.shardChannel, list, to: node)
        }
        if needRefresh { actions.append(.refreshTopology) }
        return actions
    }

    /// No longer wants shard channels `names`.
    package mutating func remove(_ names: [String]) -> [Action] {
        var byNode: [String: [String]] = [:]
        outside.subtract(names)
        for name in names where desired.remove(name) != nil {
            if unassigned.remove(name) != nil { continue }
            if let node = nodeOf.removeValue(forKey: name) {
                byNode[node, default: []].append(name)
            }
        }
        var actions: [Action] = []
        for (node, list) in byNode.sorted(by: { $0.key < $1.key }) {
            actions += withdraw(.shardChannel, list, from: node)
        }
        return actions
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
        return links.keys.sorted().flatMap { withdraw(kind, list, from: $0) }
    }

    // MARK: Topology

    /// A new topology: route every wanted shard channel to its slot's master and the node-local names to
    /// every master that owns a slot, moving what changed. Every addition comes before every removal, so a
    /// node that keeps some names is never closed and reopened.
    package mutating func topologyChanged(_ newMap: ShardMap) -> [Action] {
        map = newMap
        var additions: [String: (node: ClusterNode, names: SubscriptionSet)] = [:]
        var removals: [String: SubscriptionSet] = [:]
        for name in desired {
            let current = nodeOf[name]
            let owner = newMap.owner(of: HashSlot(key: name))
            guard current != owner?.address else { continue }
            if let current { removals[current, default: SubscriptionSet()].shardChannels.insert(name) }
            if let owner {
                additions[owner.address, default: (owner, SubscriptionSet())].names.shardChannels.insert(name)
                nodeOf[name] = owner.address
                unassigned.remove(name)
            } else {
                nodeOf[name] = nil
                unassigned.insert(name)
            }
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

    private mutating func assignShards(_ names: [String], to address: String) {
        for name in names { nodeOf[name] = address }
    }

    private mutating func grant(_ kind: SubscriptionKind, _ names: [String], to node: ClusterNode) -> [Action] {
        var set = SubscriptionSet()
        set[kind] = Set(names)
        return grant(set, to: node, order: [kind: names])
    }

    /// Adds `names` to `node`'s link, opening it when it is not open. `order` keeps the caller's order of
    /// the names of a kind in the action.
    mutating func grant(_ names: SubscriptionSet, to node: ClusterNode, order: [SubscriptionKind: [String]] = [:]) -> [Action] {
        guard !names.isEmpty else { return [] }
        guard links[node.address] != nil else {
            links[node.address] = names
            return [.openLink(node: node, names: names)]
        }
        var actions: [Action] = []
        for kind in SubscriptionKind.allCases {
            let new = names[kind].subtracting(links[node.address]![kind])
            guard !new.isEmpty else { continue }
            links[node.address]![kind].formUnion(new)
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

    /// Removes `names` from `node`'s link, closing it when nothing is left.
    mutating func withdraw(_ names: SubscriptionSet, from node: String, order: [SubscriptionKind: [String]] = [:]) -> [Action] {
        guard var held = links[node] else { return [] }
        var removed: [(SubscriptionKind, [String])] = []
        for kind in SubscriptionKind.allCases {
            let gone = held[kind].intersection(names[kind])
            guard !gone.isEmpty else { continue }
            held[kind].subtract(gone)
            removed.append((kind, order[kind]?.filter { gone.contains($0) } ?? gone.sorted()))
        }
        guard !removed.isEmpty else { return [] }
        if held.isEmpty {
            links[node] = nil
            return [.closeLink(node: node)]
        }
        links[node] = held
        return removed.map { .remove(node: node, kind: $0.0, names: $0.1) }
    }
}
