import Foundation
import LibeventLoop
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy on 127.0.0.1 that forwards every accepted connection to `127.0.0.1:targetPort`, and can
/// simulate a half-open network: after ``blackhole()`` the connections open at that moment stop forwarding
/// in both directions (their sockets stay open and are no longer read, so no FIN or RST reaches either
/// side), while new connections are still accepted and forwarded normally.
///
/// One thread accepts; each connection has one forwarding thread. Every thread polls with a 100 ms timeout
/// and ends when ``stop()`` is called (or its connection closes); writes time out after 2 s, so nothing
/// blocks forever. Sockets are closed only after their threads ended, so a descriptor is never reused
/// under a thread still polling it.
public final class BlackholeProxy: @unchecked Sendable {
    /// The port the proxy listens on (127.0.0.1).
    public let port: Int
    /// The port it forwards to (127.0.0.1).
    public let targetPort: Int

    private let listener: Int32
    private let state = Mutex(State())

    private struct State {
        var stopped = false
        var pairs: [Pair] = []
        var accepted = 0
        /// Threads (acceptor and forwarders) still running.
        var running = 0
    }

    /// One proxied connection: the accepted client socket and the socket to the target.
    private final class Pair: @unchecked Sendable {
        let client: Int32
        let upstream: Int32
        /// Guarded by the proxy's mutex.
        var status: Status = .forwarding
        enum Status { case forwarding, blackholed, closed }
        init(client: Int32, upstream: Int32) {
            self.client = client
            self.upstream = upstream
        }
    }

    /// Connections accepted so far.
    public var acceptedCount: Int { state.withLock { $0.accepted } }

    /// Connections currently forwarding (not blackholed, not closed).
    public var forwardingCount: Int { state.withLock { $0.pairs.filter { $0.status == .forwarding }.count } }

    /// Starts listening on a free loopback port and forwarding to `targetPort`.
    public init(targetPort: Int) throws {
        self.targetPort = targetPort
        (listener, port) = try LoopbackSocket.listen()
        state.withLock { $0.running += 1 }
        ThreadStarter.detach(name: "blackhole-proxy-accept") { [self] in acceptLoop() }
    }

    deinit { stop() }

    /// From now on, the connections open at this moment forward nothing more, in either direction, and
    /// stay open. New connections are forwarded normally.
    public func blackhole() {
        state.withLock { s in
            for pair in s.pairs where pair.status == .forwarding { pair.status = .blackholed }
        }
    }

    /// Stops accepting, ends every thread (bounded: at most about 3 s) and closes every socket. Idempotent.
    public func stop() {
        let first = state.withLock { s -> Bool in
            defer { s.stopped = true }
            return !s.stopped
        }
        guard first else { return }
        let deadline = Date().addingTimeInterval(5)
        while state.withLock({ $0.running }) > 0 && Date() < deadline { usleep(5_000) }
        let (pairs, clean) = state.withLock { s in
            defer { s.pairs = [] }
            return (s.pairs.filter { $0.status != .closed }, s.running == 0)
        }
        // Threads that did not end in time (none expected) keep their sockets: closing them could hand a
        // reused descriptor to the thread still polling it.
        guard clean else { return }
        for pair in pairs {
            close(pair.client)
            close(pair.upstream)
        }
        close(listener)
    }

    // MARK: Threads

    private func acceptLoop() {
        defer { state.withLock { $0.running -= 1 } }
        while !state.withLock({ $0.stopped }) {
            var pfd = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            guard let upstream = try? LoopbackSocket.connect(port: targetPort) else {
                close(client)
                continue
            }
            LoopbackSocket.setWriteTimeout(client)
            LoopbackSocket.setWriteTimeout(upstream)
            let pair = Pair(client: client, upstream: upstream)
            let started = state.withLock { s -> Bool in
                s.accepted += 1
                guard !s.stopped else { return false }
                s.pairs.append(pair)
                s.running += 1
                return true
            }
            guard started else {
                close(client)
                close(upstream)
                return
            }
            ThreadStarter.detach(name: "blackhole-proxy-forward") { [self] in forward(pair) }
        }
    }

    /// Copies bytes both ways until a side closes, the pair is blackholed, or the proxy stops.
    private func forward(_ pair: Pair) {
        defer { state.withLock { $0.running -= 1 } }
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var open = true
        while open {
            var fds = [pollfd(fd: pair.client, events: Int16(POLLIN), revents: 0), pollfd(fd: pair.upstream, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, 100)
            // Checked after every wake-up and before every read: a blackholed pair reads nothing more.
            let status = state.withLock { s in s.stopped ? Pair.Status.blackholed : pair.status }
            guard status == .forwarding else { return }
            guard ready > 0 else { continue }
            for (index, fd) in [pair.client, pair.upstream].enumerated() where open && fds[index].revents != 0 {
                let other = fd == pair.client ? pair.upstream : pair.client
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 || !LoopbackSocket.writeAll(other, buffer, count: n) { open = false }
            }
        }
        // A side closed or failed: close both, unless blackholed meanwhile (then stop() closes them).
        state.withLock { _ in
            guard pair.status == .forwarding else { return }
            pair.status = .closed
            close(pair.client)
            close(pair.upstream)
        }
    }
}
