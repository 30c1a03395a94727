import LibeventLoop
import Testing

/// One-shot and repeating timers, cancellation, and cancelling from inside the handler.
///
/// Timer handles are dropped on the loop before it shuts down: a `TimerEvent` frees its libevent event in
/// `deinit`, which must not outlive the `event_base`.
@Suite("Timers")
struct TimerEventTests {
    @Test("a one-shot timer fires once, on the loop, and not before its delay")
    func oneShot() async throws {
        try await withLoop { loop in
            let clock = ContinuousClock()
            let start = Locked<ContinuousClock.Instant?>(nil)
            let fired = Locked<[ContinuousClock.Instant]>([])
            let onLoop = Locked(true)
            let armed = try await loop.submit {
                start.mutate { $0 = clock.now }
                let timer = loop.scheduleTimer(after: .milliseconds(100)) {
                    if !loop.inLoop { onLoop.mutate { $0 = false } }
                    fired.mutate { $0.append(clock.now) }
                }
                return timer.isArmed
            }
            #expect(armed)
            #expect(await eventually(timeout: .seconds(3)) { !fired.value.isEmpty })
            // Long enough for a wrongly repeating timer to fire again.
            try await Task.sleep(for: .milliseconds(300))
            #expect(fired.value.count == 1)
            #expect(onLoop.value)
            let elapsed = try #require(fired.value.first) - #require(start.value)
            // libevent rounds epoll timeouts up to whole milliseconds; a 1 ms allowance covers its cached clock.
            #expect(elapsed >= .milliseconds(99), "fired after \(elapsed)")
        }
    }

    @Test("a timer's handle reports it disarmed once it has fired")
    func disarmedAfterFiring() async throws {
        try await withLoop { loop in
            let handle = Locked<TimerEvent?>(nil)
            let fired = Locked(false)
            try await loop.submit {
                handle.mutate { $0 = loop.scheduleTimer(after: .milliseconds(10)) { fired.mutate { $0 = true } } }
            }
            #expect(await eventually { fired.value })
            #expect(try await loop.submit { handle.value?.isArmed } == false)
            try await loop.submit { handle.mutate { $0 = nil } }
        }
    }

    @Test("a repeating timer keeps firing until cancelled, then stops")
    func repeating() async throws {
        try await withLoop { loop in
            let handle = Locked<TimerEvent?>(nil)
            let count = Locked(0)
            try await loop.submit {
                handle.mutate { $0 = loop.scheduleTimer(after: .milliseconds(15), repeating: true) { count.mutate { $0 += 1 } } }
            }
            #expect(await eventually { count.value >= 5 })
            #expect(try await loop.submit { handle.value?.isArmed } == true)
            let atCancel = try await loop.submit {
                handle.value?.cancel()
                return count.value
            }
            try await Task.sleep(for: .milliseconds(150))
            #expect(count.value == atCancel)
            #expect(try await loop.submit { handle.value?.isArmed } == false)
            try await loop.submit { handle.mutate { $0 = nil } }
        }
    }

    @Test("a repeating timer fires about once per interval, never more often")
    func repeatingRate() async throws {
        try await withLoop { loop in
            let clock = ContinuousClock()
            let handle = Locked<TimerEvent?>(nil)
            let count = Locked(0)
            let start = try await loop.submit {
                handle.mutate { $0 = loop.scheduleTimer(after: .milliseconds(20), repeating: true) { count.mutate { $0 += 1 } } }
                return clock.now
            }
            try await Task.sleep(for: .milliseconds(500))
            let (fired, elapsed) = try await loop.submit {
                handle.value?.cancel()
                return (count.value, clock.now - start)
            }
            // At most one firing per whole interval elapsed; a loaded machine may fire less often, not more.
            let intervals = Int(elapsed / .milliseconds(20))
            #expect(fired <= intervals, "fired \(fired) times in \(elapsed)")
            #expect(fired >= max(1, intervals / 4), "fired \(fired) times in \(elapsed)")
            try await loop.submit { handle.mutate { $0 = nil } }
        }
    }

