// Keyspace benchmark on a real 3-master + 3-replica cluster (started here on free loopback ports, every node
// with notify-keyspace-events KEA). Measures (1) the `__keyevent@0__:set` events per second resub delivers
// while `redis-benchmark --cluster -t set` writes N keys spread over the masters (each master's events counted
// from the batches' node), and (2) after SIGKILL of one master, the time from its replica's promotion (seen in
// CLUSTER SLOTS, polled every 10 ms) to the first event delivered from the promoted node (a SET every 5 ms on
// one of its keys).
// usage: resub-keyspace-bench [SETS] [CLIENTS] [PIPELINE]
import Foundation
import Resub
import Synchronization
import TestSupport

let sets = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1])! : 1_000_000
let clients = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2])! : 50
let pipeline = CommandLine.arguments.count > 3 ? Int(CommandLine.arguments[3])! : 1
/// Unbuffered output: the figures must survive a crash later in the run.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

let cluster = try RedisCluster(arguments: ["--notify-keyspace-events", "KEA"])
defer { cluster.stop() }
let masters = try cluster.masters()

struct Counts {
    var byNode: [String: Int] = [:]
    var first: Double?
    var last: Double?
}
let counts = Mutex(Counts())

var configuration = SubscriberConfiguration(endpoint: try RedisEndpoint(url: cluster.url(masters[0])))
configuration.cluster = ClusterConfiguration(
    seeds: masters.map { try! RedisEndpoint(url: cluster.url($0)) }, degradedRefreshInterval: .milliseconds(100))
configuration.initialSubscriptions = SubscriptionSet(channels: ["__keyevent@0__:set"])
configuration.health = HealthConfiguration(pingInterval: .milliseconds(500), pingTimeout: .milliseconds(500),
                                           backoff: BackoffConfiguration(minimum: .milliseconds(20), maximum: .milliseconds(200)))
configuration.messageBufferBatches = 1 << 20
let subscriber = Subscriber(configuration: configuration)
let verbose = ProcessInfo.processInfo.environment["VERBOSE"] != nil
let eventLog = Task.detached {
    for await event in subscriber.events where verbose { FileHandle.standardError.write(Data("\(event)\n".utf8)) }
}
let reader = Task.detached {
    for await batch in subscriber.batches {
        let t = now()
        counts.withLock { c in
            c.byNode[batch.node, default: 0] += batch.count
            if c.first == nil { c.first = t }
            c.last = t
        }
    }
}

// Wait until every master carries the channel.
let deadline = now() + 30
while now() < deadline {
    let subscribed = masters.allSatisfy { port in (try? cluster.command(port, ["PUBSUB", "NUMSUB", "__keyevent@0__:set"]))?.elements?.last?.int == 1 }
    if subscribed { break }
    usleep(10_000)
}

// (1) SET load.
let benchmark = URL(fileURLWithPath: try RedisServer.executable()).deletingLastPathComponent().appendingPathComponent("redis-benchmark")
let load = Process()
load.executableURL = benchmark
load.arguments = ["-p", String(masters[0]), "--cluster", "-t", "set", "-n", String(sets), "-c", String(clients), "-P", String(pipeline), "-r", "10000000", "-q"]
load.standardOutput = FileHandle.nullDevice
load.standardError = FileHandle.nullDevice
let loadStart = now()
try load.run()
load.waitUntilExit()
let loadEnd = now()
// Each SET gives one event; wait for the count to settle.
var settled = counts.withLock { $0.byNode.values.reduce(0, +) }
while true {
    usleep(300_000)
    let total = counts.withLock { $0.byNode.values.reduce(0, +) }
    if total == settled { break }
    settled = total
}
let snapshot = counts.withLock { $0 }
let total = snapshot.byNode.values.reduce(0, +)
let span = (snapshot.last ?? loadEnd) - (snapshot.first ?? loadStart)
say(String(format: "SET load: %d SETs by redis-benchmark (%d clients, pipeline %d) in %.2f s = %.0f SET/s", sets, clients, pipeline, loadEnd - loadStart, Double(sets) / (loadEnd - loadStart)))
say(String(format: "delivered %d events (%.1f%% of the SETs) in %.2f s = %.0f events/s", total, 100 * Double(total) / Double(sets), span, Double(total) / span))
for (node, n) in snapshot.byNode.sorted(by: { $0.key < $1.key }) { say("  \(node): \(n) events") }

// (2) Failover: promotion to the first event from the new master.
let victim = masters[0]
let key = try require((0..<100_000).lazy.map { "fo-key-\($0)" }.first { (try? cluster.owner(of: $0)) == victim })
try cluster.kill(victim)
var promoted: Int?
var promotedAt = 0.0
let failoverDeadline = now() + 60
while promoted == nil, now() < failoverDeadline {
    if let owner = try? cluster.owner(of: key), owner != victim { promoted = owner; promotedAt = now() }
    else { usleep(10_000) }
}
guard let promoted else { fatalError("no promotion") }
let newNode = "127.0.0.1:\(promoted)"
let before = counts.withLock { $0.byNode[newNode] ?? 0 }
var firstEvent: Double?
while firstEvent == nil, now() < promotedAt + 30 {
    _ = try? cluster.command(promoted, ["SET", key, "x"])
    usleep(5_000)
    if counts.withLock({ ($0.byNode[newNode] ?? 0) > before }) { firstEvent = counts.withLock { $0.last } }
}
guard let firstEvent else { fatalError("no event from the promoted master within 30 s") }
say(String(format: "failover: promotion of %d (seen at the node) -> first event delivered from %@: %.3f s", promoted, newNode, firstEvent - promotedAt))
await subscriber.shutdown()
_ = await reader.value
_ = await eventLog.value

func require<T>(_ value: T?) throws -> T {
    guard let value else { throw FixtureError("not found") }
    return value
}
