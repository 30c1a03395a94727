import Foundation
import RESP
import Resub
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A real Redis Cluster for tests: 6 `redis-server` processes (3 masters, 3 replicas) on free loopback
/// ports, created with `redis-cli --cluster create`, each stopped by pid in ``stop()``. ``addMaster()`` joins
/// a further, empty master (CLUSTER MEET) for resharding tests.
///
/// Every wait is bounded. The helpers ask the cluster itself (`CLUSTER SLOTS`) who owns what, so they stay
/// right after migrations and failovers.
public final class RedisCluster: @unchecked Sendable {
    /// The nodes, in creation order (the first three are created as masters; then those of ``addMaster()``).
    public var servers: [RedisServer] { nodes.withLock { $0 } }
    private let nodes = Mutex<[RedisServer]>([])
    /// The `redis-server` arguments of every node.
    private let nodeArguments: [String]
    /// Every port taken so far (clients and cluster bus).
    private let usedPorts = Mutex(Set<Int>())
    /// A kept connection per node port.
    private let clients = Mutex<[Int: SyncRedisClient]>([:])

    /// Every node's TCP port.
    public var ports: [Int] { servers.map(\.port) }

    /// Starts 6 nodes and creates the cluster; waits (at most `timeout` seconds) until every node reports
    /// `cluster_state:ok`, all 16384 slots assigned, 6 known nodes and every replica's link to its master up.
    /// - Parameter arguments: extra `redis-server` arguments for every node, e.g.
    ///   `["--notify-keyspace-events", "KEA"]`.
    public init(timeout: Double = 60, arguments: [String] = []) throws {
        nodeArguments = arguments
        var started: [RedisServer] = []
        do {
            for _ in 0..<6 { started.append(try startNode()) }
            nodes.withLock { $0 = started }
            let deadline = Date().addingTimeInterval(timeout)
            try create(deadline: deadline)
            try waitUntilFormed(deadline: deadline)
        } catch {
            for server in started { server.stop() }
            throw error
        }
    }

    deinit { stop() }

    /// Kills every node (SIGKILL, by pid) and removes their directories. Idempotent.
    public func stop() {
        clients.withLock { $0 = [:] }
        for server in servers { server.stop() }
    }

    /// `redis://127.0.0.1:port`.
    public func url(_ port: Int) -> String { "redis://127.0.0.1:\(port)" }

    /// The server listening on `port`.
    public func server(_ port: Int) throws -> RedisServer {
        guard let server = servers.first(where: { $0.port == port }) else { throw FixtureError("no cluster node on port \(port)") }
        return server
    }

    /// Kills the node on `port` (SIGKILL by pid, waiting for it to exit).
    public func kill(_ port: Int) throws {
        let server = try server(port)
        clients.withLock { $0[port] = nil }
        server.kill(SIGKILL)
    }

    /// Whether the node on `port` is running (not killed).
    public func isRunning(_ port: Int) -> Bool {
        servers.first(where: { $0.port == port })?.pid != nil
    }

    /// The ports of running nodes.
    public var livePorts: [Int] { ports.filter(isRunning) }

    /// A new synchronous client to the node on `port`.
    public func client(_ port: Int, timeout: Double = 5) throws -> SyncRedisClient {
        try SyncRedisClient(port: port, timeout: timeout)
    }

    /// Runs one command on the node on `port`, on a kept connection (reopened after a failure).
    @discardableResult
    public func command(_ port: Int, _ args: [String]) throws -> RESPValue {
        try clients.withLock { clients in
            let client: SyncRedisClient
            if let kept = clients[port] {
                client = kept
            } else {
                client = try SyncRedisClient(port: port, timeout: 5)
                clients[port] = client
            }
            do {
                return try client.command(args)
            } catch {
                clients[port] = nil
                throw error
            }
        }
    }

    // MARK: Topology

    /// The `CLUSTER SLOTS` view of the node on `port` (any running node when nil): for each slot range, the
    /// master's port and its replicas' ports.
    public func slotRanges(asking port: Int? = nil) throws -> [(range: ClosedRange<Int>, master: Int, replicas: [Int])] {
        let node = try port ?? anyLivePort()
        let reply = try command(node, ["CLUSTER", "SLOTS"])
        guard let ranges = reply.elements else { throw FixtureError("CLUSTER SLOTS on \(node): \(reply)") }
        return try ranges.map { range in
            guard let e = range.elements, e.count >= 3, let start = e[0].int, let end = e[1].int,
                  let masterPort = e[2].elements?[1].int else { throw FixtureError("CLUSTER SLOTS entry \(range)") }
            let replicas = e.dropFirst(3).compactMap { $0.elements?[1].int }.map { Int($0) }
            return (Int(start)...Int(end), Int(masterPort), replicas)
        }
    }

