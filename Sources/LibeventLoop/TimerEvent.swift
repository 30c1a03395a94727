internal import CLibevent

/// A one-shot or repeating timer on an ``EventLoop``. Loop-only.
///
/// While armed, the timer keeps itself alive (one retain, given up when it fires for the last time or is
/// cancelled), so `loop.scheduleTimer(after:) { … }` works without keeping the handle.
public final class TimerEvent: @unchecked Sendable {
    private let loop: EventLoop
    private var event: OpaquePointer?
    private var handler: (() -> Void)?
    private let interval: Duration
    private let repeats: Bool
    private var selfRetain: Unmanaged<TimerEvent>?

    init(loop: EventLoop, after delay: Duration, repeating: Bool, handler: @escaping () -> Void) {
        self.loop = loop
        self.handler = handler
        self.interval = delay
        self.repeats = repeating
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        event = event_new(loop.base, -1, repeating ? Int16(EV_PERSIST) : 0, { _, _, ctx in
            Unmanaged<TimerEvent>.fromOpaque(ctx!).takeUnretainedValue().fire()
        }, ctx)
        var tv = timeval(delay)
        event_add(event, &tv)
        selfRetain = Unmanaged.passRetained(self)
    }

    /// Whether the timer will still fire.
    public var isArmed: Bool { selfRetain != nil }

    private func fire() {
        guard let handler else { return }
        if !repeats {
            disarm()
        }
        handler()
    }

    /// Stops the timer and frees its event; harmless when it already fired or was cancelled. Loop-only.
    public func cancel() {
        loop.assertInLoop()
        handler = nil
        disarm()
        if let event {
            event_free(event)
            self.event = nil
        }
    }

    private func disarm() {
        if let event { event_del(event) }
        if let retain = selfRetain {
            selfRetain = nil
            // Deferred teardown: the last reference may be this one, and we may be inside our own callback.
            loop.execute { _ = retain.takeRetainedValue() }
        }
    }

    deinit {
        if let event, !loop.isBaseFreed { event_free(event) }
    }
}

extension EventLoop {
    /// Calls `handler` on the loop after `delay` (and every `delay` after that when `repeating`). Loop-only.
    @discardableResult
    public func scheduleTimer(after delay: Duration, repeating: Bool = false, _ handler: @escaping () -> Void) -> TimerEvent {
        assertInLoop()
        return TimerEvent(loop: self, after: delay, repeating: repeating, handler: handler)
    }
}
