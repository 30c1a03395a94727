import RESP

/// A node of a Redis Cluster as the topology describes it.
public struct ClusterNode: Sendable, Hashable, CustomStringConvertible {
    /// The node id (40 hex characters), when known.
    public var id: String
    /// Host or IP to connect to.
    public var host: String
    /// TCP port.
    public var port: Int
    /// Whether the node is a master (serves its slots) or a replica.
    public var isMaster: Bool
    /// Whether the topology reports the node healthy (`online`); failed or loading nodes are not routed to.
    public var isOnline: Bool

    /// Creates a node.
    public init(id: String, host: String, port: Int, isMaster: Bool, isOnline: Bool = true) {
        self.id = id
        self.host = host
        self.port = port
        self.isMaster = isMaster
        self.isOnline = isOnline
    }

    /// `host:port` (IPv6 in brackets): the key the manager uses for links.
    public var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Same as ``address``.
    public var description: String { address }
}

/// Which master serves each of the 16384 hash slots. A plain value: parsed from `CLUSTER SHARDS` (Redis 7)
/// or `CLUSTER SLOTS`, compared, and queried without I/O.
public struct ShardMap: Sendable, Equatable {
    /// The masters, each once.
    public private(set) var masters: [ClusterNode] = []
    /// Replicas by master address.
    public private(set) var replicas: [String: [ClusterNode]] = [:]
    /// For each slot, the index of its master in ``masters``, or -1 when no master serves it.
    private var owners = [Int16](repeating: -1, count: HashSlot.count)

    /// An empty map (no slot served).
    public init() {}

    /// The master serving `slot`, if any.
    public func owner(of slot: HashSlot) -> ClusterNode? {
        let i = owners[Int(slot.rawValue)]
        return i < 0 ? nil : masters[Int(i)]
    }

    /// Every node (masters and replicas).
    public var allNodes: [ClusterNode] { masters + masters.flatMap { replicas[$0.address] ?? [] } }

    /// The masters that own at least one slot, in ``masters`` order (a master that lost all its slots, or a
    /// failed one whose slots went to its promoted replica, is not among them).
    public var mastersWithSlots: [ClusterNode] {
        var owning = [Bool](repeating: false, count: masters.count)
        for i in owners where i >= 0 { owning[Int(i)] = true }
        return masters.indices.filter { owning[$0] }.map { masters[$0] }
    }

    /// How many slots have a master.
    public var coveredSlotCount: Int { owners.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }

    /// Assigns slots `range` to `master` (adding it when new; `nil` adds it without slots).
    public mutating func assign(_ range: ClosedRange<Int>?, to master: ClusterNode, replicas newReplicas: [ClusterNode] = []) {
        let index: Int
        if let i = masters.firstIndex(where: { $0.address == master.address }) {
            index = i
        } else {
            index = masters.count
            masters.append(master)
        }
        for r in newReplicas where !(replicas[master.address] ?? []).contains(where: { $0.address == r.address }) {
            replicas[master.address, default: []].append(r)
        }
        guard let range else { return }
        for slot in range where (0..<HashSlot.count).contains(slot) { owners[slot] = Int16(index) }
    }

    // MARK: Parsing

