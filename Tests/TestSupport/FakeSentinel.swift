import Foundation
import RESP
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A stale sentinel: a TCP server on a free loopback port that answers `SENTINEL GET-MASTER-ADDR-BY-NAME`
/// with a fixed address (a replica's, in the test of ROLE refusal), knows no other sentinel, and lets a
/// client SUBSCRIBE (to `+switch-master`) without ever publishing. One thread per connection; ``stop()``
/// ends them all.
public final class FakeSentinel: @unchecked Sendable {
    /// The port (127.0.0.1).
    public let port: Int
    private let listenFD: Int32
    private let answerPort: Int
    private let state = Mutex(State())

    private struct State {
        var stopped = false
        var fds: Set<Int32> = []
        var masterQueries = 0
    }

    /// How many GET-MASTER-ADDR-BY-NAME it answered.
    public var masterQueries: Int { state.withLock { $0.masterQueries } }

    /// Starts answering every master query with `127.0.0.1:answerPort`.
    public init(answering answerPort: Int) throws {
        self.answerPort = answerPort
        (listenFD, port) = try LoopbackSocket.listen()
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    deinit { stop() }

    /// Stops accepting and closes every connection. Idempotent.
    public func stop() {
        let fds: Set<Int32>? = state.withLock { s in
            guard !s.stopped else { return nil }
            s.stopped = true
            return s.fds
        }
        guard let fds else { return }
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
            let keep = state.withLock { s -> Bool in
                guard !s.stopped else { return false }
                s.fds.insert(fd)
                return true
            }
            guard keep else {
                close(fd)
                return
            }
            Thread.detachNewThread { [self] in serve(fd) }
        }
    }

    private func serve(_ fd: Int32) {
        defer {
            state.withLock { _ = $0.fds.remove(fd) }
            close(fd)
        }
        var parser = RESPParser()
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return }
            parser.feed(buffer[0..<n])
            while let value = try? parser.next() {
                let words = value.elements?.compactMap(\.string) ?? []
                let reply: String
                switch (words.first?.uppercased(), words.dropFirst().first?.uppercased()) {
                case ("HELLO", _): reply = "-ERR unknown command 'HELLO'\r\n"
                case ("CLIENT", _), ("AUTH", _): reply = "+OK\r\n"
                case ("PING", _): reply = "+PONG\r\n"
                case ("SENTINEL", "GET-MASTER-ADDR-BY-NAME"):
                    state.withLock { $0.masterQueries += 1 }
                    let port = String(answerPort)
                    reply = "*2\r\n$9\r\n127.0.0.1\r\n$\(port.utf8.count)\r\n\(port)\r\n"
                case ("SENTINEL", "SENTINELS"): reply = "*0\r\n"
                case ("SUBSCRIBE", _):
                    reply = words.dropFirst().enumerated().map { i, name in
                        "*3\r\n$9\r\nsubscribe\r\n$\(name.utf8.count)\r\n\(name)\r\n:\(i + 1)\r\n"
                    }.joined()
                case ("QUIT", _): reply = "+OK\r\n"
                default: reply = "-ERR unknown command\r\n"
                }
                let bytes = Array(reply.utf8)
                guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else { return }
            }
        }
    }
}
