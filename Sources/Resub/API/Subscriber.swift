import LibeventLoop
import Synchronization

/// A Redis pub/sub subscriber for one standalone server: channels, patterns and shard channels, kept
/// subscribed across reconnects.
///
/// ```swift
/// let subscriber = try Subscriber(configuration: .init(url: "redis://127.0.0.1:6379"))
/// try await subscriber.subscribe(channels: ["orders"])
/// for await message in subscriber.messages {
///     print(message.channel, message.payloadString ?? "<binary>")
/// }
/// ```
///
/// All socket work happens on one libevent loop thread; the methods here may be called from any task.
/// ``messages`` (or ``batches``) and ``events`` are single-consumer sequences.
public final class Subscriber: Sendable {
    private let loop: EventLoop
    private let ownsLoop: Bool
    private let link: any LinkManager & Sendable
    private let batchContinuation: AsyncStream<MessageBatch>.Continuation
    private let eventContinuation: AsyncStream<SubscriberEvent>.Continuation
    private let state = Box(State())
    /// Opens when ``shutdown()`` has finished: ends ``run()`` (Service) whoever shut the subscriber down.
    package let shutDownLatch = ShutdownLatch()
    /// How long ``run()``'s graceful shutdown may spend draining before it closes anyway.
    package let shutdownDeadline: Duration

    private struct State {
        var shutDown = false
        var dropped = 0
    }

    /// A mutex-protected value that closures can share.
    private final class Box<Value: Sendable>: Sendable {
        let mutex: Mutex<Value>
        init(_ value: Value) { mutex = Mutex(value) }
        func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    }

    /// Every message batch as it arrives (one batch per socket read). Use this or ``messages``, not both.
    public let batches: AsyncStream<MessageBatch>
    /// Connection and subscription events.
    public let events: AsyncStream<SubscriberEvent>

    /// Every message, one at a time. Use this or ``batches``, not both.
    public var messages: MessageSequence { MessageSequence(batches: batches) }

    /// Creates a subscriber with a loop thread of its own and starts connecting.
    public convenience init(configuration: SubscriberConfiguration) {
        self.init(configuration: configuration, loop: EventLoop(name: "resub-loop"), ownsLoop: true, batchHandler: nil, eventHandler: nil)
    }

    /// Creates a subscriber on `loop`. `batchHandler` and `eventHandler`, when given, are called on the loop
    /// thread for every batch and event (and ``batches`` / ``messages`` then stay empty): the service uses
    /// this to feed its sink without a task hop.
    package init(
        configuration: SubscriberConfiguration,
        loop: EventLoop,
        ownsLoop: Bool,
        batchHandler: ((MessageBatch) -> Void)?,
        eventHandler: ((SubscriberEvent) -> Void)?
    ) {
        self.loop = loop
        self.ownsLoop = ownsLoop
        self.shutdownDeadline = configuration.shutdownDeadline
        let (batches, batchContinuation) = AsyncStream.makeStream(
            of: MessageBatch.self, bufferingPolicy: .bufferingOldest(max(1, configuration.messageBufferBatches)))
        let (events, eventContinuation) = AsyncStream.makeStream(of: SubscriberEvent.self, bufferingPolicy: .bufferingNewest(10_000))
        self.batches = batches
        self.events = events
        self.batchContinuation = batchContinuation
        self.eventContinuation = eventContinuation
        let state = self.state
        let onEvent: (SubscriberEvent) -> Void = { event in
            eventHandler?(event)
            eventContinuation.yield(event)
        }
        let onBatch: (MessageBatch) -> Void
        if let batchHandler {
            batchContinuation.finish()
            onBatch = batchHandler
        } else {
            onBatch = { batch in
                if case .dropped = batchContinuation.yield(batch) {
                    state.withLock { $0.dropped += batch.count }
                    onEvent(.messagesDropped(count: batch.count))
                }
            }
        }
        if let cluster = configuration.cluster {
            var template = configuration.connectionConfiguration
            template.endpoint = cluster.seeds[0]
            link = ShardedManager(
                loop: loop, template: template, health: configuration.health,
                replayBatchSize: configuration.replayBatchSize, cluster: cluster,
                initial: configuration.initialNames, onBatch: onBatch, onEvent: onEvent)
        } else if let sentinel = configuration.sentinel {
            link = SentinelLink(
                loop: loop, sentinel: sentinel, template: configuration.connectionConfiguration, health: configuration.health,
                configured: configuration.initialNames, replayBatchSize: configuration.replayBatchSize,
                onBatch: onBatch, onEvent: onEvent)
        } else {
            // Keyspace/keyevent names are checked against the server's notify-keyspace-events once confirmed.
            let check = KeyspaceConfigCheck(loop: loop, template: configuration.connectionConfiguration, onEvent: onEvent)
            let endpoint = configuration.connectionConfiguration.endpoint
            nonisolated(unsafe) var replaying = true  // loop-only, like the link that reports to it
            let standalone = NodeLink(
                environment: .loop(loop), configuration: configuration.connectionConfiguration, health: configuration.health,
                configured: configuration.initialNames, replayBatchSize: configuration.replayBatchSize,
                onBatch: onBatch,
                onEvent: { event in
                    onEvent(event)
                    // Checked once a replay completed, and after each live change: not after each replay batch,
                    // which would scan every desired name once per 1,000 confirmed (quadratic on a large set).
                    switch event {
                    case .connected: replaying = true
                    case .resubscribed:
                        replaying = false
                        check.verify(endpoint, names: check.names())
                    case .subscribed(.channel, _, _), .subscribed(.pattern, _, _):
                        if !replaying { check.verify(endpoint, names: check.names()) }
                    default: break
                    }
                })
            check.names = { [weak standalone] in standalone?.desiredNodeLocal ?? [] }
            link = standalone
        }
        let link = self.link
        loop.execute { link.start() }
    }

