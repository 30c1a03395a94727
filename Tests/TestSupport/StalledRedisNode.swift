import Foundation
import LibeventLoop
import RESP
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A fake Redis node on a free loopback port that completes a RESP2 login (HELLO is "unknown", CLIENT
/// SETNAME is OK, PING is PONG) and then never answers `CLUSTER …`: a hung node, for the topology
/// refresher's attempt timeout. Threads of its own, no process; ``stop()`` closes every socket.
public final class StalledRedisNode: @unchecked Sendable {
    /// The TCP port (127.0.0.1).
    public let port: Int
    private let listenFD: Int32
    /// What the accepting and serving threads share.
    private struct State {
        var connectionFDs: Set<Int32> = []
        var stopped = false
        var clusterCommands = 0
        var accepted = 0
    }

    private let state = Mutex(State())

    /// `redis://127.0.0.1:port`.
    public var url: String { "redis://127.0.0.1:\(port)" }

    /// How many `CLUSTER …` commands arrived (and were left unanswered).
    public var clusterCommandCount: Int { state.withLock { $0.clusterCommands } }
    /// How many connections were accepted.
    public var connectionCount: Int { state.withLock { $0.accepted } }

    /// Listens and starts accepting.
    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FixtureError("socket: \(errno)") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw FixtureError("bind/listen: \(errno)")
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        listenFD = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
        ThreadStarter.detach(name: "test-stalled") { [self] in acceptLoop() }
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

    private func acceptLoop() {
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
            ThreadStarter.detach(name: "test-stalled-c") { [self] in serve(fd) }
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
                let words = value.elements?.compactMap(\.string).map { $0.uppercased() } ?? []
                let reply: String?
                switch words.first {
                case "HELLO": reply = "-ERR unknown command 'HELLO'\r\n"
                case "CLIENT": reply = "+OK\r\n"
                case "PING": reply = "+PONG\r\n"
                case "CLUSTER":
                    state.withLock { $0.clusterCommands += 1 }
                    reply = nil
                default: reply = "-ERR this node is stalled\r\n"
                }
                if let reply {
                    let bytes = Array(reply.utf8)
                    guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else { return }
                }
            }
        }
    }
}
