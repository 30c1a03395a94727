import LibeventLoop

/// A ``TimerScheduler`` for unit tests: no thread, no libevent. Time moves only through ``advance(by:)``,
/// which fires every due timer in deadline order (timers scheduled by a firing timer included).
public final class ManualScheduler: TimerScheduler, @unchecked Sendable {
    private final class Timer: ScheduledTimer {
        let deadline: ManualInstant
        let order: Int
        var handler: (() -> Void)?
        init(deadline: ManualInstant, order: Int, handler: @escaping () -> Void) {
            self.deadline = deadline
            self.order = order
            self.handler = handler
        }
        func cancel() { handler = nil }
    }

    /// The current test time.
    public private(set) var now = ManualInstant.zero
    private var timers: [Timer] = []
    private var scheduled = 0

    /// A scheduler at time zero with no timers.
    public init() {}

    public func scheduleOnce(after delay: Duration, _ handler: @escaping () -> Void) -> any ScheduledTimer {
        scheduled += 1
        let timer = Timer(deadline: now.advanced(by: max(delay, .zero)), order: scheduled, handler: handler)
        timers.append(timer)
        return timer
    }

    public func assertInLoop(file: StaticString, line: UInt) {}

    /// Timers scheduled and neither fired nor cancelled.
    public var pendingCount: Int { timers.count { $0.handler != nil } }

    /// The delays, from now, of the pending timers, soonest first.
    public var pendingDelays: [Duration] {
        timers.filter { $0.handler != nil }.map { now.duration(to: $0.deadline) }.sorted()
    }

    /// Moves time forward by `duration`, firing every timer that falls due, in deadline order.
    public func advance(by duration: Duration) {
        let end = now.advanced(by: duration)
        while let next = timers.filter({ $0.handler != nil && $0.deadline <= end })
            .min(by: { ($0.deadline, $0.order) < ($1.deadline, $1.order) }) {
            now = next.deadline
            let handler = next.handler
            next.handler = nil
            timers.removeAll { $0 === next || $0.handler == nil }
            handler?()
        }
        now = end
        timers.removeAll { $0.handler == nil }
    }
}