    /// Messages dropped so far because the consumer of ``messages`` fell behind.
    public var droppedMessageCount: Int { state.withLock { $0.dropped } }

    // MARK: Subscriptions

    /// Subscribes to channels (SUBSCRIBE). Returns once the server confirmed them, or at once while
    /// disconnected (they are subscribed on connect). Throws the server's refusal.
    public func subscribe(channels: [String]) async throws(ResubError) { try await change(.channel, channels, add: true) }
    /// Subscribes to glob patterns (PSUBSCRIBE).
    public func subscribe(patterns: [String]) async throws(ResubError) { try await change(.pattern, patterns, add: true) }
    /// Subscribes to shard channels (SSUBSCRIBE, Redis 7+).
    public func subscribe(shardChannels: [String]) async throws(ResubError) { try await change(.shardChannel, shardChannels, add: true) }
    /// Unsubscribes from channels (UNSUBSCRIBE).
    public func unsubscribe(channels: [String]) async throws(ResubError) { try await change(.channel, channels, add: false) }
    /// Unsubscribes from patterns (PUNSUBSCRIBE).
    public func unsubscribe(patterns: [String]) async throws(ResubError) { try await change(.pattern, patterns, add: false) }
    /// Unsubscribes from shard channels (SUNSUBSCRIBE).
    public func unsubscribe(shardChannels: [String]) async throws(ResubError) { try await change(.shardChannel, shardChannels, add: false) }

    /// Adds (`add`) or removes names of one kind. Returns once the server confirmed them, or at once while
    /// disconnected (the replay on connect applies them). Throws the server's refusal of any name (refused
    /// names leave the desired set; the others are served).
    public func change(_ kind: SubscriptionKind, _ names: [String], add: Bool) async throws(ResubError) {
        guard !names.isEmpty else { return }
        let loop = self.loop
        let link = self.link
        let result: SubscriptionChangeResult? = await withCheckedContinuation { continuation in
            if state.withLock({ $0.shutDown }) {
                continuation.resume(returning: nil)
                return
            }
            loop.execute {
                link.apply(SubscriptionChange(kind, names, subscribe: add)) { continuation.resume(returning: $0) }
            }
        }
        guard let result else { throw ResubError(.shutDown, "subscriber is shut down") }
        if let first = result.refused.first {
            // The same error as the link's `subscriptionFailed` event carries.
            throw ResubError(.serverError, first.error, serverError: first.error)
        }
    }

    /// The desired subscriptions and those the server has confirmed.
    public func subscriptions() async -> (desired: SubscriptionSet, confirmed: SubscriptionSet) {
        let link = self.link
        return await withCheckedContinuation { continuation in
            loop.execute { continuation.resume(returning: (link.desired, link.confirmed)) }
        }
    }

    /// The desired subscriptions the server refuses (e.g. NOPERM), retried on their own backoff.
    public func refusals() async -> [SubscriptionRefusal] {
        let link = self.link
        return await withCheckedContinuation { continuation in
            loop.execute { continuation.resume(returning: link.refusals) }
        }
    }

