/// The bookkeeping of the sharded manager, with no I/O: which shard channels are wanted, which master
/// serves each (from the ``ShardMap``), and which node links must exist.
///
/// Correct by construction: the machine alone decides when a node's link opens and closes, every input is
/// handled on one thread, and it answers with actions. A link is opened when its node gets its first
/// channel and closed, exactly once, when it loses its last; no interleaving of requests can close it
/// twice or leave a channel on a node that no longer owns its slot.
package struct ShardedStateMachine: Sendable {
    /// What the owner must do.
    package enum Action: Equatable, Sendable {
        /// Open a link to `node` subscribing `names`.
        case openLink(node: ClusterNode, names: [String])
        /// Add `names` to the open link of `node`.
        case add(node: String, names: [String])
        /// Remove `names` from the open link of `node`.
        case remove(node: String, names: [String])
        /// Close the link of `node` (its last channel is gone).
        case closeLink(node: String)
        /// These names are outside the served slot ranges and are ignored (log once).
        case ignored(names: [String])
        /// Some wanted channel has no known owner: ask the cluster for its topology.
        case refreshTopology
    }

    /// The shard channels wanted (within the served slots).
    package private(set) var desired: Set<String> = []
    /// The node (address) each assigned channel is on.
    package private(set) var nodeOf: [String: String] = [:]
    /// The channels of each open link.
    package private(set) var assignment: [String: Set<String>] = [:]
    /// Wanted channels whose slot has no known master.
    package private(set) var unassigned: Set<String> = []
    /// The topology in use.
    package private(set) var map: ShardMap?
    /// The slots this instance serves (`--slots`, or the split group's share: see `slotsChanged`).
    package internal(set) var slots: SlotRanges
    private var ignoredNames: Set<String> = []
    /// Wanted channels outside the served slots, kept so that a change of slots can serve them.
    var outside: Set<String> = []

    /// Creates the machine for the given slot ranges.
    package init(slots: SlotRanges = .all) {
        self.slots = slots
    }

    /// The nodes with an open link.
    package var openNodes: Set<String> { Set(assignment.keys) }

    /// Wants `names` too.
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
            actions.append(assign(list, to: node, address: address))
        }
        if needRefresh { actions.append(.refreshTopology) }
        return actions
    }

    /// No longer wants `names`.
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
            actions.append(unassign(list, from: node))
        }
        return actions
    }

    /// A new topology: route every wanted channel to its slot's master, moving what changed.
    package mutating func topologyChanged(_ newMap: ShardMap) -> [Action] {
        map = newMap
        var removals: [String: [String]] = [:]
        var additions: [String: (ClusterNode, [String])] = [:]
        for name in desired {
            let current = nodeOf[name]
            let owner = newMap.owner(of: HashSlot(key: name))
            guard current != owner?.address else { continue }
            if let current { removals[current, default: []].append(name) }
            if let owner {
                additions[owner.address, default: (owner, [])].1.append(name)
                unassigned.remove(name)
            } else {
                nodeOf[name] = nil
                unassigned.insert(name)
            }
        }
        var actions: [Action] = []
        // Add before removing, so a node that keeps some channels is never closed and reopened.
        for (address, (node, list)) in additions.sorted(by: { $0.key < $1.key }) {
            actions.append(assign(list, to: node, address: address))
        }
        for (node, list) in removals.sorted(by: { $0.key < $1.key }) {
            actions.append(unassign(list, from: node))
        }
        return actions
    }

    private mutating func assign(_ names: [String], to node: ClusterNode, address: String) -> Action {
        for name in names {
            if let old = nodeOf[name], old != address { assignment[old]?.remove(name) }
            nodeOf[name] = address
        }
        if assignment[address] == nil {
            assignment[address] = Set(names)
            return .openLink(node: node, names: names)
        }
        assignment[address]!.formUnion(names)
        return .add(node: address, names: names)
    }

    private mutating func unassign(_ names: [String], from node: String) -> Action {
        assignment[node]?.subtract(names)
        if assignment[node]?.isEmpty ?? true {
            assignment[node] = nil
            return .closeLink(node: node)
        }
        return .remove(node: node, names: names)
    }
}
