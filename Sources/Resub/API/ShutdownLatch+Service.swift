import ServiceLifecycle

extension ShutdownLatch {
    /// The body of a swift-service-lifecycle `Service.run()`: returns when the latch opens (whoever shut down);
    /// the group's graceful shutdown starts `drain`, its cancellation starts `close`, each in a task of its own
    /// (they open the latch when they finish).
    package func serve(drain: @escaping @Sendable () async -> Void, close: @escaping @Sendable () async -> Void) async {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await wait()
            } onGracefulShutdown: {
                Task { await drain() }
            }
        } onCancel: {
            Task { await close() }
        }
    }
}
