import LibeventLoop
import Synchronization

/// One loop thread for any number of subscribers, stream readers and blocking connections, and one
/// shutdown for all of them.
///
/// ```swift
/// let client = ResubClient()
/// let subscriber = client.subscriber(try .init(url: "redis://127.0.0.1:6379"))
/// let reader = client.streamReader(.init(endpoint: try .init(url: "redis://127.0.0.1:6379"), streams: [("events", "$")]))
/// …
/// await client.shutdown(deadline: .seconds(2))   // everything closed, no thread left
/// ```
public final class ResubClient: Sendable {
    private let loop = EventLoop(name: "resub-client")
    private let members = Mutex<Members>(Members())

    private struct Members {
        var subscribers: [Subscriber] = []
        var readers: [BlockingReader] = []
        var connections: [BlockingConnection] = []
        var shutDown = false
    }

    /// Opens when ``shutdown(deadline:)`` has finished: ends ``run()`` (Service) whoever shut the client down.
    package let shutDownLatch = ShutdownLatch()
    /// How long ``run()``'s graceful shutdown may spend draining and closing.
    package let shutdownDeadline: Duration

    /// Creates the client and its loop thread. `shutdownDeadline` bounds a graceful shutdown in a
    /// `ServiceGroup` (see ``run()``).
    public init(shutdownDeadline: Duration = .seconds(5)) {
        self.shutdownDeadline = shutdownDeadline
    }

    /// A subscriber on this client's loop.
    public func subscriber(_ configuration: SubscriberConfiguration) -> Subscriber {
        let subscriber = Subscriber(configuration: configuration, loop: loop, ownsLoop: false, batchHandler: nil, eventHandler: nil)
        members.withLock { $0.subscribers.append(subscriber) }
        return subscriber
    }

    /// The subscribers made so far (for the graceful drain in ``run()``).
    package var subscribers: [Subscriber] { members.withLock { $0.subscribers } }

    /// A stream reader on this client's loop.
    public func streamReader(_ configuration: StreamReaderConfiguration) -> BlockingReader {
        let reader = BlockingReader(configuration: configuration, loop: loop, ownsLoop: false, handler: nil)
        members.withLock { $0.readers.append(reader) }
        return reader
    }

    /// A dedicated connection for blocking commands, on this client's loop.
    public func blockingConnection(_ endpoint: RedisEndpoint, clientName: String? = "resub", tls: TLSContext? = nil) -> BlockingConnection {
        var socket = SocketOptions()
        socket.useTLS(endpoint.tls, context: tls)
        let connection = BlockingConnection(loop: loop, configuration: ConnectionConfiguration(endpoint: endpoint, clientName: clientName, socket: socket))
        members.withLock { $0.connections.append(connection) }
        return connection
    }

    /// A dedicated connection for blocking commands to the master the sentinels name, on this client's loop.
    /// Every connection checks `ROLE` first; when the sentinels name another master (`+switch-master`, or a
    /// new resolution after a failure) the connection to the old one closes at once, a command blocked
    /// there fails with ``ResubError/Code/disconnected`` saying the master changed, and the next command
    /// goes to the new master. `dataNode` gives only the data nodes' credentials (its address is ignored:
    /// ``SentinelConfiguration/parse(url:)`` returns one); without it no AUTH is sent. TLS to the sentinels
    /// and the data nodes follows ``SentinelConfiguration/tls``, with `tls` as its context. A command waits for a
    /// first master at most `connectTimeout`; `health` paces the sentinels' questions (backoff) and the
    /// `+switch-master` subscription's health check.
    public func blockingConnection(
        sentinel: SentinelConfiguration, dataNode: RedisEndpoint? = nil, clientName: String? = "resub", tls: TLSContext? = nil,
        connectTimeout: Duration = .seconds(5), health: HealthConfiguration = .init()
    ) -> BlockingConnection {
        let endpoint = dataNode ?? RedisEndpoint(address: .unix(path: "sentinel/\(sentinel.masterName)"), tls: sentinel.tls)
        var socket = SocketOptions(connectTimeout: connectTimeout)
        socket.useTLS(sentinel.tls, context: tls)
        let connection = BlockingConnection(
            loop: loop, sentinel: sentinel, template: ConnectionConfiguration(endpoint: endpoint, clientName: clientName, socket: socket),
            health: health)
        members.withLock { $0.connections.append(connection) }
        return connection
    }

    /// Closes every subscriber link, shard link, stream reader and blocking connection at once: whatever is
    /// pending fails with ``ResubError/Code/disconnected`` and the message and entry sequences end. Then the
    /// loop thread stops. Returns within `deadline` (closing never waits for a server); idempotent.
    public func shutdown(deadline: Duration = .seconds(5)) async {
        let all = members.withLock { m -> Members? in
            guard !m.shutDown else { return nil }
            m.shutDown = true
            return m
        }
        guard let all else { return }
        for reader in all.readers { reader.disconnect() }
        for connection in all.connections { connection.disconnect() }
        await withTaskGroup(of: Void.self) { group in
            for subscriber in all.subscribers { group.addTask { await subscriber.shutdown() } }
        }
        // Every close above ran on the loop; this waits for them and stops the thread.
        let loop = self.loop
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in loop.execute { c.resume() } }
        loop.shutdown()
        shutDownLatch.open()
    }
}
