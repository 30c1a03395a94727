import LibeventLoop

/// Where a link driver gets its time, timers and connections: the loop's clock, libevent timers and real
/// sockets in production; a manual scheduler and fake transports in tests.
package struct LinkEnvironment<Instant: InstantProtocol> {
    /// Arms the driver's timers.
    package var timers: any TimerScheduler
    /// The current instant.
    package var now: () -> Instant
    /// The wall clock, seconds since 1970 (for gap records).
    package var wallClock: () -> Double
    /// Opens a connection with `configuration`, reporting to `delegate`.
    package var open: (_ configuration: ConnectionConfiguration, _ delegate: any ConnectionDelegate) -> Connection

    /// An environment of injected parts (tests).
    package init(
        timers: any TimerScheduler, now: @escaping () -> Instant, wallClock: @escaping () -> Double,
        open: @escaping (ConnectionConfiguration, any ConnectionDelegate) -> Connection
    ) {
        self.timers = timers
        self.now = now
        self.wallClock = wallClock
        self.open = open
    }
}

extension LinkEnvironment where Instant == ContinuousClock.Instant {
    /// The loop's timers, the continuous clock and libevent sockets. Loop-only.
    package static func loop(_ loop: EventLoop) -> Self {
        Self(
            timers: loop, now: { .now }, wallClock: { RFC3339.wallClockSeconds() },
            open: { configuration, delegate in Connection(loop: loop, configuration: configuration, delegate: delegate) })
    }
}
