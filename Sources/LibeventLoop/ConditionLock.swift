#if canImport(Glibc)
import Glibc
#endif

/// A lock with a condition variable, for a thread that must sleep until another thread changes what the
/// lock guards (a writer thread waiting for work, a caller waiting for a thread to finish).
///
/// Everything else locks with `Synchronization.Mutex`; Mutex has no condition variable, so waiting is the
/// one reason to use this instead. The mutex and condition live in allocated memory (never moved, as
/// pthreads require).
public final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    /// An unlocked lock with no waiter.
    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Takes the lock.
    public func lock() {
        pthread_mutex_lock(mutex)
    }

    /// Releases the lock.
    public func unlock() {
        pthread_mutex_unlock(mutex)
    }

    /// Runs `body` holding the lock.
    public func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Releases the lock, sleeps until signalled (or spuriously), and takes it again. Call it holding the
    /// lock, in a loop that checks the awaited condition.
    public func wait() {
        pthread_cond_wait(condition, mutex)
    }

    /// As ``wait()``, but gives up at `deadline` (`CLOCK_REALTIME`). Returns false when the deadline passed.
    public func wait(until deadline: timespec) -> Bool {
        var deadline = deadline
        return pthread_cond_timedwait(condition, mutex, &deadline) != ETIMEDOUT
    }

    /// Wakes one waiter.
    public func signal() {
        pthread_cond_signal(condition)
    }

    /// Wakes every waiter.
    public func broadcast() {
        pthread_cond_broadcast(condition)
    }
}
