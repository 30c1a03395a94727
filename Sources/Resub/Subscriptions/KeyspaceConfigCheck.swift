import LibeventLoop
import RESP

/// Warns when a node that carries keyspace or keyevent subscriptions has the notifications switched off:
/// asks it `CONFIG GET notify-keyspace-events` on a ``SideConnection`` (a subscribed RESP2 connection may not
/// send CONFIG) and reports ``SubscriberEvent/keyspaceEventsDisabled(node:configured:missing:)`` once per node
/// and set of missing flags. Says nothing when CONFIG is refused (an ACL without `+config`) or the node
/// cannot be reached. Loop-only.
package final class KeyspaceConfigCheck: @unchecked Sendable {
    private let loop: EventLoop
    private let template: ConnectionConfiguration
    private let onEvent: (SubscriberEvent) -> Void
    /// The names already checked on each node: a reconnect or a name asked for again checks nothing.
    private var checked: [String: Set<String>] = [:]
    /// The warnings already given, as `node missing-flags`.
    private var warned: Set<String> = []
    private var running: [ObjectIdentifier: SideConnection] = [:]
    private var stopped = false
    /// The names of the link being checked, for an owner that has them only once the link exists.
    package var names: () -> [String] = { [] }

    /// - Parameter template: credentials, TLS, client name and limits for the check connections.
    package init(loop: EventLoop, template: ConnectionConfiguration, onEvent: @escaping (SubscriberEvent) -> Void) {
        self.loop = loop
        self.template = template
        self.onEvent = onEvent
    }

    /// Checks `endpoint` for the node-local names among `names`, unless they were all checked there before.
    package func verify(_ endpoint: RedisEndpoint, names: some Sequence<String>) {
        loop.assertInLoop()
        let node = endpoint.address.description
        let nodeLocal = Set(names.lazy.filter(KeyspaceEvents.isNodeLocal))
        guard !stopped, !nodeLocal.isEmpty, !nodeLocal.isSubset(of: checked[node] ?? []) else { return }
        checked[node, default: []].formUnion(nodeLocal)
        var configuration = template
        configuration.endpoint = endpoint
        let side = SideConnection(loop: loop, configuration: configuration, timeout: configuration.socket.connectTimeout + .seconds(2))
        let id = ObjectIdentifier(side)
        running[id] = side
        side.send(["CONFIG", "GET", "notify-keyspace-events"]) { [weak self] result in
            guard let self, let side = self.running.removeValue(forKey: id) else { return }
            side.close()
            // An error reply (NOPERM, CONFIG renamed away) or a lost connection: nothing is known, say nothing.
            guard case .success(let reply) = result, !reply.isError, let configured = Self.value(reply) else { return }
            let missing = KeyspaceEvents.missingFlags(configured: configured, names: nodeLocal.union(self.checked[node] ?? []))
            guard !missing.isEmpty, self.warned.insert("\(node) \(missing)").inserted else { return }
            self.onEvent(.keyspaceEventsDisabled(node: node, configured: configured, missing: missing))
        }
    }

    /// Closes every check connection and checks nothing more.
    package func stop() {
        stopped = true
        let sides = running.values
        running = [:]
        for side in sides { side.close() }
    }

    /// The value of a `CONFIG GET` reply: `[name, value]` (RESP2) or `{name: value}` (RESP3).
    private static func value(_ reply: RESPValue) -> String? {
        switch reply.withoutAttributes {
        case .map(let pairs): return pairs.first?.value.string
        case .array(let elements) where elements.count == 2: return elements[1].string
        default: return nil
        }
    }
}
