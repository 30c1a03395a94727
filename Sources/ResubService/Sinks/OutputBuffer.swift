#if canImport(Glibc)
import Glibc
#endif

/// A growable byte buffer with unchecked writes, for the encoders' hot path. Not thread-safe: one per
/// writer thread.
///
/// Its three fields live behind one pointer rather than in stored `var`s: every read of a class's stored `var`
/// is a dynamic exclusivity check (`swift_beginAccess`, a thread-local lookup), three or more per JSON string,
/// which measured a quarter of the stdout writer's time. The buffer is never shared, so the checks bought nothing.
package final class OutputBuffer {
    private struct Fields {
        var base: UnsafeMutablePointer<UInt8>
        var capacity: Int
        var count: Int
    }

    private let fields: UnsafeMutablePointer<Fields>

    /// The start of the bytes.
    package var base: UnsafeMutablePointer<UInt8> {
        @inline(__always) get { fields.pointee.base }
    }
    /// How many bytes fit before the next growth.
    package var capacity: Int {
        @inline(__always) get { fields.pointee.capacity }
    }
    /// Bytes written so far.
    package var count: Int {
        @inline(__always) get { fields.pointee.count }
        @inline(__always) set { fields.pointee.count = newValue }
    }

    package init(capacity: Int = 1 << 20) {
        let capacity = max(capacity, 64)
        fields = .allocate(capacity: 1)
        fields.initialize(to: Fields(base: .allocate(capacity: capacity), capacity: capacity, count: 0))
    }

    deinit {
        fields.pointee.base.deallocate()
        fields.deinitialize(count: 1)
        fields.deallocate()
    }

    /// Makes room for `n` more bytes; the caller then writes at `base + count` and advances `count`.
    @inline(__always)
    package func reserve(_ n: Int) {
        if count + n > capacity { grow(count + n) }
    }

    private func grow(_ needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.update(from: base, count: count)
        base.deallocate()
        fields.pointee.base = newBase
        fields.pointee.capacity = newCapacity
    }

    /// Appends bytes.
    @inline(__always)
    package func append(_ bytes: UnsafeRawBufferPointer) {
        reserve(bytes.count)
        if let src = bytes.baseAddress { (base + count).update(from: src.assumingMemoryBound(to: UInt8.self), count: bytes.count) }
        count += bytes.count
    }

    /// Appends a static ASCII string.
    @inline(__always)
    package func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Appends one byte.
    @inline(__always)
    package func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    /// The bytes written.
    package var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Shrinks back to `capacity` bytes after a burst (so one huge message does not pin memory).
    package func reset(shrinkingTo limit: Int = 4 << 20) {
        count = 0
        if capacity > limit {
            base.deallocate()
            fields.pointee.capacity = limit
            fields.pointee.base = .allocate(capacity: limit)
        }
    }

    /// Writes everything to `fd` and empties the buffer.
    /// - Returns: 0, or the errno of a failed write (EPIPE when the reader went away).
    package func drain(to fd: Int32) -> Int32 {
        var offset = 0
        while offset < count {
            let n = write(fd, base + offset, count - offset)
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN {
                    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&p, 1, 1000)
                    continue
                }
                count = 0
                return e
            }
            offset += n
        }
        reset()
        return 0
    }
}
