/// Decides when the links stop and start reading because the sink is behind. No I/O and no clock reads: the
/// runner's ``FlowControlDriver`` feeds it the sink's signals with `now` and carries out its actions on the
/// links.
///
/// Subscriber links: when the sink's backlog passes its high-water mark, reading pauses (TCP slows the server
/// down) until the sink drains to its low-water mark. A pause moves the backlog into Redis, which disconnects a
/// subscriber whose output buffer passes its pub/sub limit (32 MB by default), and everything after that is
/// lost. So pausing is budgeted: at most `maxPause` at a time and `budget` in any `window` (10 ms and 15 ms per
/// second: at 680 MB/s of input, about 10 MB left in Redis); past the budget the links read on and the sink's
/// bounded queue absorbs the backlog (what does not fit is dropped and counted, never silently).
///
/// The stream reader is paused without a budget: XREAD is pulled, so nothing piles up in Redis.
package struct FlowController<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration, Instant: Sendable {
    /// What the driver does.
    package enum Action: Equatable, Sendable {
        /// Stop reading the subscriber's links; call ``pauseExpired(now:)`` at `until` unless resumed before.
        case pauseSubscriber(until: Instant)
        /// Read the subscriber's links again (and cancel the pause's timer).
        case resumeSubscriber
        /// Hold the stream reader's next read back.
        case pauseReader
        /// Let the stream reader read again.
        case resumeReader
        /// The pause budget is spent and the sink is still behind: say so once (the queue absorbs the rest).
        case warnBudgetSpent
    }

    /// The subscriber links' reading.
    package enum SubscriberState: Equatable, Sendable {
        /// Reading.
        case reading
        /// Paused since `since`, at the latest until `until`.
        case paused(since: Instant, until: Instant)
    }

    /// The longest single pause.
    package let maxPause: Duration
    /// The most pausing in any `window`.
    package let budget: Duration
    /// The budget's accounting period.
    package let window: Duration
    /// A pause shorter than this is not worth starting.
    package let minimumPause: Duration = .milliseconds(1)

    package private(set) var subscriber: SubscriberState = .reading
    package private(set) var readerPaused = false
    private var windowStart: Instant?
    private var spent: Duration = .zero
    private var warned = false

    /// A controller with the budget of docs/design.md: 10 ms at a time, 15 ms per second.
    package init(maxPause: Duration = .milliseconds(10), budget: Duration = .milliseconds(15), window: Duration = .seconds(1)) {
        self.maxPause = maxPause
        self.budget = budget
        self.window = window
    }

    /// The pause time spent in the current window.
    package var spentInWindow: Duration { spent }

    /// The sink passed its high-water mark with subscriber messages.
    package mutating func subscriberAboveHighWater(now: Instant) -> [Action] {
        guard case .reading = subscriber else { return [] }
        if let start = windowStart, start.duration(to: now) < window {
            // Same window: the budget spent so far counts.
        } else {
            windowStart = now
            spent = .zero
        }
        let left = budget - spent
        guard left > minimumPause else {
            guard !warned else { return [] }
            warned = true
            return [.warnBudgetSpent]
        }
        let until = now.advanced(by: min(maxPause, left))
        subscriber = .paused(since: now, until: until)
        return [.pauseSubscriber(until: until)]
    }

    /// The sink passed its high-water mark with stream entries.
    package mutating func readerAboveHighWater() -> [Action] {
        guard !readerPaused else { return [] }
        readerPaused = true
        return [.pauseReader]
    }

    /// The sink drained to its low-water mark: everything paused reads again.
    package mutating func drainedToLowWater(now: Instant) -> [Action] {
        var actions = resumeSubscriber(now: now)
        if readerPaused {
            readerPaused = false
            actions.append(.resumeReader)
        }
        return actions
    }

    /// The pause's time is up (the driver's timer; cancelled on ``Action/resumeSubscriber``, so it only fires
    /// while paused).
    package mutating func pauseExpired(now: Instant) -> [Action] {
        guard case .paused = subscriber else {
            preconditionFailure("pause timer fired in state \(subscriber)")
        }
        return resumeSubscriber(now: now)
    }

    private mutating func resumeSubscriber(now: Instant) -> [Action] {
        guard case .paused(let since, _) = subscriber else { return [] }
        spent += since.duration(to: now)
        subscriber = .reading
        return [.resumeSubscriber]
    }
}
