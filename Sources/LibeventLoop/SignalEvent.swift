internal import CLibevent
#if canImport(Glibc)
import Glibc
#endif

/// A Unix signal delivered as an event on the loop (libevent's `evsignal`), never in a signal handler.
/// Loop-only. Keep the handle; ``cancel()`` or releasing it removes the handler.
public final class SignalEvent: @unchecked Sendable {
    private let loop: EventLoop
    private var event: OpaquePointer?
    private let handler: (Int32) -> Void
    /// The signal number.
    public let signal: Int32

    init(loop: EventLoop, signal: Int32, handler: @escaping (Int32) -> Void) {
        self.loop = loop
        self.signal = signal
        self.handler = handler
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        event = event_new(loop.base, signal, Int16(EV_SIGNAL | EV_PERSIST), { sig, _, ctx in
            let me = Unmanaged<SignalEvent>.fromOpaque(ctx!).takeUnretainedValue()
            me.handler(sig)
        }, ctx)
        event_add(event, nil)
    }

    /// Removes the handler (the signal's default action is restored by libevent). Loop-only.
    public func cancel() {
        loop.assertInLoop()
        if let event {
            event_free(event)
            self.event = nil
        }
    }

    deinit {
        if let event, !loop.isBaseFreed { event_free(event) }
    }
}

extension EventLoop {
    /// Calls `handler` on the loop each time `signal` arrives. Loop-only.
    public func onSignal(_ signal: Int32, _ handler: @escaping (Int32) -> Void) -> SignalEvent {
        assertInLoop()
        return SignalEvent(loop: self, signal: signal, handler: handler)
    }
}
