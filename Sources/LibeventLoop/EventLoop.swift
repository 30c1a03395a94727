internal import CLibevent
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One libevent `event_base` running on one thread of its own. It owns every socket, timer and signal of
/// the objects created on it.
///
/// Threading: ``execute(_:)`` may be called from any thread; it puts the work in a locked inbox and wakes the
/// loop with `event_active` (safe from other threads because `evthread_use_pthreads()` is called before the
/// base is created). Everything else (`scheduleTimer`, `connect`, `onSignal`, the objects they return) is
/// loop-only: call it from work running on the loop. ``assertInLoop()`` checks that in debug builds.
public final class EventLoop: @unchecked Sendable {
    let base: OpaquePointer
    private let wakeEvent: OpaquePointer
    private var dnsBase: OpaquePointer?
    private let inbox = Mutex<Inbox>(Inbox())
    private let threadID = Mutex<pthread_t?>(nil)
    private var thread: ThreadStarter.Handle?
    /// Set on the loop thread only; read by inLoop checks from the loop thread.
    private var loopThread: pthread_t?

    private struct Inbox {
        var work: [@Sendable () -> Void] = []
        var state: State = .running
        var woken = false
    }

    private enum State { case running, stopping, stopped }

    /// Creates the base and starts its thread. The thread runs until ``shutdown()``.
    /// - Parameter name: the thread's name, shown by `top -H` and debuggers (15 bytes at most on Linux).
    public init(name: String = "resub-loop") {
        Self.enableThreads
        guard let base = event_base_new() else { fatalError("event_base_new failed") }
        self.base = base
        // A wake-up event with no fd: other threads make it active to run the inbox on the loop.
        wakeEvent = event_new(base, -1, 0, { _, _, ctx in
            Unmanaged<EventLoop>.fromOpaque(ctx!).takeUnretainedValue().drainInbox()
        }, nil)!
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        event_assign(wakeEvent, base, -1, 0, { _, _, ctx in
            Unmanaged<EventLoop>.fromOpaque(ctx!).takeUnretainedValue().drainInbox()
        }, ctx)
        startThread(name: name)
    }

    private static let enableThreads: Void = {
        evthread_use_pthreads()
        // A peer closing while we write must be an error result, not a process kill.
        signal(SIGPIPE, SIG_IGN)
    }()

    private func startThread(name: String) {
        thread = ThreadStarter.start(name: name) { [self] in runOnThisThread() }
    }

    private func runOnThisThread() {
        let me = pthread_self()
        loopThread = me
        threadID.withLock { $0 = me }
        // EVLOOP_NO_EXIT_ON_EMPTY: keep running while idle; only shutdown() breaks the loop.
        event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY)
        // Work queued during shutdown still runs, on the loop thread; after the inbox is seen empty under the
        // lock, the state is `stopped` and execute() runs work inline instead.
        while true {
            let batch = inbox.withLock { inbox -> [@Sendable () -> Void] in
                let work = inbox.work
                inbox.work = []
                if work.isEmpty { inbox.state = .stopped }
                return work
            }
            if batch.isEmpty { break }
            for item in batch { item() }
        }
    }

    /// True when called on this loop's thread.
    public var inLoop: Bool {
        guard let t = threadID.withLock({ $0 }) else { return false }
        return pthread_equal(t, pthread_self()) != 0
    }

    /// Stops in debug builds when not called on the loop thread.
    @inlinable
    public func assertInLoop(file: StaticString = #fileID, line: UInt = #line) {
        assert(inLoop, "must run on the event loop thread", file: file, line: line)
    }

    /// Runs `work` on the loop thread, after the work queued before it. Safe from any thread. Work queued
    /// after ``shutdown()`` has begun still runs (on the loop thread, before it exits) so that continuations
    /// waiting on it are always resumed.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        let action = inbox.withLock { inbox -> Int in
            if inbox.state == .stopped { return 2 }
            inbox.work.append(work)
            guard inbox.state == .running, !inbox.woken else { return 0 }
            inbox.woken = true
            return 1
        }
        switch action {
        case 1: event_active(wakeEvent, 0, 0)
        case 2: work()  // the loop is gone: nothing can run on it any more, so run here rather than never
        default: break
        }
    }

    /// Runs `body` on the loop and returns its result to an async caller.
    public func submit<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            execute { continuation.resume(with: Result { try body() }) }
        }
    }

    private func drainInbox() {
        while true {
            let batch = inbox.withLock { inbox -> [@Sendable () -> Void] in
                let work = inbox.work
                inbox.work = []
                if work.isEmpty { inbox.woken = false }
                return work
            }
            if batch.isEmpty { return }
            for item in batch { item() }
        }
    }

    /// The asynchronous DNS resolver of this loop, created on first use (reads /etc/resolv.conf and /etc/hosts).
    var dns: OpaquePointer? {
        assertInLoop()
        if dnsBase == nil {
            dnsBase = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE)
            if dnsBase == nil {
                // No usable resolv.conf: numeric addresses and /etc/hosts still work.
                dnsBase = evdns_base_new(base, 0)
                if let dnsBase { evdns_base_load_hosts(dnsBase, nil) }
            }
        }
        return dnsBase
    }

    /// Stops the loop thread and frees the base. Call it once, from outside the loop, after every object on
    /// the loop has been closed. Blocks until the thread has exited.
    public func shutdown() {
        precondition(!inLoop, "shutdown() must not be called on the loop thread")
        let proceed = inbox.withLock { inbox -> Bool in
            guard inbox.state == .running else { return false }
            inbox.state = .stopping
            return true
        }
        guard proceed else { return }
        // Break from inside the loop so work queued before shutdown runs first.
        inbox.withLock { $0.work.append { [self] in
            if let dnsBase { evdns_base_free(dnsBase, 1); self.dnsBase = nil }
            event_base_loopbreak(self.base)
        } }
        event_active(wakeEvent, 0, 0)
        thread?.join()
        event_free(wakeEvent)
        baseFreed.withLock { $0 = true }
        event_base_free(base)
    }

    private let baseFreed = Mutex(false)

    /// Whether ``shutdown()`` has freed the base: events still owned by objects must then not be freed
    /// (libevent would lock the freed base); their memory is small and the process is usually exiting.
    var isBaseFreed: Bool { baseFreed.withLock { $0 } }

    /// Whether ``shutdown()`` has begun.
    public var isShutDown: Bool { inbox.withLock { $0.state != .running } }
}

extension timeval {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let clamped = max(seconds, 0)
        self.init(tv_sec: Int(clamped), tv_usec: seconds < 0 ? 0 : Int(attoseconds / 1_000_000_000_000))
    }
}

