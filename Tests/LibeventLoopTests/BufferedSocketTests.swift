#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LibeventLoop
import Testing

/// Buffered sockets against listeners made with plain system calls on loopback and in a temporary directory.
@Suite("Buffered socket")
struct BufferedSocketTests {
    private static func bytes(_ text: String) -> [UInt8] {
        Array(text.utf8)
    }

    private static func errnoOf(_ error: SocketError?) -> Int32? {
        if case .system(let code, _) = error { return code }
        return nil
    }

    @Test("a TCP connection carries bytes both ways and reports the peer's close as end of file")
    func tcpExchange() async throws {
        try await withLoop { loop in
            let listener = try TestListener()
            let port = listener.port
            let recorder = SocketRecorder(loop: loop)
            let socket = try await loop.submit { loop.connect(to: .tcp(host: "127.0.0.1", port: port), delegate: recorder) }
            let peer = try #require(listener.accept())
            #expect(await eventually { recorder.isConnected })
            #expect(try await loop.submit { socket.isConnected && !socket.isClosed && socket.fileDescriptor != nil })

            TestListener.write(peer, Self.bytes("hello from the peer"))
            #expect(await eventually { recorder.received == Self.bytes("hello from the peer") })
            #expect(recorder.all.last == .finishedReading)

            #expect(try await loop.submit { socket.write(Self.bytes("hello from the socket")) })
            #expect(TestListener.read(peer, count: 21) == Self.bytes("hello from the socket"))

            close(peer)
            #expect(await eventually { recorder.closeError != nil })
            #expect(recorder.closeError == .endOfFile)
            #expect(recorder.all.first == .connected)
            #expect(recorder.all.last == .closed(.endOfFile))
            #expect(try await loop.submit { socket.isClosed && !socket.isConnected && socket.fileDescriptor == nil })
            #expect(try await loop.submit { socket.write([1, 2, 3]) } == false)
            #expect(recorder.callsOffLoop == 0)
        }
    }

    @Test("a megabyte each way arrives complete and in order")
    func largeTransfer() async throws {
        try await withLoop { loop in
            let listener = try TestListener()
            let port = listener.port
            let recorder = SocketRecorder(loop: loop)
            let socket = try await loop.submit { loop.connect(to: .tcp(host: "127.0.0.1", port: port), delegate: recorder) }
            let peer = try #require(listener.accept())
            defer { close(peer) }
            #expect(await eventually { recorder.isConnected })

            let inbound = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
            ThreadStarter.detach(name: "test-peer") { TestListener.write(peer, inbound) }
            #expect(await eventually(timeout: .seconds(20)) { recorder.receivedCount >= inbound.count })
            #expect(recorder.received == inbound)

            let outbound = inbound.reversed().map { $0 }
            #expect(try await loop.submit { socket.write(outbound) })
            #expect(TestListener.read(peer, count: outbound.count, timeout: .seconds(20)) == outbound)
            #expect(try await loop.submit { socket.pendingOutputBytes } == 0)
            try await loop.submit { socket.close() }
        }
    }

    @Test("bytes sent just before the peer's close are delivered before the close")
    func dataBeforeEndOfFile() async throws {
        try await withLoop { loop in
            let listener = try TestListener()
            let port = listener.port
            let recorder = SocketRecorder(loop: loop)
            _ = try await loop.submit { loop.connect(to: .tcp(host: "127.0.0.1", port: port), delegate: recorder) }
            let peer = try #require(listener.accept())
            #expect(await eventually { recorder.isConnected })
            TestListener.write(peer, Self.bytes("last words"))
            close(peer)
            #expect(await eventually { recorder.closeError != nil })
            #expect(recorder.received == Self.bytes("last words"))
            #expect(recorder.all.last == .closed(.endOfFile))
        }
    }

