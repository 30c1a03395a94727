import ServiceLifecycle

/// A `Subscriber` runs in a swift-service-lifecycle `ServiceGroup` beside the app that consumes it.
extension Subscriber: Service {
    /// Runs until the group shuts down, then stops: on graceful shutdown (SIGTERM) it drains first, within
    /// ``SubscriberConfiguration/shutdownDeadline``; on cancellation it closes at once. It also returns when
    /// the app calls ``shutdown()`` itself. After it returns ``messages`` / ``batches`` still hand out what
    /// was received, then end: the consumer drains them.
    public func run() async throws {
        await shutDownLatch.serve(drain: { await self.drainAndShutdown() }, close: { await self.shutdown() })
    }

    /// The graceful stop: unsubscribe from everything (no new messages; every message the server sent before
    /// its confirmation is still received, in order), then close. The drain is bounded by the deadline: a
    /// server that does not answer does not hold the shutdown.
    package func drainAndShutdown() async {
        _ = await shutdownDeadline.within { [self] in await unsubscribeAll() }
        await shutdown()
    }

    /// Unsubscribes from every desired name and returns once the server confirmed (or at once while
    /// disconnected).
    package func unsubscribeAll() async {
        let desired = await subscriptions().desired
        for kind in [SubscriptionKind.channel, .pattern, .shardChannel] {
            let names = Array(desired[kind])
            guard !names.isEmpty else { continue }
            // A refusal or a drop here only means there is nothing left to drain on that link.
            try? await change(kind, names, add: false)
        }
    }
}
