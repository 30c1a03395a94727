#if canImport(Glibc)
import Glibc
#endif
import LibeventLoop
import Synchronization
import Testing

/// A value shared between the loop thread and the test, behind a lock.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) {
        mutex = Mutex(value)
    }

    var value: Value { mutex.withLock { $0 } }

    func mutate<R: Sendable>(_ body: (inout Value) -> R) -> R {
        mutex.withLock { body(&$0) }
    }
}

/// Polls `condition` every millisecond (without blocking a cooperative thread) until it holds or `timeout`
/// passes. Returns whether it held.
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return condition()
}

/// Runs `body` with a fresh loop and always shuts the loop down afterwards (from the test's thread).
func withLoop(name: String = "test-loop", _ body: (EventLoop) async throws -> Void) async rethrows {
    let loop = EventLoop(name: name)
    defer { loop.shutdown() }
    try await body(loop)
}

/// The kernel's id of the calling thread, from the `/proc/thread-self` link (`<pid>/task/<tid>`).
func currentThreadID() -> Int32 {
    var buffer = [CChar](repeating: 0, count: 64)
    let n = readlink("/proc/thread-self", &buffer, buffer.count - 1)
    guard n > 0 else { return -1 }
    let text = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    return Int32(text.split(separator: "/").last ?? "") ?? -1
}

/// The name of the calling thread, from `/proc/thread-self/comm`.
func currentThreadName() -> String {
    let fd = open("/proc/thread-self/comm", O_RDONLY)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 64)
    let n = read(fd, &buffer, buffer.count)
    guard n > 0 else { return "" }
    return String(decoding: buffer[0..<n], as: UTF8.self).trimmingSuffixNewline()
}

extension String {
    fileprivate func trimmingSuffixNewline() -> String {
        hasSuffix("\n") ? String(dropLast()) : self
    }
}

/// Records a socket's delegate calls, in order, from the loop thread.
final class SocketRecorder: TransportDelegate, @unchecked Sendable {
    enum Event: Equatable, Sendable {
        case connected
        case read([UInt8])
        case finishedReading
        case closed(SocketError)
    }

    private let events = Locked<[Event]>([])
    private let offLoop = Locked(0)
    /// Set to close the socket from inside its first read callback.
    let closeOnRead: Bool
    private let loop: EventLoop

    init(loop: EventLoop, closeOnRead: Bool = false) {
        self.loop = loop
        self.closeOnRead = closeOnRead
    }

    /// Every event so far.
    var all: [Event] { events.value }
    /// Delegate calls that did not run on the loop thread (must stay 0).
    var callsOffLoop: Int { offLoop.value }

    /// The bytes of every read, concatenated.
    var received: [UInt8] {
        all.flatMap { event -> [UInt8] in
            if case .read(let bytes) = event { return bytes }
            return []
        }
    }

    /// The close error, once closed.
    var closeError: SocketError? {
        for case .closed(let error) in all { return error }
        return nil
    }

    var isConnected: Bool { all.contains(.connected) }

    private let byteCount = Locked(0)

    /// How many bytes were read so far.
    var receivedCount: Int { byteCount.value }

    private func record(_ event: Event) {
        if !loop.inLoop { offLoop.mutate { $0 += 1 } }
        if case .read(let bytes) = event { byteCount.mutate { $0 += bytes.count } }
        events.mutate { $0.append(event) }
    }

    func transportDidConnect(_ transport: any Transport) {
        record(.connected)
    }

    func transport(_ transport: any Transport, didRead chunk: UnsafeRawBufferPointer) {
        record(.read(Array(chunk)))
        if closeOnRead { transport.close() }
    }

    func transportDidFinishReading(_ transport: any Transport) {
        record(.finishedReading)
    }

    func transport(_ transport: any Transport, didCloseWith error: SocketError) {
        record(.closed(error))
    }
}

/// A listening socket made with plain system calls: TCP on 127.0.0.1 with a kernel-chosen port, or Unix.
final class TestListener {
    let fd: Int32
    /// The TCP port (0 for a Unix listener).
    let port: Int
    /// The Unix socket path, if any.
    let path: String?
    private var directory: String?

    /// A TCP listener on 127.0.0.1.
    init(backlog: Int32 = 16) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0, "bind: \(String(cString: strerror(errno)))")
        try #require(listen(fd, backlog) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        path = nil
    }

    /// A Unix domain listener on a socket file in a new temporary directory.
    init(unixIn prefix: String) throws {
        var template = Array("/tmp/\(prefix).XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        try #require(dir != nil)
        let directory = String(cString: dir!)
        let path = directory + "/redis.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { dst in
            let bytes = Array(path.utf8)
            dst.copyBytes(from: bytes)
            dst[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0, "bind: \(String(cString: strerror(errno)))")
        try #require(listen(fd, 16) == 0)
        self.fd = fd
        self.path = path
        self.directory = directory
        port = 0
    }

    /// Accepts one connection, waiting at most `timeout`. The caller closes the returned fd.
    func accept(timeout: Duration = .seconds(5)) -> Int32? {
        guard TestListener.poll(fd, events: Int16(POLLIN), timeout: timeout) else { return nil }
        let client = Glibc.accept(fd, nil, nil)
        return client >= 0 ? client : nil
    }

    /// Waits until `fd` is ready for `events`.
    static func poll(_ fd: Int32, events: Int16, timeout: Duration) -> Bool {
        var p = pollfd(fd: fd, events: events, revents: 0)
        let ms = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        return Glibc.poll(&p, 1, ms) == 1
    }

    /// Reads from `fd` until `count` bytes arrived, the peer closed, or `timeout` passed.
    static func read(_ fd: Int32, count: Int, timeout: Duration = .seconds(5)) -> [UInt8] {
        var result: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 65536)
        while result.count < count, ContinuousClock.now < deadline {
            guard poll(fd, events: Int16(POLLIN), timeout: .milliseconds(50)) else { continue }
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            result += buffer[0..<n]
        }
        return result
    }

    /// Whether the peer of `fd` closed its side (a read returns 0 within `timeout`).
    static func sawEndOfFile(_ fd: Int32, timeout: Duration = .seconds(5)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline {
            guard poll(fd, events: Int16(POLLIN), timeout: .milliseconds(50)) else { continue }
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
        return false
    }

    /// Writes all of `bytes` to `fd` (blocking).
    static func write(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            offset += n
        }
    }

    deinit {
        Glibc.close(fd)
        if let path { unlink(path) }
        if let directory { rmdir(directory) }
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on: bound, then closed again.
func closedLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    try #require(bound == 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Starts a non-blocking TCP connect to 127.0.0.1:`port`; returns the fd (the caller closes it).
func startConnect(port: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return fd
}
