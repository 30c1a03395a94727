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
        carry(machine.add(initialShards))
        initialShards = []
        if !broadcastDesired.isEmpty { openBroadcast() }
        refresher?.refresh()
        scheduleRefresh()
    }

    package func apply(_ change: SubscriptionChange, completion: @escaping (SubscriptionChangeResult) -> Void) {
        guard !stopped else {
            var result = SubscriptionChangeResult()
            result.queued = change.names
            return completion(result)
        }
        if change.kind == .shardChannel {
            // Like a standalone link: answered once every involved link answered; a channel whose slot has
            // no known owner yet is queued (replayed once the topology is known).
            let actions = change.subscribe ? machine.add(change.names) : machine.remove(change.names)
            if !change.subscribe { toReassert.subtract(change.names) }
            carry(actions, change: change, completion: completion)
            return
        }
        if change.subscribe {
            broadcastDesired[change.kind].formUnion(change.names)
        } else {
            broadcastDesired[change.kind].subtract(change.names)
        }
        guard let broadcast else {
            if change.subscribe { openBroadcast() }
            var result = SubscriptionChangeResult()
            result.queued = change.names
            return completion(result)
        }
        if !change.subscribe && broadcastDesired.isEmpty {
            broadcast.stop()
            self.broadcast = nil
            var result = SubscriptionChangeResult()
            result.confirmed = change.names
            return completion(result)
        }
        broadcast.apply(change, completion: completion)
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

    package func desiredCount(_ kind: SubscriptionKind) -> Int {
        kind == .shardChannel ? machine.desired.count : broadcastDesired[kind].count
    }

    package var refusals: [SubscriptionRefusal] {
        allLinks.flatMap(\.refusals).sorted { ($0.kind.rawValue, $0.name) < ($1.kind.rawValue, $1.name) }
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

    /// Carries out the machine's actions. With a change, it answers once every involved link answered: a
    /// name no link took is queued for a subscribe (its slot's owner is not known yet) and confirmed for a
    /// removal (no link serves it).
    private func carry(
        _ actions: [ShardedStateMachine.Action], change: SubscriptionChange? = nil,
        completion: ((SubscriptionChangeResult) -> Void)? = nil
    ) {
        var waiting = 1
        var merged = SubscriptionChangeResult()
        var covered: Set<String> = []
        let done: (SubscriptionChangeResult) -> Void = { result in
            merged.merge(result)
            waiting -= 1
            guard waiting == 0, let change, let completion else { return }
            covered.formUnion(merged.confirmed)
            covered.formUnion(merged.queued)
            covered.formUnion(merged.refused.map(\.name))
            for name in change.names where !covered.contains(name) {
                if change.subscribe { merged.queued.append(name) } else { merged.confirmed.append(name) }
            }
            if !change.subscribe {
                // A removal's link may have closed for want of names: the server serves them no more.
                merged.confirmed += merged.queued
                merged.queued = []
            }
            completion(merged)
        }
        defer { done(SubscriptionChangeResult()) }
        // Names already desired make no action: their owner's link answers for them (confirmed already, or
        // asked again).
        if let change, change.subscribe {
            var named: Set<String> = []
            for action in actions {
                if case .openLink(_, let names) = action { named.formUnion(names) }
                if case .add(_, let names) = action { named.formUnion(names) }
            }
            var byNode: [String: [String]] = [:]
            for name in change.names where !named.contains(name) {
                if let node = machine.nodeOf[name] { byNode[node, default: []].append(name) }
            }
            for (node, names) in byNode {
                guard let link = shardLinks[node] else { continue }
                waiting += 1
                link.apply(SubscriptionChange(.shardChannel, names, subscribe: true, keepsRefused: change.keepsRefused), completion: done)
            }
        }
        let keeps = change?.keepsRefused ?? true
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
                link.apply(SubscriptionChange(.shardChannel, names, subscribe: true, keepsRefused: keeps), completion: done)
            case .add(let node, let names):
                waiting += 1
                if let link = shardLinks[node] {
                    link.apply(SubscriptionChange(.shardChannel, names, subscribe: true, keepsRefused: keeps), completion: done)
                } else {
                    done(SubscriptionChangeResult())
                }
            case .remove(let node, let names):
                waiting += 1
                if let link = shardLinks[node] {
                    link.apply(SubscriptionChange(.shardChannel, names, subscribe: false), completion: done)
                } else {
                    done(SubscriptionChangeResult())
                }
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
            loop: loop, configuration: configuration, health: health, desired: desired,
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
        if changed { carry(machine.topologyChanged(map)) }
        // Ask again for what a link dropped; the link sends it only if it no longer requests it.
        let reassert = toReassert
        toReassert = []
        var byNode: [String: [String]] = [:]
        for name in reassert {
            if let node = machine.nodeOf[name] { byNode[node, default: []].append(name) }
        }
        for (node, names) in byNode { shardLinks[node]?.apply(SubscriptionChange(.shardChannel, names, subscribe: true, keepsRefused: true)) { _ in } }
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
        SubscriptionStateMachine<ContinuousClock.Instant>.isRouting(error.serverError ?? "")
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
