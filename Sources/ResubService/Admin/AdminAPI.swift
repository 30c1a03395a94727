#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
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
            let nodeLocal = subscriber.withLinks { $0.nodeLocalLinks }
            return json(ready ? 200 : 503, Readiness(
                ready: ready, links: links,
                keyspace: nodeLocal.isEmpty ? nil : nodeLocal.map {
                    .init(node: $0.node, state: $0.state.rawValue, subscriptions: $0.desired, confirmed: $0.confirmed)
                },
                split: split.map {
                    .init(
                        group: $0.group, member: $0.member, members: $0.members, lease: $0.leaseHeld, ranges: $0.ranges,
                        slots: $0.slots, broadcast: $0.broadcast, acquiring_blocks: $0.acquiring,
                        releasing_blocks: $0.releasing, settled: $0.isSettled)
                },
                sentinel: subscriber.withLinks { ($0 as? SentinelLink)?.monitor }.map(Self.sentinel)))
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
    package static func object(_ set: SubscriptionSet) -> [String: [String]] {
        var result: [String: [String]] = [:]
        for kind in SubscriptionKind.allCases { result[kind.jsonKey] = set[kind].sorted() }
        return result
    }

    /// Parses a subscriptions body; unknown keys and non-string names are errors.
    package static func parse(_ body: [UInt8]) throws(SettingsError) -> SubscriptionSet {
        let lists: [String: [String]]
        do {
            lists = try JSONDecoder().decode([String: [String]].self, from: Data(body))
        } catch DecodingError.typeMismatch(_, let context) where !context.codingPath.isEmpty {
            throw SettingsError("'\(context.codingPath[0].stringValue)' must be a list of non-empty strings")
        } catch DecodingError.typeMismatch {
            throw SettingsError("body must be an object like {\"channels\":[\"a\"],\"patterns\":[],\"shard_channels\":[]}")
        } catch {
            throw SettingsError("body is not JSON")
        }
        var set = SubscriptionSet()
        for (key, names) in lists {
            guard let kind = SubscriptionKind.allCases.first(where: { $0.jsonKey == key }) else {
                throw SettingsError("unknown key '\(key)' (use channels, patterns, shard_channels)")
            }
            guard !names.contains("") else {
                throw SettingsError("'\(key)' must be a list of non-empty strings")
            }
            set[kind] = Set(names)
        }
        return set
    }

    /// The `/readyz` body.
    /// The /readyz body; `keyspace` and `split` appear only when they apply.
    struct Readiness: Encodable {
        /// One node carrying keyspace/keyevent names (every master in cluster mode).
        struct NodeLocal: Encodable {
            let node: String, state: String, subscriptions: Int, confirmed: Int
        }
        /// This member of a `--slots auto` group.
        struct Split: Encodable {
            let group: String, member: String, members: Int, lease: Bool, ranges: String, slots: Int, broadcast: Bool
            let acquiring_blocks: Int, releasing_blocks: Int, settled: Bool
        }
        let ready: Bool
        let links: [[String: String]]
        let keyspace: [NodeLocal]?
        let split: Split?
        /// Sentinel mode: the master and the sentinels (see AdminAPI+Sentinel.swift).
        let sentinel: Sentinel?
    }

    private func json(_ status: Int, _ value: some Encodable) -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: Array(data) + [10])
    }
}
