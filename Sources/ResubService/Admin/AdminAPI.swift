import Foundation
import LibeventLoop
import Resub

/// The admin HTTP API, answered on the loop thread:
/// - `GET /healthz`: the process is alive (always 200).
/// - `GET /readyz`: 200 when every link is healthy (connected and every subscription confirmed), else 503;
///   `keyspace` lists each node carrying keyspace/keyevent names with its state and confirmed count.
/// - `GET /subscriptions`: the desired subscriptions as `{"channels":[…],"patterns":[…],"shard_channels":[…]}`.
/// - `POST /subscriptions` with that shape adds them; `DELETE /subscriptions` removes them; both answer
///   with the resulting desired set. In cluster mode these go through the sharded manager like any change.
/// - `GET /metrics`: Prometheus text (see ``ServiceMetrics``).
/// With a token, every endpoint but `/healthz` and `/readyz` needs `Authorization: Bearer <token>`.
package final class AdminAPI: @unchecked Sendable {
    private let subscriber: Subscriber
    private let token: String?
    private let metrics: () -> String

    package init(subscriber: Subscriber, token: String?, metrics: @escaping () -> String) {
        self.subscriber = subscriber
        self.token = token
        self.metrics = metrics
    }

    /// Answers one request. Loop-only.
    package func handle(_ request: HTTPRequest) -> HTTPResponse {
        switch (request.method, request.path) {
        case ("GET", "/healthz"), ("HEAD", "/healthz"):
            return json(200, ["status": "ok"])
        case ("GET", "/readyz"), ("HEAD", "/readyz"):
            let (states, errors) = subscriber.withLinks { ($0.linkStates, $0.lastErrors) }
            let split = subscriber.withLinks { ($0 as? ShardedManager)?.splitStatus }
            // A split member may own no channel at all, so no link: it is ready once it holds its lease.
            let ready = (split.map(\.leaseHeld) ?? !states.isEmpty) && states.allSatisfy { $0.state == .healthy }
            let links = states.map { link -> [String: String] in
                var entry = ["node": link.node, "state": link.state.rawValue]
                if link.state != .healthy, let error = errors[link.node] {
                    entry["error"] = error.code.rawValue
                    entry["reason"] = error.description
                }
                return entry
            }
            var body: [String: Any] = ["ready": ready, "links": links]
            if let monitor = subscriber.withLinks({ ($0 as? SentinelLink)?.monitor }) { body["sentinel"] = Self.object(monitor) }
            // Keyspace/keyevent names: each node that carries them (every master in cluster mode).
            let nodeLocal = subscriber.withLinks { $0.nodeLocalLinks }
            if !nodeLocal.isEmpty {
                body["keyspace"] = nodeLocal.map { ["node": $0.node, "state": $0.state.rawValue, "subscriptions": $0.desired, "confirmed": $0.confirmed] as [String: Any] }
            }
            if let split {
                body["split"] = [
                    "group": split.group, "member": split.member, "members": split.members, "lease": split.leaseHeld,
                    "ranges": split.ranges, "slots": split.slots, "broadcast": split.broadcast,
                    "acquiring_blocks": split.acquiring, "releasing_blocks": split.releasing, "settled": split.isSettled,
                ] as [String: Any]
            }
            return json(ready ? 200 : 503, body)
        default:
            break
        }
        if let token, request.headers["authorization"] != "Bearer \(token)" {
            return HTTPResponse(status: 401, headers: [("Content-Type", "application/json"), ("WWW-Authenticate", "Bearer")], body: Array("{\"error\":\"missing or wrong bearer token\"}".utf8))
        }
        switch (request.method, request.path) {
        case ("GET", "/metrics"):
            return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", text: metrics())
        case ("GET", "/subscriptions"):
            return json(200, Self.object(subscriber.withLinks { $0.desired }))
        case ("POST", "/subscriptions"), ("DELETE", "/subscriptions"):
            let set: SubscriptionSet
            do {
                set = try Self.parse(request.body)
            } catch {
                return json(400, ["error": error.description])
            }
            let add = request.method == "POST"
            subscriber.withLinks { links in
                for kind in SubscriptionKind.allCases where !set[kind].isEmpty {
                    let names = set[kind].sorted()
                    if add { links.add(kind, names) { _ in } } else { links.remove(kind, names) { _ in } }
                }
            }
            return json(200, Self.object(subscriber.withLinks { $0.desired }))
        case (_, "/subscriptions"), (_, "/metrics"), (_, "/healthz"), (_, "/readyz"):
            return json(405, ["error": "method not allowed"])
        default:
            return json(404, ["error": "not found"])
        }
    }

    /// `{"channels":[…],"patterns":[…],"shard_channels":[…]}`, names sorted.
    package static func object(_ set: SubscriptionSet) -> [String: Any] {
        var result: [String: Any] = [:]
        for kind in SubscriptionKind.allCases { result[kind.jsonKey] = set[kind].sorted() }
        return result
    }

    /// Parses a subscriptions body; unknown keys and non-string names are errors.
    package static func parse(_ body: [UInt8]) throws(SettingsError) -> SubscriptionSet {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(body))
        } catch {
            throw SettingsError("body is not JSON")
        }
        guard let dictionary = object as? [String: Any] else {
            throw SettingsError("body must be an object like {\"channels\":[\"a\"],\"patterns\":[],\"shard_channels\":[]}")
        }
        var set = SubscriptionSet()
        for (key, value) in dictionary {
            guard let kind = SubscriptionKind.allCases.first(where: { $0.jsonKey == key }) else {
                throw SettingsError("unknown key '\(key)' (use channels, patterns, shard_channels)")
            }
            guard let names = value as? [String], !names.contains("") else {
                throw SettingsError("'\(key)' must be a list of non-empty strings")
            }
            set[kind] = Set(names)
        }
        return set
    }

    private func json(_ status: Int, _ object: [String: Any]) -> HTTPResponse {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: Array(data) + [10])
    }
}
