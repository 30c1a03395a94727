// Sentinel benchmark: a master, a replica and three sentinels (started here on free loopback ports,
// down-after-milliseconds 1000). A subscriber follows the master through the sentinels. For a failover
// triggered by SENTINEL FAILOVER (both nodes alive), then by SIGKILL of the master, it measures the time from
// the promotion as the sentinels report it (the `+switch-master` message, read by this process on a sentinel)
// to the first message the subscriber delivers from the new master (published every 2 ms from the switch on).
// usage: resub-sentinel-bench [ROUNDS]
import Foundation
import RESP
import Resub
import Synchronization
import TestSupport

let rounds = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1])! : 1
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// The first arrival time of a message whose payload starts with a given prefix.
final class Arrivals: Sendable {
    let firsts = Mutex<[String: Double]>([:])
    func saw(_ payload: String) {
        guard let prefix = payload.split(separator: ":").first.map(String.init) else { return }
        let t = now()
        firsts.withLock { if $0[prefix] == nil { $0[prefix] = t } }
    }
    func first(_ prefix: String) -> Double? { firsts.withLock { $0[prefix] } }
}

/// The earliest `+switch-master` any sentinel published (time and new master port).
final class Switch: Sendable {
    let first = Mutex<(at: Double, port: Int)?>(nil)
}

func failover(_ group: RedisSentinelGroup, label: String, arrivals: Arrivals, trigger: (RedisServer) throws -> Void) throws -> Double {
    let old = try group.master()
    // Every sentinel is watched: the leader announces the switch first, the others up to seconds later.
    let seen = Switch()
    for sentinel in group.sentinels {
        let watcher = try SyncRedisClient(port: sentinel.port, timeout: 60)
        var command: [UInt8] = []
        RESPEncoder.appendCommand(["SUBSCRIBE", "+switch-master"], to: &command)
        try watcher.send(command)
        _ = try watcher.readValue()  // the confirmation
        Thread.detachNewThread {
            while let message = try? watcher.readValue() {
                guard let parts = message.elements, parts.count == 3, parts[1].string == "+switch-master",
                      let fields = parts[2].string?.split(separator: " "), fields.count == 5, let port = Int(fields[4]) else { continue }
                let t = now()
                seen.first.withLock { if $0 == nil || $0!.at > t { $0 = (t, port) } }
                return
            }
        }
    }
    try trigger(old)
    var switched: (at: Double, port: Int)?
    while switched == nil {
        switched = seen.first.withLock { $0 }
        usleep(200)
    }
    let publisher = try SyncRedisClient(port: switched!.port, timeout: 5)
    var i = 0
    while arrivals.first(label) == nil, now() - switched!.at < 30 {
        i += 1
        _ = try? publisher.publish("bench", "\(label):\(i)")
        usleep(2_000)
    }
    guard let first = arrivals.first(label) else { fatalError("\(label): nothing delivered from the new master within 30 s") }
    return first - switched!.at
}

var results: [String: [Double]] = [:]
for round in 1...rounds {
    let group = try RedisSentinelGroup()
    defer { group.stop() }
    var configuration = SubscriberConfiguration(
        endpoint: RedisEndpoint(address: .tcp(host: "127.0.0.1", port: 1)),
        initialSubscriptions: SubscriptionSet(channels: ["bench"]))
    configuration.sentinel = SentinelConfiguration(
        sentinels: group.sentinels.map { .tcp(host: "127.0.0.1", port: $0.port) }, masterName: group.masterName)
    let arrivals = Arrivals()
    let subscriber = Subscriber(configuration: configuration)
    let consumer = Task.detached { for await message in subscriber.messages { arrivals.saw(message.payloadString ?? "") } }
    let first = try group.master().client()
    var subscribed = false
    for _ in 0..<500 where !subscribed {
        subscribed = (try? first.command(["PUBSUB", "NUMSUB", "bench"]))?.elements?.last?.int == 1
        usleep(10_000)
    }
    guard subscribed else { fatalError("not subscribed on the first master") }

    let manual = try failover(group, label: "failover\(round)", arrivals: arrivals) { _ in
        _ = try group.sentinels[0].command(["SENTINEL", "FAILOVER", group.masterName])
    }
    print(String(format: "round %d SENTINEL FAILOVER: +switch-master -> first message from the new master: %.3f s", round, manual))
    results["SENTINEL FAILOVER", default: []].append(manual)
    // The demoted node must be a healthy replica again before it can be promoted.
    let demoted = group.nodes.first { $0.port != (try? group.masterPort()) }!
    for _ in 0..<400 {
        if let role = (try? demoted.command("ROLE"))?.value.elements, role.count > 3, role[3].string == "connected" { break }
        usleep(50_000)
    }
    sleep(2)
    let killed = try failover(group, label: "kill\(round)", arrivals: arrivals) { master in master.kill() }
    print(String(format: "round %d SIGKILL: +switch-master -> first message from the new master: %.3f s", round, killed))
    results["SIGKILL", default: []].append(killed)
    await subscriber.shutdown()
    consumer.cancel()
}
for (kind, values) in results.sorted(by: { $0.key < $1.key }) {
    let sorted = values.sorted()
    print(String(format: "%@: median %.3f s over %d (min %.3f, max %.3f)", kind, sorted[sorted.count / 2], sorted.count, sorted.first!, sorted.last!))
}
