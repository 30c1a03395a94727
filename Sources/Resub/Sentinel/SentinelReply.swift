import LibeventLoop
import RESP

/// The replies and messages of the Sentinel conversation, read as values (no I/O).
package enum SentinelReply {
    /// `SENTINEL GET-MASTER-ADDR-BY-NAME`: the master's address, or nil when the sentinel does not know the
    /// name (a null reply).
    /// - Throws: ``ResubError`` for an error reply or a reply of the wrong shape.
    package static func masterAddress(_ reply: RESPValue) throws(ResubError) -> SocketAddress? {
        if reply.isError {
            throw ResubError(.serverError, "sentinel refused GET-MASTER-ADDR-BY-NAME", serverError: reply.string, command: "SENTINEL")
        }
        if case .null = reply { return nil }
        guard let parts = reply.elements, parts.count == 2, let host = parts[0].string,
              let portText = parts[1].string, let port = Int(portText), (1...65535).contains(port) else {
            throw ResubError(.protocolError, "unexpected GET-MASTER-ADDR-BY-NAME reply \(reply)", command: "SENTINEL")
        }
        return .tcp(host: host, port: port)
    }

    /// `SENTINEL SENTINELS NAME`: the other sentinels' addresses (entries without ip/port are left out; an
    /// error reply gives none).
    package static func peers(_ reply: RESPValue) -> [SocketAddress] {
        guard !reply.isError, let entries = reply.elements else { return [] }
        return entries.compactMap { entry in
            let fields = fields(of: entry)
            guard let host = fields["ip"], let port = fields["port"].flatMap({ Int($0) }), (1...65535).contains(port) else { return nil }
            return .tcp(host: host, port: port)
        }
    }

    /// `ROLE`: the role's name (`master`, `slave`, `sentinel`), or nil for a reply of another shape.
    package static func role(_ reply: RESPValue) -> String? {
        reply.elements?.first?.string
    }

    /// A `+switch-master` message for `masterName` (`NAME old-ip old-port new-ip new-port`): the new master.
    package static func switchedMaster(_ payload: String, masterName: String) -> SocketAddress? {
        let parts = payload.split(separator: " ")
        guard parts.count == 5, parts[0] == masterName, let port = Int(parts[4]), (1...65535).contains(port) else { return nil }
        return .tcp(host: String(parts[3]), port: port)
    }

    /// A RESP3 map or a RESP2 flat key/value array as a dictionary of strings.
    private static func fields(of value: RESPValue) -> [String: String] {
        var result: [String: String] = [:]
        switch value {
        case .map(let pairs):
            for pair in pairs { if let k = pair.key.string, let v = pair.value.string { result[k] = v } }
        default:
            let items = value.elements ?? []
            var i = 0
            while i + 1 < items.count {
                if let k = items[i].string, let v = items[i + 1].string { result[k] = v }
                i += 2
            }
        }
        return result
    }
}
