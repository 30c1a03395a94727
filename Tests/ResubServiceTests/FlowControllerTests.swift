import ResubService
import Testing
import TestSupport

/// The flow controller's decisions, step by step on a manual clock: budgeted pauses of the subscriber's links,
/// unbudgeted pauses of the stream reader.
@Suite("Flow controller")
struct FlowControllerTests {
    typealias Controller = FlowController<ManualInstant>

    @Test("above the high-water mark the links pause for at most 10 ms; the timer's expiry resumes them")
    func pauseThenExpire() {
        var clock = ManualClock()
        var flow = Controller()
        #expect(flow.subscriberAboveHighWater(now: clock.now) == [.pauseSubscriber(until: clock.now + .milliseconds(10))])
        #expect(flow.subscriber == .paused(since: .zero, until: .zero + .milliseconds(10)))
        // Already paused: nothing more.
        clock.advance(by: .milliseconds(3))
        #expect(flow.subscriberAboveHighWater(now: clock.now) == [])
        clock.advance(by: .milliseconds(7))
        #expect(flow.pauseExpired(now: clock.now) == [.resumeSubscriber])
        #expect(flow.subscriber == .reading)
        #expect(flow.spentInWindow == .milliseconds(10))
    }

    @Test("drained to the low-water mark before the timer: resumed at once, only the time paused counts")
    func drainedEarly() {
        var clock = ManualClock()
        var flow = Controller()
        _ = flow.subscriberAboveHighWater(now: clock.now)
        clock.advance(by: .milliseconds(4))
        #expect(flow.drainedToLowWater(now: clock.now) == [.resumeSubscriber])
        #expect(flow.spentInWindow == .milliseconds(4))
        // Drained again while reading: nothing to do.
        #expect(flow.drainedToLowWater(now: clock.now) == [])
    }

    @Test("the budget is 15 ms per second: the second pause is cut to what is left, then a warning, once")
    func budget() {
        var clock = ManualClock()
        var flow = Controller()
        _ = flow.subscriberAboveHighWater(now: clock.now)
        clock.advance(by: .milliseconds(10))
        _ = flow.pauseExpired(now: clock.now)
        clock.advance(by: .milliseconds(100))
        #expect(flow.subscriberAboveHighWater(now: clock.now) == [.pauseSubscriber(until: clock.now + .milliseconds(5))])
        clock.advance(by: .milliseconds(5))
        _ = flow.pauseExpired(now: clock.now)
        clock.advance(by: .milliseconds(100))
        #expect(flow.subscriberAboveHighWater(now: clock.now) == [.warnBudgetSpent])
        #expect(flow.subscriber == .reading)
        clock.advance(by: .milliseconds(100))
        #expect(flow.subscriberAboveHighWater(now: clock.now) == [], "the warning comes once")
    }

    @Test("less than 1 ms of budget left is not worth a pause")
    func tinyRemainder() {
        var clock = ManualClock()
        var flow = Controller()
        _ = flow.subscriberAboveHighWater(now: clock.now)
        clock.advance(by: .milliseconds(10))
        _ = flow.pauseExpired(now: clock.now)
        _ = flow.subscriberAboveHighWater(now: clock.now)
        clock.advance(by: .microseconds(4500))
        _ = flow.drainedToLowWater(now: clock.now)
        #expect(flow.spentInWindow == .microseconds(14500))
        #expect(flow.subscriberAboveHighWater(now: clock.now) == [.warnBudgetSpent])
    }

    @Test("a second after the window began, the budget is whole again")
    func windowRenews() {
        var clock = ManualClock()
        var flow = Controller()
        for _ in 0..<2 {
            _ = flow.subscriberAboveHighWater(now: clock.now)
            clock.advance(by: .milliseconds(10))
            _ = flow.pauseExpired(now: clock.now)
        }
        #expect(flow.subscriberAboveHighWater(now: clock.now) == [.warnBudgetSpent])
        clock.advance(to: .zero + .seconds(1))
        #expect(flow.subscriberAboveHighWater(now: clock.now) == [.pauseSubscriber(until: clock.now + .milliseconds(10))])
        #expect(flow.spentInWindow == .zero)
    }

    @Test("the stream reader pauses without a budget and resumes when the sink drains, with the links")
    func reader() {
        var clock = ManualClock()
        var flow = Controller()
        #expect(flow.readerAboveHighWater() == [.pauseReader])
        #expect(flow.readerAboveHighWater() == [])
        _ = flow.subscriberAboveHighWater(now: clock.now)
        clock.advance(by: .milliseconds(2))
        #expect(flow.drainedToLowWater(now: clock.now) == [.resumeSubscriber, .resumeReader])
        #expect(!flow.readerPaused)
        // Hours of reader pauses cost the links' budget nothing.
        for _ in 0..<100 {
            _ = flow.readerAboveHighWater()
            clock.advance(by: .seconds(60))
            _ = flow.drainedToLowWater(now: clock.now)
        }
        #expect(flow.subscriberAboveHighWater(now: clock.now) == [.pauseSubscriber(until: clock.now + .milliseconds(10))])
    }
}