    @Test("connecting to a closed loopback port fails with ECONNREFUSED")
    func connectionRefused() async throws {
        try await withLoop { loop in
            let port = try closedLoopbackPort()
            let recorder = SocketRecorder(loop: loop)
            _ = try await loop.submit { loop.connect(to: .tcp(host: "127.0.0.1", port: port), delegate: recorder) }
            #expect(await eventually { recorder.closeError != nil })
            #expect(Self.errnoOf(recorder.closeError) == ECONNREFUSED, "closed with \(String(describing: recorder.closeError))")
            #expect(!recorder.isConnected)
            #expect(recorder.callsOffLoop == 0)
        }
    }

    @Test("a connect the listener never answers fails with connectTimeout")
    func connectTimeout() async throws {
        try await withLoop { loop in
            // Backlog 0 and never accept: the kernel completes one handshake, then drops further SYNs.
            let listener = try TestListener(backlog: 0)
            let fillers = (0..<2).map { _ in startConnect(port: listener.port) }
            defer { fillers.forEach { close($0) } }
            try await Task.sleep(for: .milliseconds(50))
            let port = listener.port
            let recorder = SocketRecorder(loop: loop)
            let started = ContinuousClock.now
            _ = try await loop.submit {
                loop.connect(to: .tcp(host: "127.0.0.1", port: port), options: SocketOptions(connectTimeout: .milliseconds(300)), delegate: recorder)
            }
            #expect(await eventually { recorder.closeError != nil })
            #expect(recorder.closeError == .connectTimeout)
            #expect(!recorder.isConnected)
            #expect(ContinuousClock.now - started >= .milliseconds(290))
        }
    }

    @Test("a socket closed while still connecting never calls its delegate")
    func closeWhileConnecting() async throws {
        try await withLoop { loop in
            let listener = try TestListener(backlog: 0)
            let fillers = (0..<2).map { _ in startConnect(port: listener.port) }
            defer { fillers.forEach { close($0) } }
            try await Task.sleep(for: .milliseconds(50))
            let port = listener.port
            let recorder = SocketRecorder(loop: loop)
            try await loop.submit {
                let socket = loop.connect(to: .tcp(host: "127.0.0.1", port: port), options: SocketOptions(connectTimeout: .milliseconds(50)), delegate: recorder)
                socket.close()
            }
            // Well past the connect timeout: its timer was cancelled with the socket.
            try await Task.sleep(for: .milliseconds(250))
            #expect(recorder.all.isEmpty)
        }
    }

    @Test("a Unix domain socket connects and carries bytes both ways")
    func unixSocket() async throws {
        try await withLoop { loop in
            let listener = try TestListener(unixIn: "resub-loop-test")
            let path = try #require(listener.path)
            let recorder = SocketRecorder(loop: loop)
            let socket = try await loop.submit { loop.connect(to: .unix(path: path), delegate: recorder) }
            let peer = try #require(listener.accept())
            defer { close(peer) }
            #expect(await eventually { recorder.isConnected })
            #expect(try await loop.submit { socket.write(Self.bytes("PING\r\n")) })
            #expect(TestListener.read(peer, count: 6) == Self.bytes("PING\r\n"))
            TestListener.write(peer, Self.bytes("+PONG\r\n"))
            #expect(await eventually { recorder.received == Self.bytes("+PONG\r\n") })
            try await loop.submit { socket.close() }
            #expect(TestListener.sawEndOfFile(peer))
            #expect(recorder.closeError == nil, "close() must not call the delegate")
        }
    }

    @Test("connecting to a Unix socket path that does not exist fails with ENOENT")
    func unixMissingPath() async throws {
        try await withLoop { loop in
            let path = "/tmp/resub-missing-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
            let recorder = SocketRecorder(loop: loop)
            _ = try await loop.submit { loop.connect(to: .unix(path: path), delegate: recorder) }
            #expect(await eventually { recorder.closeError != nil })
            #expect(Self.errnoOf(recorder.closeError) == ENOENT, "closed with \(String(describing: recorder.closeError))")
            #expect(!recorder.isConnected)
        }
    }