    // MARK: Loop-side access for the service

    /// The one subscription-change path for service code already on the loop (admin API, SIGHUP reload):
    /// `completion` runs on the loop with the per-name result. Loop-only.
    package func apply(_ change: SubscriptionChange, completion: @escaping (SubscriptionChangeResult) -> Void) {
        loop.assertInLoop()
        link.apply(change, completion: completion)
    }

    /// ``apply(_:completion:)`` from any thread, answered name by name.
    package func apply(_ change: SubscriptionChange) async -> SubscriptionChangeResult {
        let link = self.link
        return await withCheckedContinuation { continuation in
            loop.execute { link.apply(change) { continuation.resume(returning: $0) } }
        }
    }

    /// The links' states, why the down ones went down, the refused subscriptions, the keyspace links and
    /// the split membership. Loop-only.
    package var status: SubscriberStatus {
        loop.assertInLoop()
        return SubscriberStatus(
            links: link.linkStates, lastErrors: link.lastErrors, refusals: link.refusals,
            nodeLocal: link.nodeLocalLinks, split: (link as? ShardedManager)?.splitStatus,
            sentinel: (link as? SentinelLink)?.monitor)
    }

    /// A split group member hands its slots off (bounded) before it stops; `completion` runs at once
    /// otherwise. Loop-only.
    package func leaveSplitGroup(completion: @escaping () -> Void) {
        loop.assertInLoop()
        guard let manager = link as? ShardedManager else { return completion() }
        manager.leaveSplitGroup(completion: completion)
    }

    /// The desired subscriptions (a view built on demand). Loop-only.
    package var desiredNow: SubscriptionSet {
        loop.assertInLoop()
        return link.desired
    }

    /// How many names of a kind are desired. Loop-only.
    package func desiredCount(_ kind: SubscriptionKind) -> Int {
        loop.assertInLoop()
        return link.desiredCount(kind)
    }

    /// Every link's node and health state (one link standalone; in cluster mode one per node in use).
    public func linkStates() async -> [(node: String, state: LinkState)] {
        let link = self.link
        return await withCheckedContinuation { continuation in
            loop.execute { continuation.resume(returning: link.linkStates) }
        }
    }

    /// Each link carrying keyspace/keyevent names, with their confirmation counts (every master in
    /// cluster mode; the one link standalone).
    package func nodeLocalLinks() async -> [NodeLocalLinkState] {
        let link = self.link
        return await withCheckedContinuation { continuation in
            loop.execute { continuation.resume(returning: link.nodeLocalLinks) }
        }
    }

    /// Pauses or resumes reading from the server: flow control for a consumer that fell behind. Pausing
    /// for long risks the server's pub/sub output-buffer limit; keep pauses short. Loop-only: call it from
    /// a batch handler or through the loop.
    package func setReadingPaused(_ paused: Bool) {
        loop.assertInLoop()
        link.isReadingPaused = paused
    }

    // MARK: Shutdown

    /// Closes the connection at once, stops reconnecting, ends ``messages`` and ``events``, and (when the
    /// subscriber created its own loop) stops the loop thread. Idempotent.
    public func shutdown() async {
        let first = state.withLock { s -> Bool in
            defer { s.shutDown = true }
            return !s.shutDown
        }
        guard first else { return }
        let link = self.link
        let events = eventContinuation
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.execute {
                link.stop()
                events.yield(.shutdown)
                continuation.resume()
            }
        }
        batchContinuation.finish()
        eventContinuation.finish()
        if ownsLoop { loop.shutdown() }
        shutDownLatch.open()
    }
}

/// The messages of a ``Subscriber``, one at a time, in arrival order.
public struct MessageSequence: AsyncSequence, Sendable {
    /// A message.
    public typealias Element = Message
    let batches: AsyncStream<MessageBatch>

    /// Creates the iterator.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(inner: batches.makeAsyncIterator())
    }

    /// Iterates messages batch by batch.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var inner: AsyncStream<MessageBatch>.AsyncIterator
        var current: MessageBatch?
        var index = 0

        /// The next message, or nil after ``Subscriber/shutdown()``.
        public mutating func next() async -> Message? {
            while true {
                if let current, index < current.count {
                    index += 1
                    return current[index - 1]
                }
                guard let batch = await inner.next() else { return nil }
                current = batch
                index = 0
            }
        }
    }
}
