import LibeventLoop

/// Cluster mode: one ``NodeLink`` per master that owns at least one subscribed shard channel (routed by
/// hash slot through a ``ShardedStateMachine``) or, when keyspace/keyevent names are subscribed, owns any
/// slot at all (those events are node-local); plus one link to any node for plain channels and patterns
/// (messages are broadcast cluster-wide), which moves to another node when its node fails. The topology is
/// refreshed on MOVED/ASK, on a server-pushed `sunsubscribe` (the slot moved), on a link's death, and
/// periodically. Loop-only: every decision happens on the loop thread, so concurrent requests from any
/// number of tasks are serialized and a node's link is closed exactly once.
package final class ShardedManager: LinkManager, @unchecked Sendable {
    let loop: EventLoop
    let template: ConnectionConfiguration
    private let health: HealthConfiguration
    private let replayBatchSize: Int
    let cluster: ClusterConfiguration
    private let onBatch: (MessageBatch) -> Void
    let onEvent: (SubscriberEvent) -> Void
    var machine: ShardedStateMachine
    private var shardLinks: [String: NodeLink] = [:]
    var broadcast: NodeLink?
    var broadcastDesired = SubscriptionSet()
    private var broadcastRotation = 0
    var refresher: TopologyRefresher?
    private var refreshTimer: TimerEvent?
    /// Shard channels a link dropped (refused with MOVED, or unsubscribed by the server) that must be asked
    /// for again once the topology is known anew.
    private var toReassert: Set<String> = []
    /// Links closed while down (their master failed over): the outage lasts until what they held is
    /// confirmed elsewhere, and is then reported as a gap naming the old node.
    private var handovers: [Handover] = []
    /// When each shard link's node went down (wall clock), while it is down.
    private var downSince: [String: Double] = [:]
    private let keyspaceCheck: KeyspaceConfigCheck
    private var stopped = false
    /// `--slots auto`: the group membership that decides the served slots (see ShardedManager+Ownership).
    var split: SplitCoordinator?
    /// Whether this instance serves the plain channels and patterns (in a split group, one member does).
    var servesBroadcast = true
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
        cluster: ClusterConfiguration, initial: SubscriptionTable,
        onBatch: @escaping (MessageBatch) -> Void, onEvent: @escaping (SubscriberEvent) -> Void
    ) {
        self.loop = loop
        self.template = template
        self.health = health
        self.replayBatchSize = replayBatchSize
        self.cluster = cluster
        self.onBatch = onBatch
        self.onEvent = onEvent
        self.machine = ShardedStateMachine(slots: cluster.split == nil ? cluster.slots : .none)
        self.initial = initial
        self.keyspaceCheck = KeyspaceConfigCheck(loop: loop, template: template, onEvent: onEvent)
    }

    /// The subscriptions to start with (the configured table; emptied by ``start()``).
    private var initial: SubscriptionTable

    /// An outage of a link that was closed while down: see ``handovers``.
    private struct Handover {
        var node: String
        var from: Double
        var names: SubscriptionSet
    }

    private var allLinks: [NodeLink] { Array(shardLinks.values) + (broadcast.map { [$0] } ?? []) }

    // MARK: LinkManager

    package func start() {
        loop.assertInLoop()
        startSplit()
        refresher = TopologyRefresher(
            loop: loop, template: template, attemptTimeout: template.socket.connectTimeout + .seconds(2),
            candidates: { [weak self] in self?.refreshCandidates() ?? [] },
            onMap: { [weak self] map in self?.topologyArrived(map) },
            onFailure: { [weak self] error in self?.onEvent(.topologyRefreshFailed(error)) })
        let initial = self.initial
        self.initial = SubscriptionTable()
        // In the configuration's order (a table's rows keep it): no set or sort of every name on the way.
        let all: (SubscriptionKind) -> [String] = { initial.names($0, .desired) }
        carry(machine.add(all(.shardChannel)))
        for kind in [SubscriptionKind.channel, .pattern] {
            let (nodeLocal, ordinary) = Self.partitionNodeLocal(all(kind))
            broadcastDesired[kind] = Set(ordinary)
            carry(machine.addNodeLocal(kind, nodeLocal))
        }
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
        // Keyspace/keyevent names go to every master through the machine; the others to the broadcast link.
        let (nodeLocal, ordinary) = Self.partitionNodeLocal(change.names)
        let completion = Self.joined(2, completion)
        let local = SubscriptionChange(change.kind, nodeLocal, subscribe: change.subscribe, keepsRefused: change.keepsRefused)
        let hadNodeLocal = !machine.nodeLocal.isEmpty
        carry(
            change.subscribe ? machine.addNodeLocal(change.kind, nodeLocal) : machine.removeNodeLocal(change.kind, nodeLocal),
            change: local, completion: completion)
        if !hadNodeLocal && !machine.nodeLocal.isEmpty, refreshTimer != nil {
            refreshTimer?.cancel()  // the first node-local name: poll the topology at the shorter interval from now
            scheduleRefresh()
        }
        guard !ordinary.isEmpty else { return completion(SubscriptionChangeResult()) }
        let change = SubscriptionChange(change.kind, ordinary, subscribe: change.subscribe, keepsRefused: change.keepsRefused)
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

    /// Splits channel or pattern names into node-local ones (keyspace/keyevent) and ordinary ones.
    private static func partitionNodeLocal(_ names: some Sequence<String>) -> (nodeLocal: [String], ordinary: [String]) {
        var nodeLocal: [String] = [], ordinary: [String] = []
        for name in names {
            if KeyspaceEvents.isNodeLocal(name) { nodeLocal.append(name) } else { ordinary.append(name) }
        }
        return (nodeLocal, ordinary)
    }

    /// A completion to be called `count` times; calls `completion` once, with the results merged.
    private static func joined(_ count: Int, _ completion: @escaping (SubscriptionChangeResult) -> Void) -> (SubscriptionChangeResult) -> Void {
        var remaining = count
        var merged = SubscriptionChangeResult()
        return { result in
            merged.merge(result)
            remaining -= 1
            if remaining == 0 { completion(merged) }
        }
    }

    package func stop() {
        guard !stopped else { return }
        stopped = true
        split?.stop()
        refreshTimer?.cancel()
        refreshTimer = nil
        refresher?.stop()
        keyspaceCheck.stop()
        for link in allLinks { link.stop() }
        shardLinks = [:]
        broadcast = nil
    }

    package var desired: SubscriptionSet {
        var set = desiredChannelsAndPatterns
        set.shardChannels = machine.desired
        return set
    }

    /// The wanted channels and patterns, plain and node-local (the shard channels are the machine's).
    var desiredChannelsAndPatterns: SubscriptionSet {
        var set = broadcastDesired
        set.channels.formUnion(machine.nodeLocal.channels)
        set.patterns.formUnion(machine.nodeLocal.patterns)
        return set
    }

    /// Shard channels confirmed by their node; a node-local name once every master that should hold it
    /// confirmed it.
    package var confirmed: SubscriptionSet {
        var set = broadcast?.confirmed ?? SubscriptionSet()
        set.shardChannels = []
        for link in shardLinks.values { set.shardChannels.formUnion(link.confirmed.shardChannels) }
        for kind in [SubscriptionKind.channel, .pattern] where !machine.eventNodes.isEmpty {
            var everywhere = machine.nodeLocal[kind]
            for node in machine.eventNodes.keys { everywhere.formIntersection(shardLinks[node]?.confirmed[kind] ?? []) }
            set[kind].formUnion(everywhere)
        }
        return set
    }

    package func desiredCount(_ kind: SubscriptionKind) -> Int {
        kind == .shardChannel ? machine.desiredCount : broadcastDesired[kind].count + machine.nodeLocal[kind].count
    }

    package var refusals: [SubscriptionRefusal] {
        allLinks.flatMap(\.refusals).sorted { ($0.kind.rawValue, $0.name) < ($1.kind.rawValue, $1.name) }
    }

    package var nodeLocalLinks: [NodeLocalLinkState] {
        shardLinks.compactMap { node, link in
            let desired = link.desiredCount(.channel) + link.desiredCount(.pattern)
            guard desired > 0 else { return nil }
            let confirmed = link.confirmed.channels.count + link.confirmed.patterns.count
            return NodeLocalLinkState(node: node, state: link.state, desired: desired, confirmed: confirmed)
        }.sorted { $0.node < $1.node }
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
    /// name no link took is queued for a subscribe (its slot's owner is not known yet, or no master is) and
    /// confirmed for a removal (no link serves it).
    func carry(
        _ actions: [ShardedStateMachine.Action], change: SubscriptionChange? = nil,
        completion: ((SubscriptionChangeResult) -> Void)? = nil
    ) {
        var waiting = 1
        var merged = SubscriptionChangeResult()
        let done: (SubscriptionChangeResult) -> Void = { result in
            merged.merge(result)
            waiting -= 1
            guard waiting == 0, let change, let completion else { return }
            completion(Self.answer(change, from: merged))
        }
        defer { done(SubscriptionChangeResult()) }
        // Names already desired make no action: their owner's link answers for them (confirmed already, or
        // asked again).
        if let change, change.subscribe {
            var named: Set<String> = []
            for action in actions {
                if case .openLink(_, let names) = action { named.formUnion(names[change.kind]) }
                if case .add(_, change.kind, let names) = action { named.formUnion(names) }
            }
            var byNode: [String: [String]] = [:]
            for name in change.names where !named.contains(name) {
                if let node = machine.node(of: name) { byNode[node, default: []].append(name) }
            }
            for (node, names) in byNode {
                guard let link = shardLinks[node] else { continue }
                waiting += 1
                link.apply(SubscriptionChange(.shardChannel, names, subscribe: true, keepsRefused: change.keepsRefused), completion: done)
            }
            // A node-local name asked for again: every master's link answers (confirmed only if all confirmed).
            let again = change.kind == .shardChannel || !machine.servesNodeLocal
                ? [] : change.names.filter { !named.contains($0) && machine.nodeLocal[change.kind].contains($0) }
            if !again.isEmpty {
                for node in machine.eventNodes.keys.sorted() {
                    guard let link = shardLinks[node] else { continue }
                    waiting += 1
                    link.apply(SubscriptionChange(change.kind, again, subscribe: true, keepsRefused: change.keepsRefused), completion: done)
                }
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
                for kind in SubscriptionKind.allCases where !names[kind].isEmpty {
                    waiting += 1
                    link.apply(SubscriptionChange(kind, names[kind].sorted(), subscribe: true, keepsRefused: keeps), completion: done)
                }
            case .add(let node, let kind, let names):
                waiting += 1
                if let link = shardLinks[node] {
                    link.apply(SubscriptionChange(kind, names, subscribe: true, keepsRefused: keeps), completion: done)
                } else {
                    done(SubscriptionChangeResult())
                }
            case .remove(let node, let kind, let names):
                waiting += 1
                if let link = shardLinks[node] {
                    link.apply(SubscriptionChange(kind, names, subscribe: false), completion: done)
                } else {
                    done(SubscriptionChangeResult())
                }
            case .closeLink(let node):
                guard let link = shardLinks.removeValue(forKey: node) else {
                    preconditionFailure("closing a link to \(node) that is not open")
                }
                linksClosed += 1
                if let since = downSince.removeValue(forKey: node), link.state != .healthy {
                    handovers.append(Handover(node: node, from: since, names: link.desired))
                }
                link.stop()
            case .ignored(let names):
                guard cluster.split == nil else { break }  // a split member's slots change by design
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
            environment: .loop(loop), configuration: configuration, health: health,
            configured: SubscriptionTable(configured: desired), replayBatchSize: replayBatchSize, onBatch: onBatch,
            onEvent: { [weak self] event in self?.linkEvent(event) })
        link.isReadingPaused = isReadingPaused
        return link
    }

    func openBroadcast() {
        guard servesBroadcast else { return }
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

    func endpoint(for node: ClusterNode) -> RedisEndpoint {
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
            if let node = machine.node(of: name) { byNode[node, default: []].append(name) }
        }
        for (node, names) in byNode { shardLinks[node]?.apply(SubscriptionChange(.shardChannel, names, subscribe: true, keepsRefused: true)) { _ in } }
        if changed { onEvent(.topologyChanged(masters: map.masters.count, coveredSlots: map.coveredSlotCount)) }
    }

    private var isDegraded: Bool {
        machine.unassignedCount > 0 || !toReassert.isEmpty || allLinks.contains { $0.state != .healthy }
    }

    private func scheduleRefresh() {
        guard !stopped else { return }
        let delay = cluster.refreshDelay(degraded: isDegraded, nodeLocal: !machine.nodeLocal.isEmpty)
        refreshTimer = loop.scheduleTimer(after: delay) { [weak self] in
            guard let self, !self.stopped else { return }
            self.refresher?.refresh()
            self.scheduleRefresh()
        }
    }

    /// One answer per name of `change`, in its order, from the merged answers of every link involved: a
    /// node-local name goes to several links and is confirmed only when none of them queued or refused it; a
    /// name no link answered is queued (a subscribe: its owner is not known yet, or another split member
    /// serves it) or confirmed (a removal: no link serves it). A removal's queued names are confirmed too:
    /// the link may have closed for want of names, and the server serves them no more.
    package static func answer(_ change: SubscriptionChange, from merged: SubscriptionChangeResult) -> SubscriptionChangeResult {
        let refusals = Dictionary(merged.refused.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let queued = Set(merged.queued), confirmed = Set(merged.confirmed)
        var result = SubscriptionChangeResult()
        for name in change.names {
            if let refusal = refusals[name] {
                result.refused.append(refusal)
            } else if change.subscribe && (queued.contains(name) || !confirmed.contains(name)) {
                result.queued.append(name)
            } else {
                result.confirmed.append(name)
            }
        }
        return result
    }

    private static func isRouting(_ error: ResubError) -> Bool {
        SubscriptionStateMachine<ContinuousClock.Instant>.isRouting(error.serverError ?? "")
    }

    private func linkEvent(_ event: SubscriberEvent) {
        switch event {
        case .subscriptionFailed(.shardChannel, let names, let error):
            if Self.isRouting(error) {
                toReassert.formUnion(names.filter { machine.wants($0) })
                refresher?.refresh()
            }
        case .subscriptionLost(.shardChannel, let name, _):
            if machine.wants(name) { toReassert.insert(name) }
            refresher?.refresh()
        case .stateChanged(let node, let from, .waitingToReconnect, let reason):
            if shardLinks[node] != nil, downSince[node] == nil, from == .healthy || from == .replaying {
                // A timeout means nothing arrived for up to one interval plus the timeout before it.
                let silent = reason?.code == .timeout ? (health.pingInterval + health.pingTimeout).seconds : 0
                downSince[node] = RFC3339.wallClockSeconds() - silent
            }
            refresher?.refresh()
            if refreshTimer == nil || isDegraded {
                refreshTimer?.cancel()
                scheduleRefresh()
            }
        case .stateChanged(let node, _, .healthy, _):
            downSince[node] = nil
        case .subscribed(.channel, _, let node), .subscribed(.pattern, _, let node):
            if let link = shardLinks[node], let clusterNode = machine.map?.allNodes.first(where: { $0.address == node }) {
                keyspaceCheck.verify(endpoint(for: clusterNode), names: link.desiredNodeLocal)
            }
        default:
            break
        }
        onEvent(event)
        if !handovers.isEmpty { settleHandovers() }
    }

    /// Reports the outage of each link closed while down once everything it held that is still wanted is
    /// confirmed on its new node.
    private func settleHandovers() {
        let desired = self.desired, confirmed = self.confirmed
        handovers.removeAll { handover in
            var names = SubscriptionSet()
            for kind in SubscriptionKind.allCases { names[kind] = handover.names[kind].intersection(desired[kind]) }
            guard !names.isEmpty else { return true }
            for kind in SubscriptionKind.allCases where !names[kind].isSubset(of: confirmed[kind]) { return false }
            onEvent(.gap(Gap(from: handover.from, to: RFC3339.wallClockSeconds(), node: handover.node, subscriptions: names)))
            return true
        }
    }
}
