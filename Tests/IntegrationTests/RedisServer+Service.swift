import RESP
import TestSupport

extension RedisServer {
    /// PUBSUB NUMSUB for one channel.
    func numsub(_ channel: String) throws -> Int {
        let reply = try client().command(["PUBSUB", "NUMSUB", channel])
        guard let items = reply.elements, items.count == 2, let count = items[1].int else { throw FixtureError("PUBSUB NUMSUB: \(reply)") }
        return Int(count)
    }

    /// CLIENT LIST, one `field=value` map per client.
    func clientList() throws -> [[String: String]] {
        let reply = try client().command(["CLIENT", "LIST"])
        guard let text = reply.string else { throw FixtureError("CLIENT LIST: \(reply)") }
        return text.split(separator: "\n").map { line in
            var fields: [String: String] = [:]
            for field in line.split(separator: " ") {
                guard let equals = field.firstIndex(of: "=") else { continue }
                fields[String(field[..<equals])] = String(field[equals...].dropFirst())
            }
            return fields
        }
    }

    /// SUBSCRIBE and PSUBSCRIBE subscriptions summed over every client.
    func subscriptionCounts() throws -> (channels: Int, patterns: Int) {
        try clientList().reduce((0, 0)) { sum, client in
            (sum.0 + (client["sub"].flatMap(Int.init) ?? 0), sum.1 + (client["psub"].flatMap(Int.init) ?? 0))
        }
    }

    /// Publishes every (channel, payload) pair in one pipelined write.
    func publishAll(_ messages: [(String, String)]) throws {
        guard !messages.isEmpty else { return }
        let client = try client()
        for start in stride(from: 0, to: messages.count, by: 500) {
            let part = messages[start..<min(start + 500, messages.count)]
            let replies = try client.pipeline(part.map { ["PUBLISH", $0.0, $0.1] })
            for reply in replies where reply.int == nil { throw FixtureError("PUBLISH: \(reply)") }
        }
    }
}
