import LibeventLoop
import RESP

/// Fetches the cluster's topology: asks the candidate nodes in turn (seeds first, then known nodes) with
/// `CLUSTER SHARDS`, falling back to `CLUSTER SLOTS` on servers without it, on a short-lived connection of
/// its own. Requests made while one is running are coalesced into one more run. Loop-only.
package final class TopologyRefresher: ConnectionDelegate, @unchecked Sendable {
    private let loop: EventLoop
    private let template: ConnectionConfiguration
    private let candidates: () -> [RedisEndpoint]
    private let onMap: (ShardMap) -> Void
    private let onFailure: (ResubError) -> Void
    private let attemptTimeout: Duration
    private var running = false
    private var again = false
    private var queue: [RedisEndpoint] = []
    private var connection: Connection?
    private var timer: TimerEvent?
    private var lastError: ResubError?
    private var stopped = false

    /// - Parameters:
    ///   - template: credentials, client name and limits for the refresh connections.
    ///   - candidates: the endpoints to try, in order.
    package init(
        loop: EventLoop, template: ConnectionConfiguration, attemptTimeout: Duration,
        candidates: @escaping () -> [RedisEndpoint],
        onMap: @escaping (ShardMap) -> Void, onFailure: @escaping (ResubError) -> Void
    ) {
        self.loop = loop
        self.template = template
        self.attemptTimeout = attemptTimeout
        self.candidates = candidates
        self.onMap = onMap
        self.onFailure = onFailure
    }

    /// Whether a refresh is running.
    package var isRunning: Bool { running }

    /// Starts a refresh, or schedules one more after the running one.
    package func refresh() {
        guard !stopped else { return }
        if running {
            again = true
            return
        }
        running = true
        lastError = nil
        var seen = Set<String>()
        queue = candidates().filter { seen.insert($0.address.description).inserted }
        tryNext()
    }

    /// Stops for good, closing any connection.
    package func stop() {
        stopped = true
        finishAttempt()
        running = false
    }

    private func tryNext() {
        finishAttempt()
        guard !stopped else { return }
        guard !queue.isEmpty else {
            running = false
            onFailure(lastError ?? ResubError(.connectionFailed, "no cluster node to ask for the topology"))
            if again {
                again = false
                refresh()
            }
            return
        }
        var configuration = template
        configuration.endpoint = queue.removeFirst()
        connection = Connection(loop: loop, configuration: configuration, delegate: self)
        timer = loop.scheduleTimer(after: attemptTimeout) { [weak self] in
            guard let self else { return }
            self.lastError = ResubError(.timeout, "no topology within \(self.attemptTimeout.short)", node: configuration.endpoint.address.description)
            self.tryNext()
        }
    }

    private func finishAttempt() {
        timer?.cancel()
        timer = nil
        // Forget the connection before closing it: disconnect() fails its pending command synchronously, and
        // that completion must see a stale connection, not start another attempt from inside this one.
        connection.take()?.disconnect()
    }

    private func succeeded(_ map: ShardMap) {
        finishAttempt()
        running = false
        onMap(map)
        if again, !stopped {
            again = false
            refresh()
        }
    }

    // MARK: ConnectionDelegate

    package func connection(_ connection: Connection, didReport event: ConnectionEvent) {
        guard connection === self.connection else { return }
        switch event {
        case .ready:
            ask(connection)
        case .closed(let error):
            lastError = error
            tryNext()
        case .connected, .readFinished, .unsolicited, .push:
            break
        }
    }

    private func ask(_ connection: Connection) {
        connection.send(["CLUSTER", "SHARDS"]) { [weak self, weak connection] result in
            guard let self, let connection, connection === self.connection else { return }
            switch result {
            case .success(let reply) where !reply.isError:
                do throws(ResubError) {
                    self.succeeded(try ShardMap.parseShards(reply))
                } catch {
                    self.lastError = error
                    self.tryNext()
                }
            case .success:
                // Before Redis 7: CLUSTER SLOTS.
                connection.send(["CLUSTER", "SLOTS"]) { [weak self] result in
                    guard let self, connection === self.connection else { return }
                    switch result {
                    case .success(let reply) where !reply.isError:
                        do throws(ResubError) {
                            self.succeeded(try ShardMap.parseSlots(reply))
                        } catch {
                            self.lastError = error
                            self.tryNext()
                        }
                    case .success(let reply):
                        self.lastError = ResubError(.serverError, "CLUSTER SLOTS refused", serverError: reply.string, node: connection.node)
                        self.tryNext()
                    case .failure(let error):
                        self.lastError = error
                        self.tryNext()
                    }
                }
            case .failure(let error):
                self.lastError = error
                self.tryNext()
            }
        }
    }
}
