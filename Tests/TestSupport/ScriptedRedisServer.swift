import LibeventLoop
import RESP
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A fake Redis server on a free loopback port whose replies a script decides: each command (its words, as
/// sent) goes to `respond`, which returns the raw RESP reply, or nil to leave the command unanswered. One
/// thread per connection; ``stop()`` ends them all. The base of ``FakeSentinel`` and ``StalledRedisNode``.
public final class ScriptedRedisServer: @unchecked Sendable {
    /// The TCP port (127.0.0.1).
    public let port: Int
    private let listenFD: Int32
    private let respond: @Sendable ([String]) -> String?
    private let state = Mutex(State())

    private struct State {
        var connectionFDs: Set<Int32> = []
        var stopped = false
        var accepted = 0
    }

    /// How many connections were accepted.
    public var connectionCount: Int { state.withLock { $0.accepted } }

    /// Listens and starts accepting; `name` names the threads.
    public init(name: String, respond: @escaping @Sendable ([String]) -> String?) throws {
        self.respond = respond
        (listenFD, port) = try LoopbackSocket.listen()
        ThreadStarter.detach(name: name) { [self] in acceptLoop(name) }
    }

    deinit { stop() }

    /// Stops accepting and closes every connection (their threads then end). Idempotent.
    public func stop() {
        let fds: Set<Int32>? = state.withLock { state in
            guard !state.stopped else { return nil }
            state.stopped = true
            return state.connectionFDs
        }
        guard let fds else { return }
        // shutdown() wakes the threads blocked in accept() and read(); each thread closes its own socket.
        shutdown(listenFD, Int32(SHUT_RDWR))
        for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop(_ name: String) {
        defer { close(listenFD) }
        while true {
            let fd = accept(listenFD, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return
            }
            let keep = state.withLock { state -> Bool in
                guard !state.stopped else { return false }
                state.connectionFDs.insert(fd)
                state.accepted += 1
                return true
            }
            guard keep else {
                close(fd)
                return
            }
            ThreadStarter.detach(name: name + "-c") { [self] in serve(fd) }
        }
    }

    private func serve(_ fd: Int32) {
        defer {
            state.withLock { _ = $0.connectionFDs.remove(fd) }
            close(fd)
        }
        var parser = RESPParser()
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return }
            parser.feed(buffer[0..<n])
            while let value = try? parser.next() {
                guard let reply = respond(value.elements?.compactMap(\.string) ?? []) else { continue }
                let bytes = Array(reply.utf8)
                guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else { return }
            }
        }
    }
}

/// A count that a server's script (run on its connection threads) raises and a test reads.
public final class SharedCount: Sendable {
    private let count = Mutex(0)
    /// An empty count.
    public init() {}
    /// Adds one.
    public func increment() { count.withLock { $0 += 1 } }
    /// The count so far.
    public var value: Int { count.withLock { $0 } }
}
