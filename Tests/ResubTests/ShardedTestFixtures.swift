import Resub

// Masters and maps shared by the sharded state machine tests.

/// Three masters, as `CLUSTER SHARDS` would name them.
let nodeA = ClusterNode(id: String(repeating: "a", count: 40), host: "127.0.0.1", port: 7001, isMaster: true)
let nodeB = ClusterNode(id: String(repeating: "b", count: 40), host: "127.0.0.1", port: 7002, isMaster: true)
let nodeC = ClusterNode(id: String(repeating: "c", count: 40), host: "127.0.0.1", port: 7003, isMaster: true)

/// A map from `(range, node)` pairs.
func makeMap(_ parts: [(ClosedRange<Int>, ClusterNode)]) -> ShardMap {
    var map = ShardMap()
    for (range, node) in parts { map.assign(range, to: node) }
    return map
}

/// Three masters splitting the slots as `redis-cli --cluster create` does.
let threeMasters = makeMap([(0...5460, nodeA), (5461...10922, nodeB), (10923...16383, nodeC)])