    /// The ports of the masters that serve slots, sorted.
    public func masters() throws -> [Int] {
        Set(try slotRanges().map(\.master)).sorted()
    }

    /// The port of the master serving `slot`, as the cluster reports it now.
    public func owner(ofSlot slot: Int) throws -> Int {
        guard let entry = try slotRanges().first(where: { $0.range.contains(slot) }) else {
            throw FixtureError("no master serves slot \(slot)")
        }
        return entry.master
    }

    /// The port of the master serving `channel`'s hash slot.
    public func owner(of channel: String) throws -> Int {
        try owner(ofSlot: Int(HashSlot(key: channel).rawValue))
    }

    /// The replica ports of the master on `port`, from `CLUSTER NODES` (Redis 7.0 leaves replicas whose
    /// replication offset is still 0 out of `CLUSTER SLOTS`).
    public func replicas(of port: Int) throws -> [Int] {
        let id = try nodeID(port)
        let asking = try livePorts.first { $0 != port } ?? anyLivePort()
        guard let text = try command(asking, ["CLUSTER", "NODES"]).string else { throw FixtureError("CLUSTER NODES on \(asking)") }
        return text.split(whereSeparator: \.isNewline).compactMap { line -> Int? in
            let fields = line.split(separator: " ")
            guard fields.count > 3, fields[2].split(separator: ",").contains("slave"), fields[3] == id else { return nil }
            // 127.0.0.1:port@busport
            return fields[1].split(separator: "@").first?.split(separator: ":").last.flatMap { Int($0) }
        }.sorted()
    }

    /// The node id (`CLUSTER MYID`) of the node on `port`.
    public func nodeID(_ port: Int) throws -> String {
        guard let id = try command(port, ["CLUSTER", "MYID"]).string, id.count == 40 else {
            throw FixtureError("CLUSTER MYID on \(port) gave no id")
        }
        return id
    }

    // MARK: Publishing

    /// SPUBLISH to the master that owns the channel's slot; returns the receiver count. A MOVED reply (the
    /// slot just moved) is followed once.
    @discardableResult
    public func spublish(_ channel: String, _ payload: String) throws -> Int {
        try spublish(channel, payload, on: try owner(of: channel))
    }

    /// SPUBLISH on the node on `port`; a MOVED reply is followed once. Other errors throw.
    @discardableResult
    public func spublish(_ channel: String, _ payload: String, on port: Int) throws -> Int {
        var target = port
        for _ in 0..<2 {
            let reply = try command(target, ["SPUBLISH", channel, payload])
            if let n = reply.int, !reply.isError { return Int(n) }
            let text = reply.string ?? reply.description
            if text.hasPrefix("MOVED"), let last = text.split(separator: " ").last,
               let movedPort = last.split(separator: ":").last.flatMap({ Int($0) }) {
                target = movedPort
                continue
            }
            throw FixtureError("SPUBLISH \(channel) on \(target): \(text)")
        }
        throw FixtureError("SPUBLISH \(channel): redirected more than once")
    }

    /// PUBLISH (broadcast cluster-wide) on the node on `port`; returns the receiver count
    /// on that node only (the message itself reaches every node).
    @discardableResult
    public func publish(_ channel: String, _ payload: String, on port: Int) throws -> Int {
        let reply = try command(port, ["PUBLISH", channel, payload])
        guard let n = reply.int, !reply.isError else { throw FixtureError("PUBLISH on \(port): \(reply)") }
        return Int(n)
    }

    /// The `CLIENT LIST` lines of the node on `port` whose connection name is `name`.
    public func clients(named name: String, on port: Int) throws -> [String] {
        let reply = try command(port, ["CLIENT", "LIST"])
        guard let text = reply.string, !reply.isError else { throw FixtureError("CLIENT LIST on \(port): \(reply)") }
        return text.split(whereSeparator: \.isNewline).map(String.init).filter { line in
            line.split(separator: " ").contains { $0 == "name=\(name)" }
        }
    }

    // MARK: Changing the cluster

