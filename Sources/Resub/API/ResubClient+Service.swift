import ServiceLifecycle

/// A `ResubClient` runs in a swift-service-lifecycle `ServiceGroup`: one service for all its subscribers,
/// stream readers and blocking connections.
extension ResubClient: Service {
    /// Runs until the group shuts down, then stops everything: on graceful shutdown (SIGTERM) every subscriber
    /// drains first (unsubscribes and receives what the server already sent), and all is closed within the
    /// client's `shutdownDeadline`; on cancellation it closes at once. It also returns when the app calls
    /// ``shutdown(deadline:)`` itself.
    public func run() async throws {
        await shutDownLatch.serve(drain: { await self.drainAndShutdown() }, close: { await self.shutdown(deadline: self.shutdownDeadline) })
    }

    /// Drains every subscriber together within the deadline, then closes everything.
    package func drainAndShutdown() async {
        let subscribers = self.subscribers
        _ = await shutdownDeadline.within {
            await withTaskGroup(of: Void.self) { group in
                for subscriber in subscribers { group.addTask { await subscriber.unsubscribeAll() } }
            }
        }
        await shutdown(deadline: shutdownDeadline)
    }
}
