// Cluster benchmark: 10,000 shard channels over a real 3-master + 3-replica cluster (started here on free
// loopback ports). Measures (1) from Subscriber creation to every channel confirmed on its master
// (PUBSUB SHARDNUMSUB asked on each master, polled every 10 ms), and (2) after SIGKILL of one master, from
// its replica's promotion (seen in CLUSTER SHARDS, polled every 10 ms) to every channel confirmed again.
// usage: resub-cluster-bench [CHANNELS]
import Foundation
import RESP
import Resub
import TestSupport

let channels = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1])! : 10_000
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

let cluster = try RedisCluster()
defer { cluster.stop() }
let names = (0..<channels).map { "bench:\($0)" }
let ownerOf = try Dictionary(grouping: names) { try cluster.owner(of: $0) }

/// How many of each master's channels it reports subscribed (SHARDNUMSUB counts subscribers per channel).
func confirmedCount(_ byMaster: [Int: [String]]) -> Int {
    var total = 0
    for (port, list) in byMaster {
        guard cluster.isRunning(port) else { continue }
        for chunk in stride(from: 0, to: list.count, by: 1000) {
            let args = ["PUBSUB", "SHARDNUMSUB"] + Array(list[chunk..<min(chunk + 1000, list.count)])
            guard let reply = try? cluster.command(port, args).elements else { continue }
            var i = 1
            while i < reply.count {
                if (reply[i].int ?? 0) > 0 { total += 1 }
                i += 2
            }
        }
    }
    return total
}

func waitAll(_ byMaster: @autoclosure () throws -> [Int: [String]], timeout: Double = 60) -> Double? {
    let start = now()
    while now() - start < timeout {
        if let map = try? byMaster(), confirmedCount(map) == channels { return now() }
        usleep(10_000)
    }
    return nil
}

var configuration = SubscriberConfiguration(endpoint: try RedisEndpoint(url: cluster.url(cluster.ports[0])))
configuration.cluster = ClusterConfiguration(
    seeds: cluster.ports.prefix(3).map { try! RedisEndpoint(url: cluster.url($0)) },
    degradedRefreshInterval: .milliseconds(100))
configuration.initialSubscriptions = SubscriptionSet(shardChannels: Set(names))
configuration.health = HealthConfiguration(pingInterval: .milliseconds(500), pingTimeout: .milliseconds(500),
                                           backoff: BackoffConfiguration(minimum: .milliseconds(20), maximum: .milliseconds(200)))
let t0 = now()
let subscriber = Subscriber(configuration: configuration)
guard let t1 = waitAll(ownerOf) else { fatalError("not all confirmed") }
print(String(format: "start -> all %d shard channels confirmed on 3 masters: %.3f s", channels, t1 - t0))

let victim = try cluster.masters()[0]
let victimChannels = ownerOf[victim]?.count ?? 0
try cluster.kill(victim)
let killedAt = now()
let promoted = try cluster.waitForFailover(of: victim, timeout: 30)
let promotedAt = now()
let newOwners = try Dictionary(grouping: names) { try cluster.owner(of: $0) }
guard let t2 = waitAll(newOwners) else { fatalError("not all confirmed after failover") }
print(String(format: "failover: master %d (%d channels) killed; replica %d promoted %.2f s later; promotion -> all %d confirmed again: %.3f s",
             victim, victimChannels, promoted, promotedAt - killedAt, channels, t2 - promotedAt))
await subscriber.shutdown()