    /// Moves `slot` from the master on `from` to the master on `to` without moving keys (there are none):
    /// SETSLOT IMPORTING on the target, MIGRATING on the source, then NODE on the target, the source and the
    /// other masters. Waits (bounded) until every running node reports the new owner.
    public func migrate(slot: Int, from: Int, to: Int, timeout: Double = 15) throws {
        let fromID = try nodeID(from), toID = try nodeID(to)
        let s = String(slot)
        try expectOK(try command(to, ["CLUSTER", "SETSLOT", s, "IMPORTING", fromID]), "SETSLOT IMPORTING on \(to)")
        try expectOK(try command(from, ["CLUSTER", "SETSLOT", s, "MIGRATING", toID]), "SETSLOT MIGRATING on \(from)")
        let others = try masters().filter { $0 != from && $0 != to }
        for port in [to, from] + others {
            try expectOK(try command(port, ["CLUSTER", "SETSLOT", s, "NODE", toID]), "SETSLOT NODE on \(port)")
        }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let views = livePorts.map { port in (try? slotRanges(asking: port))?.first(where: { $0.range.contains(slot) })?.master }
            if views.allSatisfy({ $0 == to }) { return }
            guard Date() < deadline else { throw FixtureError("slot \(slot) still not owned by \(to) everywhere: \(views)") }
            usleep(50_000)
        }
    }

    /// Waits (bounded) until the slots of the (killed) master on `oldMaster` are served by another node and
    /// every running node reports `cluster_state:ok` and a topology without it; returns the new master's port.
    @discardableResult
    public func waitForFailover(of oldMaster: Int, timeout: Double = 30) throws -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        var slot: Int?
        var lastProblem = ""
        while Date() < deadline {
            defer { usleep(100_000) }
            let live = livePorts.filter { $0 != oldMaster }
            var newOwner: Int?
            var ok = true
            for port in live {
                guard let ranges = try? slotRanges(asking: port),
                      let info = try? command(port, ["CLUSTER", "INFO"]).string else {
                    ok = false
                    lastProblem = "node \(port) did not answer"
                    break
                }
                if slot == nil { slot = ranges.first(where: { $0.master == oldMaster })?.range.lowerBound }
                guard info.contains("cluster_state:ok") else {
                    ok = false
                    lastProblem = "node \(port): cluster_state not ok"
                    break
                }
                guard !ranges.contains(where: { $0.master == oldMaster }),
                      ranges.reduce(0, { $0 + $1.range.count }) == 16384 else {
                    ok = false
                    lastProblem = "node \(port) still routes to \(oldMaster) or lacks slots"
                    break
                }
                if let slot, let owner = ranges.first(where: { $0.range.contains(slot) })?.master {
                    if newOwner == nil { newOwner = owner }
                    if newOwner != owner {
                        ok = false
                        lastProblem = "nodes disagree on the owner of slot \(slot)"
                        break
                    }
                }
            }
            if ok, let newOwner { return newOwner }
        }
        throw FixtureError("no failover of \(oldMaster) within \(timeout) s: \(lastProblem)")
    }

    // MARK: Growing

    /// Starts one more node and joins it to the cluster as a master with no slots (CLUSTER MEET, on its own
    /// bus port); waits (bounded) until every running node knows it. Returns its port. Give it slots with
    /// ``migrate(slot:from:to:timeout:)``.
    public func addMaster(timeout: Double = 20) throws -> Int {
        let server = try startNode()
        nodes.withLock { $0.append(server) }
        let port = server.port
        let id = try nodeID(port)
        let busPort = try bus(of: port)
        let introducer = try anyLivePort(except: port)
        try expectOK(try command(introducer, ["CLUSTER", "MEET", "127.0.0.1", String(port), String(busPort)]), "CLUSTER MEET on \(introducer)")
        let deadline = Date().addingTimeInterval(timeout)
        var lastProblem = ""
        while Date() < deadline {
            lastProblem = ""
            for node in livePorts {
                guard let text = try? command(node, ["CLUSTER", "NODES"]).string else {
                    lastProblem = "node \(node) did not answer CLUSTER NODES"
                    break
                }
                let lines = text.split(whereSeparator: \.isNewline)
                guard let line = lines.first(where: { $0.hasPrefix(id) }), line.contains("master"), !line.contains("handshake"),
                      !line.contains("fail"), line.contains("connected") else {
                    lastProblem = "node \(node) does not yet know \(port) as a connected master"
                    break
                }
                guard lines.allSatisfy({ !$0.contains("handshake") }) else {
                    lastProblem = "node \(node) is still in a handshake"
                    break
                }
            }
            if lastProblem.isEmpty { return port }
            usleep(100_000)
        }
        throw FixtureError("node \(port) did not join within \(timeout) s: \(lastProblem)")
    }

    /// The cluster bus port the node on `port` was started with.
    private func bus(of port: Int) throws -> Int {
        let reply = try command(port, ["CONFIG", "GET", "cluster-port"])
        guard let value = reply.elements?.last?.string, let bus = Int(value) else { throw FixtureError("CONFIG GET cluster-port on \(port): \(reply)") }
        return bus
    }

    /// A cluster node process on fresh ports (not yet part of the cluster).
    private func startNode() throws -> RedisServer {
        let (port, busPort) = try usedPorts.withLock { try Self.portPair(avoiding: &$0) }
        return try RedisServer(arguments: [
            "--cluster-enabled", "yes",
            // Relative to --dir, the server's own directory (removed by stop()).
            "--cluster-config-file", "nodes.conf",
            "--cluster-port", String(busPort),
            "--cluster-node-timeout", "1000",
            "--cluster-replica-validity-factor", "0",
            "--cluster-allow-replica-migration", "no",
        ] + nodeArguments, port: port)
    }

    // MARK: Creating

    private func anyLivePort(except excluded: Int? = nil) throws -> Int {
        guard let port = livePorts.first(where: { $0 != excluded }) else { throw FixtureError("no cluster node is running") }
        return port
    }

    private func expectOK(_ reply: RESPValue, _ what: String) throws {
        guard !reply.isError else { throw FixtureError("\(what): \(reply)") }
    }

    private func create(deadline: Date) throws {
        let cli = URL(fileURLWithPath: try RedisServer.executable()).deletingLastPathComponent().appendingPathComponent("redis-cli").path
        guard FileManager.default.isExecutableFile(atPath: cli) else { throw FixtureError("redis-cli not found next to redis-server") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: cli)
        p.arguments = ["--cluster", "create"] + ports.map { "127.0.0.1:\($0)" } + ["--cluster-replicas", "1", "--cluster-yes"]
        let logPath = servers[0].directory + "/cluster-create.log"
        guard FileManager.default.createFile(atPath: logPath, contents: nil) else { throw FixtureError("cannot create \(logPath)") }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        defer { try? log.close() }
        p.standardOutput = log
        p.standardError = log
        p.standardInput = FileHandle.nullDevice
        try p.run()
        while p.isRunning, Date() < deadline { usleep(50_000) }
        if p.isRunning {
            Glibc.kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            throw FixtureError("redis-cli --cluster create did not finish in time: \(Self.tail(logPath))")
        }
        guard p.terminationStatus == 0 else {
            throw FixtureError("redis-cli --cluster create exited \(p.terminationStatus): \(Self.tail(logPath))")
        }
    }

    private func waitUntilFormed(deadline: Date) throws {
        var lastProblem = "not checked"
        while Date() < deadline {
            if let problem = formationProblem() {
                lastProblem = problem
                usleep(100_000)
            } else {
                return
            }
        }
        throw FixtureError("cluster not formed in time: \(lastProblem)")
    }

    /// Why the cluster is not ready yet, or nil when it is.
    private func formationProblem() -> String? {
        for port in ports {
            guard let info = try? command(port, ["CLUSTER", "INFO"]).string else { return "node \(port) did not answer CLUSTER INFO" }
            for needed in ["cluster_state:ok", "cluster_slots_assigned:16384", "cluster_slots_ok:16384", "cluster_known_nodes:6"]
            where !info.contains(needed) {
                return "node \(port) lacks \(needed)"
            }
            guard let nodes = try? command(port, ["CLUSTER", "NODES"]).string else { return "node \(port) did not answer CLUSTER NODES" }
            let lines = nodes.split(whereSeparator: \.isNewline)
            let masters = lines.filter { $0.contains("master") }.count
            let replicas = lines.filter { $0.contains("slave") }.count
            guard masters == 3, replicas == 3 else { return "node \(port) sees \(masters) masters and \(replicas) replicas" }
            guard !lines.contains(where: { $0.contains("fail") || $0.contains("handshake") || $0.contains("noaddr") }) else {
                return "node \(port) sees a failing or unknown node"
            }
            guard let replication = try? command(port, ["INFO", "replication"]).string else { return "node \(port) did not answer INFO" }
            if replication.contains("role:slave"), !replication.contains("master_link_status:up") {
                return "replica \(port) not yet linked to its master"
            }
        }
        return nil
    }

    /// A free port for clients and another for the cluster bus.
    private static func portPair(avoiding used: inout Set<Int>) throws -> (Int, Int) {
        func fresh() throws -> Int {
            for _ in 0..<50 {
                let port = try RedisServer.freePort()
                if used.insert(port).inserted { return port }
            }
            throw FixtureError("no free port found")
        }
        return (try fresh(), try fresh())
    }

    private static func tail(_ path: String) -> String {
        String(((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").suffix(2000))
    }
}
