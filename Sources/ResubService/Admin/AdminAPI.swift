#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LibeventLoop
import Resub

/// The admin HTTP API, answered on the loop thread:
/// - `GET /healthz`: the process is alive (always 200).
/// - `GET /readyz`: 200 when every link is healthy (connected and every subscription confirmed) and no
///   subscription is refused, else 503 naming the refused subscriptions and the server's error; `keyspace`
///   lists each node carrying keyspace/keyevent names with its state and confirmed count.
/// - `GET /subscriptions`: the desired subscriptions as `{"channels":[…],"patterns":[…],"shard_channels":[…]}`.
/// - `POST /subscriptions` with that shape adds them; `DELETE /subscriptions` removes them. Both go through
///   the one subscription-change path and answer once the server did: 200 with the confirmed names in that
///   shape; 202 while the link is down (queued, applied by the replay on connect); 403 (NOPERM) or 422 (any
///   other refusal) with the server's error text when it refused a name (the others are served).
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

    /// Answers one request, at once or once the server answered a change. Loop-only.
    package func handle(_ request: HTTPRequest, respond: @escaping (HTTPResponse) -> Void) {
        switch (request.method, request.path) {
        case ("GET", "/healthz"), ("HEAD", "/healthz"):
            return respond(json(200, ["status": "ok"]))
        case ("GET", "/readyz"), ("HEAD", "/readyz"):
            let (status, body) = Self.readiness(subscriber.status)
            return respond(json(status, body))
        default:
            break
        }
        if let token, request.headers["authorization"] != "Bearer \(token)" {
            return respond(HTTPResponse(status: 401, headers: [("Content-Type", "application/json"), ("WWW-Authenticate", "Bearer")], body: Array("{\"error\":\"missing or wrong bearer token\"}".utf8)))
        }
        switch (request.method, request.path) {
        case ("GET", "/metrics"):
            respond(HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", text: metrics()))
        case ("GET", "/subscriptions"):
            respond(json(200, Self.object(subscriber.desiredNow)))
        case ("POST", "/subscriptions"), ("DELETE", "/subscriptions"):
            let set: SubscriptionSet
            do {
                set = try Self.parse(request.body)
            } catch {
                return respond(json(400, ["error": error.description]))
            }
            let kinds = SubscriptionKind.allCases.filter { !set[$0].isEmpty }
            var results: [SubscriptionKind: SubscriptionChangeResult] = [:]
            var waiting = kinds.count + 1
            let done = { [self] in
                waiting -= 1
                guard waiting == 0 else { return }
                let (status, body) = Self.answer(results)
                respond(json(status, body))
            }
            for kind in kinds {
                subscriber.apply(SubscriptionChange(kind, set[kind].sorted(), subscribe: request.method == "POST")) { result in
                    results[kind] = result
                    done()
                }
            }
            done()
        case (_, "/subscriptions"), (_, "/metrics"), (_, "/healthz"), (_, "/readyz"):
            respond(json(405, ["error": "method not allowed"]))
        default:
            respond(json(404, ["error": "not found"]))
        }
    }

    /// The /readyz body; `refused`, `keyspace` and `split` appear only when they apply.
    package struct Readiness: Encodable, Sendable {
        /// One subscription the server refused, with its error text.
        package struct Refused: Encodable, Sendable, Equatable {
            package let kind: String, name: String, error: String
            /// A refusal of `name` (of the JSON key `kind`) with the server's `error` text.
            package init(kind: String, name: String, error: String) {
                self.kind = kind
                self.name = name
                self.error = error
            }
        }
        /// One node carrying keyspace/keyevent names (every master in cluster mode).
        package struct NodeLocal: Encodable, Sendable {
            package let node: String, state: String, subscriptions: Int, confirmed: Int
        }
        /// This member of a `--slots auto` group.
        package struct Split: Encodable, Sendable {
            package let group: String, member: String, members: Int, lease: Bool, ranges: String, slots: Int, broadcast: Bool
            package let acquiring_blocks: Int, releasing_blocks: Int, settled: Bool
        }
        package let ready: Bool
        package let links: [[String: String]]
        package let refused: [Refused]?
        package let keyspace: [NodeLocal]?
        package let split: Split?
        /// Sentinel mode: the master and the sentinels (see AdminAPI+Sentinel.swift).
        package let sentinel: Sentinel?
    }

    /// /readyz: 200 when ready, else 503; each link with its state (and why it is down), and every refused
    /// subscription with the server's error.
    package static func readiness(_ status: SubscriberStatus) -> (status: Int, body: Readiness) {
        let links = status.links.map { link -> [String: String] in
            var entry = ["node": link.node, "state": link.state.rawValue]
            if link.state != .healthy, let error = status.lastErrors[link.node] {
                entry["error"] = error.code.rawValue
                entry["reason"] = error.description
            }
            return entry
        }
        let body = Readiness(
            ready: status.isReady, links: links,
            refused: status.refusals.isEmpty ? nil : status.refusals.map { .init(kind: $0.kind.jsonKey, name: $0.name, error: $0.error) },
            keyspace: status.nodeLocal.isEmpty ? nil : status.nodeLocal.map {
                .init(node: $0.node, state: $0.state.rawValue, subscriptions: $0.desired, confirmed: $0.confirmed)
            },
            split: status.split.map {
                .init(
                    group: $0.group, member: $0.member, members: $0.members, lease: $0.leaseHeld, ranges: $0.ranges,
                    slots: $0.slots, broadcast: $0.broadcast, acquiring_blocks: $0.acquiring,
                    releasing_blocks: $0.releasing, settled: $0.isSettled)
            },
            sentinel: status.sentinel.map(Self.sentinel))
        return (status.isReady ? 200 : 503, body)
    }

    /// The body of an answer to POST/DELETE /subscriptions: on 200 the confirmed names at the top level
    /// (`channels`, `patterns`, `shard_channels`); otherwise `error`, `refused`, `confirmed` and `queued`.
    package struct ChangeAnswer: Encodable, Sendable {
        package var channels: [String]?
        package var patterns: [String]?
        package var shard_channels: [String]?
        package var error: String?
        package var refused: [Readiness.Refused]?
        package var confirmed: [String: [String]]?
        package var queued: [String: [String]]?
    }

    /// The answer to POST/DELETE /subscriptions from the per-kind results: a refusal wins (403 for NOPERM,
    /// else 422, with the server's text), then a queued name (202), else 200 with the confirmed names.
    package static func answer(_ results: [SubscriptionKind: SubscriptionChangeResult]) -> (status: Int, body: ChangeAnswer) {
        var confirmed = SubscriptionSet(), queued = SubscriptionSet()
        var refused: [Readiness.Refused] = []
        for (kind, result) in results {
            confirmed[kind] = Set(result.confirmed)
            queued[kind] = Set(result.queued)
            refused += result.refused.map { .init(kind: kind.jsonKey, name: $0.name, error: $0.error) }
        }
        refused.sort { ($0.kind, $0.name) < ($1.kind, $1.name) }
        if let first = refused.first {
            return (first.error.hasPrefix("NOPERM") ? 403 : 422, ChangeAnswer(
                error: first.error, refused: refused, confirmed: object(confirmed), queued: object(queued)))
        }
        if !queued.isEmpty {
            return (202, ChangeAnswer(confirmed: object(confirmed), queued: object(queued)))
        }
        return (200, ChangeAnswer(
            channels: confirmed.channels.sorted(), patterns: confirmed.patterns.sorted(),
            shard_channels: confirmed.shardChannels.sorted()))
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

    private func json(_ status: Int, _ value: some Encodable) -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: Array(data) + [10])
    }
}
