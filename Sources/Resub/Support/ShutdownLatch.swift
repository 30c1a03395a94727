import Synchronization

/// Opens once, when a long-running object has shut down; every `wait()` before or after that returns then.
/// It lets a `Service.run()` return whoever shut the object down (the service group or the app directly).
package final class ShutdownLatch: Sendable {
    private let state = Mutex<State>(.closed([]))

    private enum State {
        /// Not shut down yet; these tasks wait for it.
        case closed([CheckedContinuation<Void, Never>])
        /// Shut down: waits return at once.
        case open
    }

    package init() {}

    /// Marks the object shut down and releases every waiter. Idempotent.
    package func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard case .closed(let waiters) = state else { return [] }
            state = .open
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once ``open()`` was called.
    package func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                guard case .closed(var waiters) = state else { return true }
                waiters.append(continuation)
                state = .closed(waiters)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}