    @Test("a Unix socket path too long for sockaddr_un fails with invalidAddress")
    func unixPathTooLong() async throws {
        try await withLoop { loop in
            let path = "/tmp/" + String(repeating: "x", count: 200) + ".sock"
            let recorder = SocketRecorder(loop: loop)
            _ = try await loop.submit { loop.connect(to: .unix(path: path), delegate: recorder) }
            #expect(await eventually { recorder.closeError != nil })
            guard case .invalidAddress(let message)? = recorder.closeError else {
                Issue.record("closed with \(String(describing: recorder.closeError))")
                return
            }
            #expect(message.contains("107"))
        }
    }

    @Test("a connect failure is reported on a later loop turn, never from inside connect()")
    func failureIsNeverSynchronous() async throws {
        try await withLoop { loop in
            let path = "/tmp/" + String(repeating: "y", count: 200) + ".sock"
            let recorder = SocketRecorder(loop: loop)
            let eventsDuringConnect = try await loop.submit {
                _ = loop.connect(to: .unix(path: path), delegate: recorder)
                return recorder.all
            }
            #expect(eventsDuringConnect.isEmpty, "the delegate ran before connect() returned: \(eventsDuringConnect)")
            #expect(await eventually { recorder.closeError != nil })
        }
    }

    @Test("closing a socket inside its own read callback stops every later callback")
    func closeInsideReadCallback() async throws {
        try await withLoop { loop in
            let listener = try TestListener()
            let port = listener.port
            let recorder = SocketRecorder(loop: loop, closeOnRead: true)
            let socket = try await loop.submit { loop.connect(to: .tcp(host: "127.0.0.1", port: port), delegate: recorder) }
            let peer = try #require(listener.accept())
            defer { close(peer) }
            #expect(await eventually { recorder.isConnected })
            // Big enough to arrive as several chunks of one read; the socket closes after the first.
            let payload = [UInt8](repeating: 0x61, count: 200_000)
            ThreadStarter.detach(name: "test-peer") { TestListener.write(peer, payload) }
            #expect(await eventually { recorder.all.count >= 2 })
            #expect(TestListener.sawEndOfFile(peer))
            try await Task.sleep(for: .milliseconds(100))
            let events = recorder.all
            #expect(events.count == 2, "events after the close: \(events.dropFirst(2))")
            #expect(events.first == .connected)
            if case .read(let chunk)? = events.last {
                #expect(!chunk.isEmpty && chunk.allSatisfy { $0 == 0x61 })
            } else {
                Issue.record("expected one read, got \(events)")
            }
            #expect(try await loop.submit { socket.isClosed && socket.write([1]) == false })
            #expect(recorder.callsOffLoop == 0)
        }
    }

    @Test("close() twice is harmless, and neither call reaches the delegate")
    func closeTwice() async throws {
        try await withLoop { loop in
            let listener = try TestListener()
            let port = listener.port
            let recorder = SocketRecorder(loop: loop)
            let socket = try await loop.submit { loop.connect(to: .tcp(host: "127.0.0.1", port: port), delegate: recorder) }
            let peer = try #require(listener.accept())
            defer { close(peer) }
            #expect(await eventually { recorder.isConnected })
            let state = try await loop.submit {
                socket.close()
                socket.close()
                return (socket.isClosed, socket.isConnected, socket.fileDescriptor, socket.pendingOutputBytes)
            }
            #expect(state.0)
            #expect(!state.1)
            #expect(state.2 == nil)
            #expect(state.3 == 0)
            #expect(TestListener.sawEndOfFile(peer))
            try await Task.sleep(for: .milliseconds(50))
            #expect(recorder.all == [.connected])
        }
    }

