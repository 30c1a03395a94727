import LibeventLoop
import Logging
import Resub

/// Carries out the ``FlowController``'s decisions: pauses and resumes the subscriber's links and the stream
/// reader, and times the pauses on the loop. Loop thread, except ``drained()``.
package final class FlowControlDriver: @unchecked Sendable {
    private typealias Controller = FlowController<ContinuousClock.Instant>
    private let loop: EventLoop
    private let logger: Logger
    private var controller = Controller()
    private var timer: TimerEvent?
    /// The links paused by a budgeted pause (set once, before messages flow).
    package var subscriber: Subscriber?
    /// The stream reader, paused without a budget.
    package var reader: BlockingReader?

    package init(loop: EventLoop, logger: Logger) {
        self.loop = loop
        self.logger = logger
    }

    /// The sink passed its high-water mark with subscriber messages.
    package func subscriberAboveHighWater() {
        let now = ContinuousClock.now
        apply(controller.subscriberAboveHighWater(now: now), now: now)
    }

    /// The sink passed its high-water mark with stream entries.
    package func readerAboveHighWater() {
        apply(controller.readerAboveHighWater(), now: .now)
    }

    /// The sink drained to its low-water mark (any thread: the stdout writer calls it).
    package func drained() {
        loop.execute { [self] in
            let now = ContinuousClock.now
            apply(controller.drainedToLowWater(now: now), now: now)
        }
    }

    private func apply(_ actions: [Controller.Action], now: ContinuousClock.Instant) {
        for action in actions {
            switch action {
            case .pauseSubscriber(let until):
                subscriber?.setReadingPaused(true)
                timer = loop.scheduleTimer(after: now.duration(to: until)) { [weak self] in
                    guard let self else { return }
                    self.timer = nil
                    let now = ContinuousClock.now
                    self.apply(self.controller.pauseExpired(now: now), now: now)
                }
            case .resumeSubscriber:
                timer?.cancel()
                timer = nil
                subscriber?.setReadingPaused(false)
            case .pauseReader:
                reader?.setPausedOnLoop(true)
            case .resumeReader:
                reader?.setPausedOnLoop(false)
            case .warnBudgetSpent:
                logger.warning("sink slower than the input: reading on (pausing more would risk Redis's output-buffer limit); overflow of the sink queue is dropped and counted")
            }
        }
    }
}
