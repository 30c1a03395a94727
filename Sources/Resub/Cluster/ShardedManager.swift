import LibeventLoop

/// Cluster mode: one ``NodeLink`` per master that owns at least one subscribed shard channel (routed by
/// hash slot through a ``ShardedStateMachine``), plus one link to any node for plain channels and patterns
/// (messages are broadcast cluster-wide), which moves to another node when its node fails. The topology is
/// refreshed on MOVED/ASK, on a server-pushed `sunsubscribe` (the slot moved), on a link's death, and
/// periodically. Loop-only: every decision happens on the loop thread, so concurrent requests from any
/// number of tasks are serialized and a node's link is closed exactly once.
package final class ShardedManager: LinkManager, @unchecked Sendable {
    private let loop: EventLoop
    private let template: ConnectionConfiguration
    private let health: HealthConfiguration
    private let replayBatchSize: Int
    private let cluster: ClusterConfiguration
    private let onBatch: (MessageBatch) -> Void
    private let onEvent: (SubscriberEvent) -> Void
    private var machine: ShardedStateMachine
    private var shardLinks: [String: NodeLink] = [:]
    private var broadcast: NodeLink?
    private var broadcastDesired: SubscriptionSet
    private var broadcastRotation = 0
    private var refresher: TopologyRefresher?
    private var refreshTimer: TimerEvent?
    /// Shard channels a link dropped (refused with MOVED, or unsubscribed by the server) that must be asked
    /// for again once the topology is known anew.
    private var toReassert: Set<String> = []
    private var stopped = false
    package var isReadingPaused = false {
        didSet {
            for link in allLinks { link.isReadingPaused = isReadingPaused }
        }
    }
    /// Counts of links opened and closed, for tests and metrics.
    package private(set) var linksOpened = 0
    package private(set) var linksClosed = 0

    package init(
        loop: EventLoop, template: ConnectionConfiguration, health: HealthConfiguration, replayBatchSize: Int,
        cluster: ClusterConfiguration, initial: SubscriptionSet,
        onBatch: @escaping (MessageBatch) -> Void, onEvent: @escaping (SubscriberEvent) -> Void
    ) {
        self.loop = loop
        self.template = template
        self.health = health
        self.replayBatchSize = replayBatchSize
        self.cluster = cluster
        self.onBatch = onBatch
        self.onEvent = onEvent
        self.machine = ShardedStateMachine(slots: cluster.slots)
        self.broadcastDesired = SubscriptionSet(channels: initial.channels, patterns: initial.patterns)
        self.initialShards = Array(initial.shardChannels)
    }

    private var initialShards: [String]

    private var allLinks: [NodeLink] { Array(shardLinks.values) + (broadcast.map { [$0] } ?? []) }

    // MARK: LinkManager

    package func start() {
        loop.assertInLoop()
        refresher = TopologyRefresher(
            loop: loop, template: template, attemptTimeout: template.socket.connectTimeout + .seconds(2),
            candidates: { [weak self] in self?.refreshCandidates() ?? [] },
            onMap: { [weak self] map in self?.topologyArrived(map) },
            onFailure: { [weak self] error in self?.onEvent(.topologyRefreshFailed(error)) })
        apply(machine.add(initialShards))
        initialShards = []
        if !broadcastDesired.isEmpty { openBroadcast() }
        refresher?.refresh()
        scheduleRefresh()
    }

    package func add(_ kind: SubscriptionKind, _ names: [String], completion: @escaping (Result<Void, ResubError>) -> Void) {
        guard !stopped else { return completion(.failure(ResubError(.shutDown, "subscriber is shut down"))) }
        if kind == .shardChannel {
            // Like a standalone link: returns once every involved link confirmed (or at once for a link
            // not connected yet, or for a channel whose slot has no known owner: both are replayed later).
            apply(machine.add(names), completion: completion)
            return
        }
        broadcastDesired[kind].formUnion(names)
        if let broadcast {
            broadcast.add(kind, names, completion: completion)
        } else {
            openBroadcast()
            completion(.success(()))
        }
    }

    package func remove(_ kind: SubscriptionKind, _ names: [String], completion: @escaping (Result<Void, ResubError>) -> Void) {
        guard !stopped else { return completion(.failure(ResubError(.shutDown, "subscriber is shut down"))) }
        if kind == .shardChannel {
            apply(machine.remove(names))
            toReassert.subtract(names)
            completion(.success(()))
            return
        }
        broadcastDesired[kind].subtract(names)
        guard let broadcast else { return completion(.success(())) }
        if broadcastDesired.isEmpty {
            broadcast.stop()
            self.broadcast = nil
            completion(.success(()))
        } else {
            broadcast.remove(kind, names, completion: completion)
        }
    }

    package func stop() {
        guard !stopped else { return }
        stopped = true
        refreshTimer?.cancel()
        refreshTimer = nil
        refresher?.stop()
        for link in allLinks { link.stop() }
        shardLinks = [:]
        broadcast = nil
    }

    package var desired: SubscriptionSet {
        var set = broadcastDesired
        set.shardChannels = machine.desired
        return set
    }

    package var confirmed: SubscriptionSet {
        var set = broadcast?.confirmed ?? SubscriptionSet()
        set.shardChannels = []
        for link in shardLinks.values { set.shardChannels.formUnion(link.confirmed.shardChannels) }
        return set
    }

    package var linkStates: [(node: String, state: LinkState)] {
        allLinks.map { ($0.node, $0.state) }.sorted { $0.node < $1.node }
    }

    package var lastErrors: [String: ResubError] {
        var result: [String: ResubError] = [:]
        for link in allLinks { if let e = link.lastError { result[link.node] = e } }
        return result
    }

    /// The node addresses with an open shard link (tests, diagnostics).
    package var shardNodes: [String] { shardLinks.keys.sorted() }

    // MARK: Acting on the machine's decisions

    private func apply(_ actions: [ShardedStateMachine.Action], completion: ((Result<Void, ResubError>) -> Void)? = nil) {
        var waiting = 1
        var firstError: ResubError?
        let done: (Result<Void, ResubError>) -> Void = { result in
            // MOVED/ASK/TRYAGAIN/CLUSTERDOWN are routing, not refusals: the manager re-routes after a refresh.
            if case .failure(let error) = result, firstError == nil, !Self.isRouting(error) { firstError = error }
            waiting -= 1
            if waiting == 0 { completion?(firstError.map { .failure($0) } ?? .success(())) }
        }
        defer { done(.success(())) }
        for action in actions {
            switch action {
            case .openLink(let node, let names):
                precondition(shardLinks[node.address] == nil, "opening a second link to \(node.address)")
                let link = makeLink(endpoint: endpoint(for: node), desired: SubscriptionSet())
                link.resubscribesLost = false
                shardLinks[node.address] = link
                linksOpened += 1
                link.start()
                waiting += 1
                link.add(.shardChannel, names, completion: done)
            case .add(let node, let names):
                waiting += 1
                if let link = shardLinks[node] { link.add(.shardChannel, names, completion: done) } else { done(.success(())) }
            case .remove(let node, let names):
                shardLinks[node]?.remove(.shardChannel, names) { _ in }
            case .closeLink(let node):
                guard let link = shardLinks.removeValue(forKey: node) else {
                    preconditionFailure("closing a link to \(node) that is not open")
                }
                linksClosed += 1
                link.stop()
            case .ignored(let names):
                onEvent(.shardChannelsIgnored(names: names, slots: cluster.slots.description))
            case .refreshTopology:
                refresher?.refresh()
            }
        }
    }

    private func makeLink(endpoint: RedisEndpoint, desired: SubscriptionSet) -> NodeLink {
        var configuration = template
        configuration.endpoint = endpoint
        let link = NodeLink(
            environment: .loop(loop), configuration: configuration, health: health, desired: desired,
            replayBatchSize: replayBatchSize, onBatch: onBatch,
            onEvent: { [weak self] event in self?.linkEvent(event) })
        link.isReadingPaused = isReadingPaused
        return link
    }

    private func openBroadcast() {
        let link = makeLink(endpoint: cluster.seeds[0], desired: broadcastDesired)
        link.nextEndpoint = { [weak self] in self?.nextBroadcastEndpoint() }
        broadcast = link
        link.start()
    }

    /// The next node for plain channels and patterns: any online node of the topology, else a seed,
    /// in rotation.
    private func nextBroadcastEndpoint() -> RedisEndpoint? {
        var candidates = (machine.map?.allNodes.filter(\.isOnline).map { endpoint(for: $0) } ?? [])
        candidates += cluster.seeds
        guard !candidates.isEmpty else { return nil }
        broadcastRotation += 1
        return candidates[broadcastRotation % candidates.count]
    }

    private func endpoint(for node: ClusterNode) -> RedisEndpoint {
        let seed = cluster.seeds[0]
        return RedisEndpoint(address: .tcp(host: node.host, port: node.port), username: seed.username, password: seed.password, tls: seed.tls)
    }

    private func refreshCandidates() -> [RedisEndpoint] {
        cluster.seeds + (machine.map?.allNodes.filter(\.isOnline).map { endpoint(for: $0) } ?? [])
    }

    // MARK: Topology

    private func topologyArrived(_ map: ShardMap) {
        guard !stopped else { return }
        let changed = machine.map != map
        if changed { apply(machine.topologyChanged(map)) }
        // Ask again for what a link dropped; the link sends it only if it no longer requests it.
        let reassert = toReassert
        toReassert = []
        var byNode: [String: [String]] = [:]
        for name in reassert {
            if let node = machine.nodeOf[name] { byNode[node, default: []].append(name) }
        }
        for (node, names) in byNode { shardLinks[node]?.add(.shardChannel, names) { _ in } }
        if changed { onEvent(.topologyChanged(masters: map.masters.count, coveredSlots: map.coveredSlotCount)) }
    }

    private var isDegraded: Bool {
        !machine.unassigned.isEmpty || !toReassert.isEmpty || allLinks.contains { $0.state != .healthy }
    }

    private func scheduleRefresh() {
        guard !stopped else { return }
        let delay = isDegraded ? cluster.degradedRefreshInterval : cluster.refreshInterval
        refreshTimer = loop.scheduleTimer(after: delay) { [weak self] in
            guard let self, !self.stopped else { return }
            self.refresher?.refresh()
            self.scheduleRefresh()
        }
    }

    private static func isRouting(_ error: ResubError) -> Bool {
        let text = error.serverError ?? ""
        return text.hasPrefix("MOVED") || text.hasPrefix("ASK") || text.hasPrefix("CLUSTERDOWN") || text.hasPrefix("TRYAGAIN")
    }

    private func linkEvent(_ event: SubscriberEvent) {
        switch event {
        case .subscriptionFailed(.shardChannel, let names, let error):
            if Self.isRouting(error) {
                toReassert.formUnion(names.filter { machine.desired.contains($0) })
                refresher?.refresh()
            }
        case .subscriptionLost(.shardChannel, let name, _):
            if machine.desired.contains(name) { toReassert.insert(name) }
            refresher?.refresh()
        case .stateChanged(_, _, .waitingToReconnect, _):
            refresher?.refresh()
            if refreshTimer == nil || isDegraded {
                refreshTimer?.cancel()
                scheduleRefresh()
            }
        default:
            break
        }
        onEvent(event)
    }
}
