import LibeventLoop
import Synchronization

/// Reads Redis streams with XREAD BLOCK (or XREADGROUP BLOCK for a consumer group) on a connection of its
/// own, reconnecting with backoff and resuming without gaps or duplicates. See `StreamLink` for how the
/// BLOCK timeout and the liveness rule work together.
///
/// ```swift
/// let reader = BlockingReader(configuration: .init(endpoint: endpoint, streams: [("events", "$")],
///                                                  group: .init(name: "g", consumer: "c1")))
/// for await entry in reader.entries {
///     try process(entry)
///     try await reader.acknowledge([entry])   // XACK only after the entry is safely handled
/// }
/// ```
public final class BlockingReader: Sendable {
    private let loop: EventLoop
    private let ownsLoop: Bool
    private let link: StreamLink
    /// Sentinel mode's monitor (nil otherwise).
    private let monitor: SentinelMonitor?
    private let continuation: AsyncStream<StreamEntry>.Continuation
    private let stopped = Atomic<Bool>(false)
    /// Every entry read, in order (single consumer).
    public let entries: AsyncStream<StreamEntry>
    /// Connection events.
    public let events: AsyncStream<SubscriberEvent>
    private let eventContinuation: AsyncStream<SubscriberEvent>.Continuation

    /// Creates a reader with a loop thread of its own and starts reading.
    public convenience init(configuration: StreamReaderConfiguration) {
        self.init(configuration: configuration, loop: EventLoop(name: "resub-streams"), ownsLoop: true, handler: nil)
    }

    /// Creates a reader on `loop`; with `handler`, entries go to it on the loop thread instead of ``entries``.
    package init(configuration: StreamReaderConfiguration, loop: EventLoop, ownsLoop: Bool, handler: (([StreamEntry]) -> Void)?, eventHandler: ((SubscriberEvent) -> Void)? = nil) {
        self.loop = loop
        self.ownsLoop = ownsLoop
        let (entries, continuation) = AsyncStream.makeStream(of: StreamEntry.self, bufferingPolicy: .unbounded)
        let (events, eventContinuation) = AsyncStream.makeStream(of: SubscriberEvent.self, bufferingPolicy: .bufferingNewest(1000))
        self.entries = entries
        self.continuation = continuation
        self.events = events
        self.eventContinuation = eventContinuation
        let onEntries: ([StreamEntry]) -> Void = handler ?? { list in for entry in list { continuation.yield(entry) } }
        if handler != nil { continuation.finish() }
        let onEvent: (SubscriberEvent) -> Void = { event in
            eventHandler?(event)
            eventContinuation.yield(event)
        }
        link = StreamLink(environment: .loop(loop), configuration: configuration, onEntries: onEntries, onEvent: onEvent)
        if let sentinel = configuration.sentinel {
            // The link starts once the sentinels name the master.
            let monitor = SentinelMonitor(
                loop: loop, configuration: sentinel, template: link.template, dataNode: configuration.endpoint,
                health: configuration.health, onEvent: onEvent)
            monitor.attach(link)
            self.monitor = monitor
        } else {
            monitor = nil
        }
        let (link, monitor) = (self.link, self.monitor)
        loop.execute { if let monitor { monitor.start() } else { link.start() } }
    }

    /// XACKs consumer-group entries (call it once they are safely handled); returns how many the server
    /// acknowledged. A no-op for plain XREAD.
    @discardableResult
    public func acknowledge(_ entries: [StreamEntry]) async throws(ResubError) -> Int {
        let link = self.link
        let result: Result<Int, ResubError> = await withCheckedContinuation { continuation in
            loop.execute { link.acknowledge(entries) { continuation.resume(returning: $0) } }
        }
        return try result.get()
    }

    /// Holds reads back while the consumer is behind, and lets them go on. Loop-only.
    package func setPausedOnLoop(_ paused: Bool) {
        link.isPaused = paused
    }

    /// XACKs from the loop thread (service code already on the loop). Loop-only.
    package func acknowledgeOnLoop(_ entries: [StreamEntry], completion: @escaping (Result<Int, ResubError>) -> Void) {
        link.acknowledge(entries, completion: completion)
    }

    /// Ends the current blocked read (CLIENT UNBLOCK from a side connection) without closing anything; the
    /// reader reads again at once. Returns whether a read was unblocked.
    @discardableResult
    public func unblock() async throws(ResubError) -> Bool {
        let link = self.link
        let result: Result<Bool, ResubError> = await withCheckedContinuation { continuation in
            loop.execute { link.unblock { continuation.resume(returning: $0) } }
        }
        return try result.get()
    }

    /// The last ID delivered per stream (plain XREAD), to persist and resume from.
    public func lastDeliveredIDs() async -> [String: String] {
        let link = self.link
        return await withCheckedContinuation { continuation in
            loop.execute { continuation.resume(returning: link.lastIDs) }
        }
    }

    /// Closes both connections at once: the blocked read fails with ``ResubError/Code/disconnected`` and is
    /// not sent again; ``entries`` ends. Returns without waiting. Idempotent.
    public func disconnect() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let link = self.link
        let continuation = self.continuation
        let events = eventContinuation
        let monitor = self.monitor
        loop.execute {
            monitor?.stop()
            link.stop()
            continuation.finish()
            events.finish()
        }
    }

    /// ``disconnect()``, then, when the reader made its own loop, stops the loop thread.
    public func shutdown() async {
        disconnect()
        let loop = self.loop
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in loop.execute { c.resume() } }
        if ownsLoop { loop.shutdown() }
    }
}
