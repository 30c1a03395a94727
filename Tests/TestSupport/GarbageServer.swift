import Foundation
import LibeventLoop
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A TCP server on a free 127.0.0.1 port that answers every connection with bytes that are not RESP, then
/// keeps the connection open (reading and discarding) until the client closes it, so the client sees a
/// protocol error rather than an end of file. It counts the connections it accepted.
///
/// One thread polls the listener and every connection with a 50 ms timeout; a connection is closed by the
/// server after `holdFor` at the latest, and everything is closed by ``stop()``.
public final class GarbageServer: @unchecked Sendable {
    /// The port (127.0.0.1).
    public let port: Int
    /// What every connection receives first.
    public let garbage: [UInt8]
    /// How long a connection is kept open at most.
    public let holdFor: Duration

    private let listener: Int32
    private let state = Mutex(State())

    private struct State {
        var stopped = false
        var running = false
        var accepted = 0
    }

    /// Connections accepted so far.
    public var acceptedCount: Int { state.withLock { $0.accepted } }

    /// Starts listening on a free loopback port.
    public init(garbage: [UInt8] = Array("this is not RESP\r\n".utf8), holdFor: Duration = .seconds(5)) throws {
        self.garbage = garbage
        self.holdFor = holdFor
        (listener, port) = try LoopbackSocket.listen()
        state.withLock { $0.running = true }
        ThreadStarter.detach(name: "garbage-server") { [self] in serve() }
    }

    deinit { stop() }

    /// Stops accepting and closes every connection (waits at most 2 s for the thread). Idempotent.
    public func stop() {
        let first = state.withLock { s -> Bool in
            defer { s.stopped = true }
            return !s.stopped
        }
        guard first else { return }
        let deadline = Date().addingTimeInterval(2)
        while state.withLock({ $0.running }) && Date() < deadline { usleep(5_000) }
    }

    private func serve() {
        var clients: [(fd: Int32, since: ContinuousClock.Instant)] = []
        defer {
            for client in clients { close(client.fd) }
            close(listener)
            state.withLock { $0.running = false }
        }
        var scratch = [UInt8](repeating: 0, count: 16 << 10)
        while !state.withLock({ $0.stopped }) {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
            fds += clients.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), 50) >= 0 else { continue }
            // Connections: discard what they send; close those that closed or were held long enough.
            var keep: [(fd: Int32, since: ContinuousClock.Instant)] = []
            for (index, client) in clients.enumerated() {
                var open = client.since.duration(to: .now) < holdFor
                if open, fds[index + 1].revents != 0 {
                    open = scratch.withUnsafeMutableBytes { read(client.fd, $0.baseAddress, $0.count) } > 0
                }
                if open { keep.append(client) } else { close(client.fd) }
            }
            clients = keep
            if fds[0].revents & Int16(POLLIN) != 0 {
                let fd = accept(listener, nil, nil)
                guard fd >= 0 else { continue }
                state.withLock { $0.accepted += 1 }
                LoopbackSocket.setWriteTimeout(fd, seconds: 1)
                _ = LoopbackSocket.writeAll(fd, garbage, count: garbage.count)
                clients.append((fd, .now))
            }
        }
    }
}
