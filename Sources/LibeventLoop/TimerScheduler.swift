/// The seam between a driver's logic and its timers: the loop adopts it with libevent timers; tests use a
/// manual scheduler whose time moves only when the test says so (Tests/TestSupport/ManualScheduler.swift).
/// Every call is made on the owner's thread (the loop thread for the real one).
public protocol TimerScheduler: AnyObject {
    /// Runs `handler` once after `delay`, unless the returned timer is cancelled first.
    func scheduleOnce(after delay: Duration, _ handler: @escaping () -> Void) -> any ScheduledTimer
    /// Debug check that the caller runs on the owner's thread (a no-op in tests).
    func assertInLoop(file: StaticString, line: UInt)
}

/// A timer handed out by a ``TimerScheduler``.
public protocol ScheduledTimer: AnyObject {
    /// Stops the timer; harmless when it already fired or was cancelled.
    func cancel()
}

extension TimerEvent: ScheduledTimer {}

extension EventLoop: TimerScheduler {
    /// A one-shot libevent timer on this loop. Loop-only.
    public func scheduleOnce(after delay: Duration, _ handler: @escaping () -> Void) -> any ScheduledTimer {
        scheduleTimer(after: delay, handler)
    }
}