    @Test("cancelling before the delay prevents the timer from ever firing")
    func cancelPreventsFiring() async throws {
        try await withLoop { loop in
            let fired = Locked(false)
            let armedAfterCancel = try await loop.submit {
                let timer = loop.scheduleTimer(after: .milliseconds(30)) { fired.mutate { $0 = true } }
                timer.cancel()
                timer.cancel()
                return timer.isArmed
            }
            #expect(!armedAfterCancel)
            try await Task.sleep(for: .milliseconds(200))
            #expect(!fired.value)
        }
    }

    @Test("a repeating timer that cancels itself inside its handler fires once and is safe")
    func cancelInsideOwnHandler() async throws {
        try await withLoop { loop in
            let handle = Locked<TimerEvent?>(nil)
            let count = Locked(0)
            try await loop.submit {
                // The handler cannot run before the handle is stored: both happen in this one loop turn.
                handle.mutate {
                    $0 = loop.scheduleTimer(after: .milliseconds(5), repeating: true) {
                        count.mutate { $0 += 1 }
                        let me = handle.mutate { h -> TimerEvent? in
                            let timer = h
                            h = nil  // drop the only outside reference while inside the callback
                            return timer
                        }
                        me?.cancel()
                    }
                }
            }
            #expect(await eventually { count.value == 1 })
            try await Task.sleep(for: .milliseconds(100))
            #expect(count.value == 1)
            // The loop is still healthy afterwards.
            #expect(try await loop.submit { 1 } == 1)
        }
    }

    @Test("a one-shot timer cancelled inside its own handler is harmless")
    func oneShotCancelInsideHandler() async throws {
        try await withLoop { loop in
            let handle = Locked<TimerEvent?>(nil)
            let count = Locked(0)
            try await loop.submit {
                handle.mutate {
                    $0 = loop.scheduleTimer(after: .milliseconds(5)) {
                        count.mutate { $0 += 1 }
                        handle.value?.cancel()
                    }
                }
            }
            #expect(await eventually { count.value == 1 })
            try await loop.submit { handle.mutate { $0 = nil } }
            try await Task.sleep(for: .milliseconds(50))
            #expect(count.value == 1)
        }
    }

    @Test("a timer fires even when nobody keeps its handle")
    func unretainedTimerFires() async throws {
        try await withLoop { loop in
            let fired = Locked(0)
            try await loop.submit {
                _ = loop.scheduleTimer(after: .milliseconds(10)) { fired.mutate { $0 += 1 } }
            }
            #expect(await eventually { fired.value == 1 })
        }
    }

    @Test("timers with different delays fire in delay order")
    func delayOrder() async throws {
        try await withLoop { loop in
            let order = Locked<[Int]>([])
            try await loop.submit {
                for delay in [60, 20, 40, 0] {
                    loop.scheduleTimer(after: .milliseconds(delay)) { order.mutate { $0.append(delay) } }
                }
            }
            #expect(await eventually { order.value.count == 4 })
            #expect(order.value == [0, 20, 40, 60])
        }
    }

    @Test("a zero or negative delay fires on a following loop turn")
    func nonPositiveDelay() async throws {
        try await withLoop { loop in
            let fired = Locked<[Int]>([])
            let firedDuringSchedule = try await loop.submit {
                loop.scheduleTimer(after: .zero) { fired.mutate { $0.append(0) } }
                loop.scheduleTimer(after: .milliseconds(-5)) { fired.mutate { $0.append(-5) } }
                loop.scheduleTimer(after: .seconds(-3)) { fired.mutate { $0.append(-3000) } }
                return fired.value
            }
            #expect(firedDuringSchedule.isEmpty)
            #expect(await eventually(timeout: .seconds(1)) { fired.value.count == 3 })
            #expect(Set(fired.value) == [0, -5, -3000])
        }
    }
}