    /// Parses a `CLUSTER SHARDS` reply (RESP3 maps or RESP2 flat key/value arrays).
    /// - Throws: ``ResubError`` (`protocolError`) when the shape is not what Redis 7 sends.
    public static func parseShards(_ reply: RESPValue) throws(ResubError) -> ShardMap {
        guard let shards = reply.elements else { throw shapeError("CLUSTER SHARDS", reply) }
        var map = ShardMap()
        for shard in shards {
            let fields = try keyValues(shard, "CLUSTER SHARDS shard")
            guard let slotValues = fields["slots"]?.elements, let nodeValues = fields["nodes"]?.elements else {
                throw shapeError("CLUSTER SHARDS shard", shard)
            }
            var nodes: [ClusterNode] = []
            for nodeValue in nodeValues {
                let f = try keyValues(nodeValue, "CLUSTER SHARDS node")
                guard let port = f["port"]?.int ?? f["tls-port"]?.int else { throw shapeError("CLUSTER SHARDS node", nodeValue) }
                var host = f["endpoint"]?.string ?? ""
                if host.isEmpty || host == "?" { host = f["ip"]?.string ?? "" }
                guard !host.isEmpty else { throw shapeError("CLUSTER SHARDS node", nodeValue) }
                nodes.append(ClusterNode(
                    id: f["id"]?.string ?? "", host: host, port: Int(port),
                    isMaster: f["role"]?.string == "master", isOnline: (f["health"]?.string ?? "online") == "online"))
            }
            // A shard whose master failed and has no promoted replica yet has no master entry; its slots stay
            // unserved until the topology shows the new master.
            guard let master = nodes.first(where: { $0.isMaster && $0.isOnline }) ?? nodes.first(where: { $0.isMaster }) else { continue }
            let bounds = slotValues.compactMap(\.int)
            guard bounds.count == slotValues.count, bounds.count % 2 == 0 else { throw shapeError("CLUSTER SHARDS slots", shard) }
            let replicas = nodes.filter { !$0.isMaster }
            map.assign(nil, to: master, replicas: replicas)
            var i = 0
            while i + 1 < bounds.count {
                map.assign(try slotRange(bounds[i], bounds[i + 1], shard), to: master, replicas: replicas)
                i += 2
            }
        }
        return map
    }

    /// Parses a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id, …], [replica…]…]…]`.
    public static func parseSlots(_ reply: RESPValue) throws(ResubError) -> ShardMap {
        guard let ranges = reply.elements else { throw shapeError("CLUSTER SLOTS", reply) }
        var map = ShardMap()
        for range in ranges {
            guard let e = range.elements, e.count >= 3, let start = e[0].int, let end = e[1].int else {
                throw shapeError("CLUSTER SLOTS range", range)
            }
            func node(_ v: RESPValue, master: Bool) throws(ResubError) -> ClusterNode {
                guard let n = v.elements, n.count >= 2, let host = n[0].string, let port = n[1].int else {
                    throw shapeError("CLUSTER SLOTS node", v)
                }
                return ClusterNode(id: n.count > 2 ? (n[2].string ?? "") : "", host: host.isEmpty ? "127.0.0.1" : host, port: Int(port), isMaster: master)
            }
            let master = try node(e[2], master: true)
            var replicas: [ClusterNode] = []
            for r in e.dropFirst(3) { replicas.append(try node(r, master: false)) }
            map.assign(try slotRange(start, end, range), to: master, replicas: replicas)
        }
        return map
    }

    /// A validated slot range from server-sent bounds (never trusted to be in order or in range).
    private static func slotRange(_ start: Int64, _ end: Int64, _ context: RESPValue) throws(ResubError) -> ClosedRange<Int> {
        guard start >= 0, end < HashSlot.count, start <= end else { throw shapeError("slot range \(start)-\(end)", context) }
        return Int(start)...Int(end)
    }

    private static func keyValues(_ value: RESPValue, _ what: String) throws(ResubError) -> [String: RESPValue] {
        var result: [String: RESPValue] = [:]
        switch value.withoutAttributes {
        case .map(let pairs):
            for pair in pairs { if let k = pair.key.string { result[k] = pair.value } }
        case .array(let flat):
            var i = 0
            while i + 1 < flat.count {
                if let k = flat[i].string { result[k] = flat[i + 1] }
                i += 2
            }
        default:
            throw shapeError(what, value)
        }
        return result
    }

    private static func shapeError(_ what: String, _ value: RESPValue) -> ResubError {
        ResubError(.protocolError, "unexpected \(what) reply: \(String(value.description.prefix(200)))")
    }
}
