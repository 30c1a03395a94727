import LibeventLoop
import RESP

/// The driver of Sentinel mode, on the loop thread: it carries out a ``SentinelResolutionStateMachine``'s
/// queries (one short ``SideConnection`` per question, its deadline the query timeout), keeps one subscription to `+switch-master` on a sentinel
/// (a ``NodeLink`` under the same health monitor as every link, moving to the next sentinel when it fails),
/// and moves its followers (``MasterFollower``) to each new master. Followers check `ROLE` before they
/// subscribe, read or run a command (``MasterSource/verifyRole``); a node that is not the master sends the
/// resolution back to the sentinels.
package final class SentinelMonitor: @unchecked Sendable {
    package typealias Resolution = SentinelResolutionStateMachine<SystemRandomNumberGenerator>

    private let loop: EventLoop
    package let configuration: SentinelConfiguration
    /// Client name, protocol, socket (TLS) and parser settings for every sentinel connection.
    private let template: ConnectionConfiguration
    /// The data nodes' credentials and TLS; its address is replaced by the master's.
    private let dataNode: RedisEndpoint
    private let health: HealthConfiguration
    private var machine: Resolution
    private var queries: [Int: SideConnection] = [:]
    private var timers: [Int: any ScheduledTimer] = [:]
    private var watch: NodeLink?
    private var watchIndex = 0
    private var followers: [(RedisEndpoint) -> Void] = []
    private var announced: SocketAddress?
    private var stopped = false
    private let onEvent: (SubscriberEvent) -> Void

    /// Creates an idle monitor; attach followers, then ``start()``. Loop-only.
    package init(
        loop: EventLoop, configuration: SentinelConfiguration, template: ConnectionConfiguration,
        dataNode: RedisEndpoint, health: HealthConfiguration, onEvent: @escaping (SubscriberEvent) -> Void
    ) {
        self.loop = loop
        self.configuration = configuration
        self.template = template
        self.dataNode = dataNode
        self.health = health
        self.onEvent = onEvent
        self.machine = Resolution(
            sentinels: configuration.sentinels, queryTimeout: configuration.queryTimeout,
            backoff: health.backoff, random: SystemRandomNumberGenerator())
    }

    /// The current master, once known.
    package var master: SocketAddress? { machine.master }
    /// The known sentinels and what each last did (for /readyz).
    package var sentinels: [(address: SocketAddress, status: Resolution.SentinelStatus)] {
        machine.sentinels.map { ($0, machine.status[$0] ?? .unasked) }
    }
    /// The `+switch-master` link's sentinel and state.
    package var watchState: (node: String, state: LinkState)? { watch.map { ($0.node, $0.state) } }

    /// Makes `follower` follow the master: it gets a ``MasterSource`` (the master's endpoint for every
    /// connection, the ROLE check, a failure sends the resolution back to the sentinels) and moves on every
    /// resolution. Call before ``start()``. Loop-only.
    package func attach(_ follower: some MasterFollower) {
        follower.use(MasterSource(
            endpoint: { [weak self] in
                guard let self, let master = self.machine.master else { return nil }
                return self.endpoint(of: master)
            },
            verifyRole: { [weak self] connection, done in
                guard let self else { return done(nil) }
                self.verifyRole(connection, done: done)
            },
            failed: { [weak self] in self?.resolve() }))
        followers.append { [weak follower] endpoint in follower?.follow(endpoint) }
    }

    /// Resolves the master and opens the `+switch-master` subscription. Loop-only.
    package func start() {
        loop.assertInLoop()
        startWatch()
        resolve()
    }

    /// Asks the sentinels again (coalesced with a resolution in flight). Loop-only.
    package func resolve() {
        guard !stopped else { return }
        apply(machine.resolve())
    }

    /// Closes every sentinel connection and stops. Loop-only.
    package func stop() {
        stopped = true
        apply(machine.stop())
        for timer in timers.values { timer.cancel() }
        timers = [:]
        watch?.stop()
        for side in queries.values { side.close() }
        queries = [:]
    }

    // MARK: Carrying out the machine's actions

    private func apply(_ actions: [Resolution.Action]) {
        for action in actions {
            switch action {
            case .ask(let sentinel, let query):
                ask(sentinel, query: query)
            case .cancel(let query):
                queries.removeValue(forKey: query)?.close()
            case .schedule(let timer):
                let id = timer.id
                timers[id] = loop.scheduleOnce(after: timer.delay) { [weak self] in
                    guard let self, !self.stopped else { return }
                    self.timers[id] = nil
                    self.apply(self.machine.timerFired(id))
                }
            case .skipped(let sentinel, let reason):
                onEvent(.sentinelSkipped(sentinel: sentinel.description, reason: reason))
            case .retryScheduled(let attempt, let delay):
                onEvent(.reconnectScheduled(node: "sentinels of \(configuration.masterName)", attempt: attempt, delay: delay))
            case .resolved(let address):
                if address != announced {
                    onEvent(.masterChanged(name: configuration.masterName, from: announced?.description, to: address.description))
                    announced = address
                }
                let endpoint = endpoint(of: address)
                for follow in followers { follow(endpoint) }
            }
        }
    }

    private func endpoint(of master: SocketAddress) -> RedisEndpoint {
        var endpoint = dataNode
        endpoint.address = master
        return endpoint
    }

    /// One question to one sentinel: GET-MASTER-ADDR-BY-NAME and SENTINELS, pipelined on a side connection
    /// whose deadline is the query timeout; then the connection closes.
    private func ask(_ sentinel: SocketAddress, query: Int) {
        var configuration = template
        configuration.endpoint = self.configuration.endpoint(sentinel)
        let side = SideConnection(loop: loop, configuration: configuration, timeout: self.configuration.queryTimeout)
        queries[query] = side
        let name = self.configuration.masterName
        var master: Result<SocketAddress?, ResubError>?
        side.send(["SENTINEL", "GET-MASTER-ADDR-BY-NAME", name]) { result in
            master = result.flatMap { reply in Result { () throws(ResubError) in try SentinelReply.masterAddress(reply) } }
        }
        side.send(["SENTINEL", "SENTINELS", name]) { [weak self] result in
            guard let self, self.queries[query] === side else { return }
            let peers = (try? result.get()).map(SentinelReply.peers) ?? []
            switch master {
            case .success(let address?)?: self.answer(query, .master(address, peers: peers))
            case .success(nil)?: self.answer(query, .unknownName)
            case .failure(let error)?: self.answer(query, .failed(self.refused(error, by: sentinel)))
            case nil: self.answer(query, .failed(ResubError(.protocolError, "no reply to GET-MASTER-ADDR-BY-NAME", node: sentinel.description)))
            }
        }
    }

    /// A failed question, worded for the sentinel: a connection that never opened says so, and why (a TLS
    /// certificate refused reads differently from a sentinel that is down).
    private func refused(_ error: ResubError, by sentinel: SocketAddress) -> ResubError {
        guard error.code == .connectionFailed else { return error }
        return ResubError(.connectionFailed, "sentinel \(sentinel) did not accept a connection (\(error.message))", node: sentinel.description)
    }

    private func answer(_ query: Int, _ answer: Resolution.Answer) {
        queries.removeValue(forKey: query)?.close()
        apply(machine.answered(query, answer))
    }

    // MARK: ROLE

    /// Sends `ROLE` on a follower's new connection: `master` lets it go on; any other role fails it and
    /// sends the resolution back to the sentinels. An error reply (ROLE denied by an ACL) cannot be checked
    /// and lets it through.
    private func verifyRole(_ connection: Connection, done: @escaping (ResubError?) -> Void) {
        connection.send(["ROLE"]) { [weak self] result in
            switch result {
            case .failure(let error):
                done(error)
            case .success(let reply) where reply.isError:
                done(nil)
            case .success(let reply):
                let role = SentinelReply.role(reply) ?? "unknown"
                guard role != "master" else { return done(nil) }
                let error = ResubError(.serverError, "\(connection.node) answers ROLE \(role), not master: asking the sentinels again", command: "ROLE", node: connection.node)
                // The stale sentinel is sent to the back first, so the resolution the link's failure asks for
                // does not start with it again.
                if let self, !self.stopped { self.apply(self.machine.masterRefused(error)) }
                done(error)
            }
        }
    }

    // MARK: +switch-master

    private func startWatch() {
        var configuration = template
        configuration.endpoint = self.configuration.endpoint(machine.sentinels[0])
        let link = NodeLink(
            environment: .loop(loop), configuration: configuration, health: health,
            configured: SubscriptionTable(configured: SubscriptionSet(channels: ["+switch-master"])), replayBatchSize: 1,
            onBatch: { [weak self] batch in self?.received(batch) },
            onEvent: { [weak self] event in self?.watchEvent(event) })
        link.nextEndpoint = { [weak self] in
            guard let self else { return nil }
            // The next sentinel on every failed attempt: a sentinel that is down does not hold the watch.
            self.watchIndex = (self.watchIndex + 1) % self.machine.sentinels.count
            return self.configuration.endpoint(self.machine.sentinels[self.watchIndex])
        }
        watch = link
        link.start()
    }

    private func received(_ batch: MessageBatch) {
        for message in batch where message.channel == "+switch-master" {
            guard let payload = message.payloadString,
                  let address = SentinelReply.switchedMaster(payload, masterName: configuration.masterName) else { continue }
            apply(machine.switched(to: address))
        }
    }

    private func watchEvent(_ event: SubscriberEvent) {
        switch event {
        case .gap:
            break  // the switch channel's outage is no gap in the data; a missed switch is covered below
        case .resubscribed:
            onEvent(event)
            resolve()  // a switch announced while the watch was down would be missed: ask
        case .disconnected(let node, let reason) where reason.code != .shutDown:
            onEvent(.sentinelSkipped(sentinel: node, reason: reason))
        default:
            onEvent(event)
        }
    }
}