    @Test("maxSingleRead caps each read: a large inflow arrives over many reads, complete and in order")
    func maxSingleRead() async throws {
        try await withLoop { loop in
            let listener = try TestListener()
            let port = listener.port
            let recorder = SocketRecorder(loop: loop)
            let options = SocketOptions(maxSingleRead: 1000)
            let socket = try await loop.submit { loop.connect(to: .tcp(host: "127.0.0.1", port: port), options: options, delegate: recorder) }
            let peer = try #require(listener.accept())
            defer { close(peer) }
            #expect(await eventually { recorder.isConnected })
            let inbound = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 % 251) }
            ThreadStarter.detach(name: "test-peer") { TestListener.write(peer, inbound) }
            #expect(await eventually { recorder.receivedCount >= inbound.count })
            #expect(recorder.received == inbound)
            var sinceFinish = 0
            var reads = 0
            for event in recorder.all {
                switch event {
                case .read(let chunk):
                    sinceFinish += chunk.count
                    reads += 1
                case .finishedReading:
                    #expect(sinceFinish <= 1000)
                    sinceFinish = 0
                default:
                    break
                }
            }
            #expect(reads >= 100)
            try await loop.submit { socket.close() }
        }
    }

    @Test("writes go out up to maxSingleWrite per callback (256 KiB by default, not libevent's 16 KiB)")
    func maxSingleWrite() async throws {
        try await withLoop { loop in
            let listener = try TestListener()
            let port = listener.port
            for (options, expected) in [(SocketOptions(), 256 << 10), (SocketOptions(maxSingleWrite: 64 << 10), 64 << 10)] {
                let recorder = SocketRecorder(loop: loop)
                let socket = try await loop.submit { loop.connect(to: .tcp(host: "127.0.0.1", port: port), options: options, delegate: recorder) }
                let peer = try #require(listener.accept())
                defer { close(peer) }
                #expect(await eventually { recorder.isConnected })
                #expect(try await loop.submit { socket.maxSingleWriteInEffect } == expected)
                try await loop.submit { socket.close() }
            }
        }
    }

    @Test("a TCP connection gets TCP_NODELAY and the configured keepalive settings")
    func tcpOptions() async throws {
        try await withLoop { loop in
            let listener = try TestListener()
            let port = listener.port
            let recorder = SocketRecorder(loop: loop)
            let options = SocketOptions(keepAliveIdle: .seconds(42), keepAliveInterval: .seconds(7), keepAliveCount: 4)
            let socket = try await loop.submit { loop.connect(to: .tcp(host: "127.0.0.1", port: port), options: options, delegate: recorder) }
            let peer = try #require(listener.accept())
            defer { close(peer) }
            #expect(await eventually { recorder.isConnected })
            let values = try await loop.submit { () -> [Int32] in
                guard let fd = socket.fileDescriptor else { return [] }
                func option(_ level: Int32, _ name: Int32) -> Int32 {
                    var value: Int32 = -1
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(fd, level, name, &value, &length)
                    return value
                }
                let tcp = Int32(IPPROTO_TCP)
                return [
                    option(tcp, TCP_NODELAY), option(SOL_SOCKET, SO_KEEPALIVE), option(tcp, TCP_KEEPIDLE),
                    option(tcp, TCP_KEEPINTVL), option(tcp, TCP_KEEPCNT),
                ]
            }
            #expect(values == [1, 1, 42, 7, 4])
            try await loop.submit { socket.close() }
        }
    }

    @Test("keepalive stays off when keepAliveIdle is nil")
    func keepAliveOff() async throws {
        try await withLoop { loop in
            let listener = try TestListener()
            let port = listener.port
            let recorder = SocketRecorder(loop: loop)
            let options = SocketOptions(keepAliveIdle: nil)
            let socket = try await loop.submit { loop.connect(to: .tcp(host: "127.0.0.1", port: port), options: options, delegate: recorder) }
            let peer = try #require(listener.accept())
            defer { close(peer) }
            #expect(await eventually { recorder.isConnected })
            let keepAlive = try await loop.submit { () -> Int32 in
                var value: Int32 = -1
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(socket.fileDescriptor ?? -1, SOL_SOCKET, SO_KEEPALIVE, &value, &length)
                return value
            }
            #expect(keepAlive == 0)
            try await loop.submit { socket.close() }
        }
    }
}
