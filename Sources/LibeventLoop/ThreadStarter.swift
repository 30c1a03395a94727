internal import CLibevent
#if canImport(Glibc)
import Glibc
#endif

/// The one way resub starts a thread: a named, joinable pthread running a closure (the event loop, the
/// stdout writer, the spool's worker). Foundation's `Thread` is not used: its threads cannot be joined.
public enum ThreadStarter {
    /// A started thread, to be joined once.
    public struct Handle: @unchecked Sendable {
        fileprivate let thread: pthread_t

        /// Waits for the thread to return. Call it once, from another thread.
        public func join() {
            pthread_join(thread, nil)
        }
    }

    /// Starts a thread named `name` (Linux keeps at most 15 bytes, shown by `top -H` and debuggers) that
    /// runs `body` and exits.
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) -> Handle {
        let box = Unmanaged.passRetained(Start(name: name, body: body))
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { argument in
            let start = Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue()
            setCurrentThreadName(start.name)
            start.body()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
        return Handle(thread: thread)
    }

    /// Starts a thread as ``start(name:_:)`` does that nobody joins: its resources are freed when it exits.
    public static func detach(name: String, _ body: @escaping @Sendable () -> Void) {
        pthread_detach(start(name: name, body).thread)
    }

    /// What the new thread needs, handed over as one retained object.
    private final class Start {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
}

/// Names the calling thread (Linux: at most 15 bytes are kept), for `top -H` and debuggers.
public func setCurrentThreadName(_ name: String) {
    _ = resub_set_thread_name(String(name.prefix(15)))
}
