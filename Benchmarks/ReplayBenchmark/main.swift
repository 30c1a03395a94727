// Replay benchmark: how long resub takes to restore 100,000 channels + 1,000 patterns after a server
// restart, measured like ../shared/bench/replay_redispy.py measures redis-py: SIGKILL redis-server, start
// it again on the same port, and time from the first accepted connection (a probe, polled every 1 ms) to
// the server reporting every subscription back (INFO pubsub_channels and PUBSUB NUMPAT, polled every
// 10 ms). Also prints resub's own `resubscribed` duration (handshake done -> last confirmation) and the
// process RSS with everything subscribed.
//
// usage: resub-replay-bench [PORT] [CHANNELS] [PATTERNS] [RESTARTS]
import Foundation
import Resub
import Synchronization

let args = CommandLine.arguments.dropFirst().map { $0 }
let port = args.count > 0 ? Int(args[0])! : 6392
let channels = args.count > 1 ? Int(args[1])! : 100_000
let patterns = args.count > 2 ? Int(args[2])! : 1_000
let restarts = args.count > 3 ? Int(args[3])! : 5
let work = (ProcessInfo.processInfo.environment["BENCH_OUT"] ?? "/tmp/resub-bench") + "/rdata-resub"
try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

func rssMiB() -> Double {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Double(line.split(separator: " ").dropFirst().first { !$0.isEmpty }.flatMap { Int($0) } ?? 0) / 1024
    }
    return 0
}

func startRedis() -> (Process, Double) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
    p.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", work, "--logfile", work + "/redis.log"]
    p.standardOutput = FileHandle.nullDevice
    try! p.run()
    for _ in 0..<5000 {
        if probe() { return (p, now()) }
        usleep(1000)
    }
    fatalError("redis-server did not start")
}

func probe() -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = UInt16(port).bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// The server-side counts, over one persistent connection of this process (as the Python script polls with
/// its own redis-py connection): spawning redis-cli every 10 ms would load the 2 cores being measured.
let monitorClient = ResubClient()
let monitor = monitorClient.blockingConnection(try RedisEndpoint(url: "redis://127.0.0.1:\(port)"), clientName: "bench-monitor")

func serverCounts() async -> (Int, Int)? {
    guard let info = try? await monitor.command(["INFO", "stats"]).string,
          let numpat = try? await monitor.command(["PUBSUB", "NUMPAT"]).int else { return nil }
    let ch = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("pubsub_channels:") }.flatMap { Int($0.split(separator: ":")[1]) }
    guard let ch else { return nil }
    return (ch, Int(numpat))
}

func waitAll(from t0: Double) async -> Double? {
    for _ in 0..<3000 {
        if let (c, p) = await serverCounts(), c == channels, p == patterns { return now() - t0 }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return nil
}

var (redis, _) = startRedis()
var configuration = try SubscriberConfiguration(url: "redis://127.0.0.1:\(port)")
configuration.initialSubscriptions = SubscriptionSet(
    channels: Set((0..<channels).map { "ch:\($0)" }), patterns: Set((0..<patterns).map { "pat:\($0):*" }))
// Reconnect as promptly as redis-py's "fast" retry (constant 10 ms) so both measure the replay itself.
configuration.backoff = BackoffConfiguration(minimum: .milliseconds(10), maximum: .milliseconds(10))
configuration.protocolPreference = .resp2  // like redis-py's protocol=2 in the baseline
let t0 = now()
let subscriber = Subscriber(configuration: configuration)
let durations = Mutex<[Duration]>([])
let eventTask = Task {
    for await event in subscriber.events {
        if case .resubscribed(_, _, _, _, let d) = event { durations.withLock { $0.append(d) } }
    }
}
if let dt = await waitAll(from: t0) {
    print(String(format: "initial subscribe (start -> all %d+%d active): %.3f s", channels, patterns, dt))
}
print(String(format: "RSS with %d channels + %d patterns subscribed: %.1f MiB", channels, patterns, rssMiB()))
var results: [Double] = []
for i in 1...restarts {
    kill(redis.processIdentifier, SIGKILL)
    redis.waitUntilExit()
    let (p, tAccept) = startRedis()
    redis = p
    let dt = await waitAll(from: tAccept)
    if let dt { results.append(dt) }
    let own = durations.withLock { $0.last }.map { String(format: "%.1f ms", $0.seconds * 1000) } ?? "?"
    print("restart \(i): accept -> all resubscribed: \(dt.map { String(format: "%.3f s", $0) } ?? "NOT REACHED") (resub's own replay: \(own))")
}
results.sort()
if !results.isEmpty {
    print(String(format: "median %.3f s min %.3f max %.3f (%d/%d reached)", results[results.count / 2], results[0], results[results.count - 1], results.count, restarts))
}
let own = durations.withLock { $0.dropFirst().map { $0.seconds * 1000 }.sorted() }
if !own.isEmpty { print(String(format: "resub replay (handshake -> last confirmation): median %.1f ms", own[own.count / 2])) }
await subscriber.shutdown()
await monitorClient.shutdown()
eventTask.cancel()
kill(redis.processIdentifier, SIGKILL)
redis.waitUntilExit()

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
