import Foundation
import RESP
import Testing
import TestSupport

/// The parent of the stream integration suites (BlockingReadTests, StreamServiceTests): serialized, so their
/// tests never run at the same time as each other. Some count this process's threads and file descriptors
/// or measure latencies, which children, servers and sockets of a test running alongside would disturb.
@Suite("Stream integration", .serialized)
struct StreamIntegrationTests {}

/// Server-side observation for the stream tests (BlockingReadTests, StreamServiceTests): each call opens a
/// fresh connection with a 2 s timeout, off the cooperative pool.
enum StreamProbe {
    /// Runs one command.
    static func command(_ port: Int, _ args: String...) async throws -> RESPValue {
        try await command(port, args)
    }

    /// Runs one command.
    static func command(_ port: Int, _ args: [String]) async throws -> RESPValue {
        try await offPool { try SyncRedisClient(port: port, timeout: 2).command(args) }
    }

    /// Runs one command given as bytes (binary-safe values).
    static func commandBytes(_ port: Int, _ args: [[UInt8]]) async throws -> RESPValue {
        try await offPool {
            let client = try SyncRedisClient(port: port, timeout: 2)
            var out: [UInt8] = []
            RESPEncoder.appendCommand(args, to: &out)
            try client.send(out)
            return try client.readValue()
        }
    }

    /// Runs commands pipelined in one write on one connection (a MULTI … EXEC block, say).
    static func pipeline(_ port: Int, _ commands: [[String]]) async throws -> [RESPValue] {
        try await offPool { try SyncRedisClient(port: port, timeout: 5).pipeline(commands) }
    }

    /// CLIENT LIST as one dictionary per connection.
    static func clientList(_ port: Int) async throws -> [[String: String]] {
        let text = try await command(port, "CLIENT", "LIST").string ?? ""
        return text.split(whereSeparator: \.isNewline).map { line in
            var fields: [String: String] = [:]
            for part in line.split(separator: " ") {
                if let eq = part.firstIndex(of: "=") { fields[String(part[..<eq])] = String(part[eq...].dropFirst()) }
            }
            return fields
        }
    }

    /// The connections named `name`.
    static func clients(named name: String, port: Int) async throws -> [[String: String]] {
        try await clientList(port).filter { $0["name"] == name }
    }

    /// Whether a connection named `name` is blocked in XREAD / XREADGROUP.
    static func isBlockedInRead(_ name: String, port: Int) async throws -> Bool {
        try await clients(named: name, port: port).contains { c in
            (c["flags"] ?? "").contains("b") && (c["cmd"] == "xread" || c["cmd"] == "xreadgroup")
        }
    }

    /// `cmdstat_<command>:calls` of INFO commandstats (0 when the command never ran).
    static func commandCalls(_ command: String, port: Int) async throws -> Int {
        let info = try await self.command(port, "INFO", "commandstats").string ?? ""
        let prefix = "cmdstat_\(command):"
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix(prefix) {
            for part in line.dropFirst(prefix.count).split(separator: ",") where part.hasPrefix("calls=") {
                return Int(part.dropFirst("calls=".count)) ?? -1
            }
        }
        return 0
    }

    /// One INFO field as text.
    static func infoField(_ name: String, section: String, port: Int) async throws -> String? {
        let info = try await command(port, "INFO", section).string ?? ""
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix(name + ":") {
            return String(line.dropFirst(name.count + 1))
        }
        return nil
    }

    /// The pending count of XPENDING's summary form (-1 when the group does not exist).
    static func pendingCount(_ stream: String, group: String, port: Int) async throws -> Int {
        Int(try await command(port, "XPENDING", stream, group).elements?.first?.int ?? -1)
    }

    /// The IDs pending for `consumer` (XPENDING's extended form), in order.
    static func pendingIDs(_ stream: String, group: String, consumer: String, port: Int) async throws -> [String] {
        let reply = try await command(port, "XPENDING", stream, group, "-", "+", "1000", consumer)
        return (reply.elements ?? []).compactMap { $0.elements?.first?.string }
    }

    /// The number of consumer groups of `stream` (0 when it does not exist).
    static func groupCount(_ stream: String, port: Int) async throws -> Int {
        try await command(port, "XINFO", "GROUPS", stream).elements?.count ?? 0
    }

    /// The IDs stored in `stream`, in order.
    static func storedIDs(_ stream: String, port: Int) async throws -> [String] {
        (try await command(port, "XRANGE", stream, "-", "+").elements ?? []).compactMap { $0.elements?.first?.string }
    }

    /// XADDs `fields` (auto ID) and returns the new ID.
    static func xadd(_ port: Int, _ stream: String, _ fields: [(String, String)]) async throws -> String {
        let reply = try await command(port, ["XADD", stream, "*"] + fields.flatMap { [$0.0, $0.1] })
        guard let id = reply.string, !reply.isError else { throw FixtureError("XADD \(stream): \(reply)") }
        return id
    }
}
