import Foundation
import LibeventLoop
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A real HTTP/1.1 server on 127.0.0.1 for webhook tests: plain sockets, one thread accepting and one thread
/// per connection (at most ``maxConnections``), keep-alive, `Content-Length` bodies (chunked bodies are
/// refused with 411). It records every request (method, target, headers, body, arrival time, the status it
/// answered) and answers as its ``Behaviour`` says, per request: a status, extra headers such as
/// `Retry-After`, a delay before answering, closing the connection, or hanging up without an answer.
///
/// Every wait is bounded; ``stop()`` (idempotent, also run by `deinit`) closes the listening socket and every
/// connection and waits (at most 5 s) for the threads to end, after which the port is closed.
public final class WebhookReceiver: Sendable {
    /// One request as received.
    public struct Request: Sendable {
        /// Arrival order, from 0, over all connections.
        public let index: Int
        /// Which accepted connection it came on (from 0): keep-alive reuse shows as repeated numbers.
        public let connection: Int
        /// `POST`, `GET`, …
        public let method: String
        /// The request target: path and query, as sent.
        public let target: String
        /// Headers, names lowercased (a repeated header's values joined with ", ").
        public let headers: [String: String]
        /// The body (`Content-Length` bytes).
        public let body: [UInt8]
        /// When the whole request had arrived.
        public let receivedAt: Date
        /// The status answered (0: hung up without answering).
        public let status: Int

        /// The value of header `name` (any case).
        public func header(_ name: String) -> String? { headers[name.lowercased()] }
        /// The body as text (lossy).
        public var bodyText: String { String(decoding: body, as: UTF8.self) }
        /// Whether it was answered 2xx.
        public var accepted: Bool { (200..<300).contains(status) }
    }

    /// How to answer one request.
    public struct Reply: Sendable {
        /// The status code.
        public var status: Int
        /// Extra response headers.
        public var headers: [(String, String)]
        /// The response body.
        public var body: [UInt8]
        /// Wait this long before answering.
        public var delay: Duration
        /// Close the connection after answering (sends `Connection: close`).
        public var close: Bool
        /// Close the connection without answering at all (the client sees a connection error).
        public var hangUp: Bool

        /// A reply; `200` with an empty body by default.
        public init(status: Int = 200, headers: [(String, String)] = [], body: String = "", delay: Duration = .zero, close: Bool = false, hangUp: Bool = false) {
            self.status = status
            self.headers = headers
            self.body = Array(body.utf8)
            self.delay = delay
            self.close = close
            self.hangUp = hangUp
        }

        /// `200 OK`.
        public static let ok = Reply()

        /// A status, with `Retry-After: <seconds>` when given.
        public static func status(_ status: Int, retryAfter seconds: Int? = nil, body: String = "") -> Reply {
            Reply(status: status, headers: seconds.map { [("Retry-After", String($0))] } ?? [], body: body)
        }
    }

    /// Chooses the reply to a request (called on the connection's thread, once per request, in arrival order
    /// per connection; `Request.status` is 0 in the request it is given).
    public typealias Behaviour = @Sendable (Request) -> Reply

    /// Answers every request with `reply`.
    public static func always(_ reply: Reply) -> Behaviour { { _ in reply } }

    /// Answers the first `count` requests (by arrival, over all connections) with `reply`, then `then`.
    public static func failing(first count: Int, with reply: Reply, then: Reply = .ok) -> Behaviour {
        { request in request.index < count ? reply : then }
    }

    /// The most connections served at once; more are closed at once.
    public let maxConnections = 64
    /// The largest request (head and body) accepted; a bigger one closes the connection.
    public let maxRequestBytes = 64 << 20

    /// The port on 127.0.0.1.
    public let port: Int
    private let listenFD: Int32
    private let state: Mutex<State>

    private struct State {
        var behaviour: Behaviour
        var running: Int  // threads (accept + connections) still running
        var requests: [Request] = []
        var nextIndex = 0
        var nextConnection = 0
        var connections = 0
        var stopping = false
    }

    /// `http://127.0.0.1:<port>` followed by `path`.
    public func url(path: String = "/") -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Starts listening on 127.0.0.1:`port` (a free port when nil; `SO_REUSEADDR`, so a port used a moment ago
    /// by another test server can be taken again).
    public init(port: Int? = nil, behaviour: @escaping Behaviour = WebhookReceiver.always(.ok)) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FixtureError("socket: \(errno)") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = LoopbackSocket.loopback(port: port ?? 0)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 128) == 0 else {
            let e = errno
            close(fd)
            throw FixtureError("webhook receiver: bind/listen on 127.0.0.1:\(port ?? 0): \(String(cString: strerror(e)))")
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        self.port = Int(UInt16(bigEndian: addr.sin_port))
        listenFD = fd
        state = Mutex(State(behaviour: behaviour, running: 1))
        ThreadStarter.detach(name: "test-webhook") { [self] in acceptLoop() }
    }

    deinit { stop() }

    /// Replaces the behaviour for the requests that come next.
    public func setBehaviour(_ behaviour: @escaping Behaviour) {
        state.withLock { $0.behaviour = behaviour }
    }

    /// Every request so far, in arrival order.
    public var requests: [Request] { state.withLock { $0.requests } }

    /// The requests answered 2xx, in arrival order.
    public var accepted: [Request] { requests.filter(\.accepted) }

    /// Waits (at most `timeout`, polling every 10 ms) until `condition` holds for the requests so far.
    /// - Returns: whether it held.
    public func waitUntil(timeout: Duration, _ condition: ([Request]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        let rounds = Int(timeout / .milliseconds(10)) + 1
        for _ in 0..<rounds {
            if condition(requests) { return true }
            if ContinuousClock.now >= deadline { break }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition(requests)
    }

    /// Stops listening, closes every connection and waits (at most 5 s) for the threads. Idempotent.
    public func stop() {
        let first = state.withLock { s -> Bool in
            defer { s.stopping = true }
            return !s.stopping
        }
        if first { shutdown(listenFD, Int32(SHUT_RDWR)) }
        for _ in 0..<500 {
            if state.withLock({ $0.running }) == 0 { return }
            usleep(10_000)
        }
    }

    private var stopping: Bool { state.withLock { $0.stopping } }

    // MARK: Threads

    private func acceptLoop() {
        defer {
            close(listenFD)
            state.withLock { $0.running -= 1 }
        }
        while !stopping {
            var pfd = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 50) > 0 else { continue }
            let fd = accept(listenFD, nil, nil)
            guard fd >= 0 else { continue }
            let number = state.withLock { s -> Int? in
                guard !s.stopping, s.connections < maxConnections else { return nil }
                s.connections += 1
                s.running += 1
                defer { s.nextConnection += 1 }
                return s.nextConnection
            }
            guard let number else {
                close(fd)
                continue
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            LoopbackSocket.setWriteTimeout(fd)
            ThreadStarter.detach(name: "test-webhook-c") { [self] in
                serve(fd, connection: number)
                close(fd)
                state.withLock {
                    $0.connections -= 1
                    $0.running -= 1
                }
            }
        }
    }

    /// Serves requests on one connection until the peer closes it, an answer closes it, or ``stop()``.
    private func serve(_ fd: Int32, connection: Int) {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while !stopping {
            if let (head, bodyStart) = Self.parseHead(buffer) {
                if head.headers["transfer-encoding"] != nil {
                    _ = respond(fd, Reply(status: 411, body: "only Content-Length bodies"), keepAlive: false)
                    return
                }
                let length = Int(head.headers["content-length"] ?? "0") ?? -1
                guard length >= 0, bodyStart + length <= maxRequestBytes else { return }
                if buffer.count >= bodyStart + length {
                    let body = Array(buffer[bodyStart..<(bodyStart + length)])
                    buffer.removeFirst(bodyStart + length)
                    guard answer(fd, connection: connection, head: head, body: body) else { return }
                    continue
                }
            } else if buffer.count > 64 << 10 {
                return  // no end of head within 64 KiB
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 50) > 0 else { continue }
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return }
            buffer += chunk[0..<n]
            guard buffer.count <= maxRequestBytes else { return }
        }
    }

    private struct Head {
        var method: String
        var target: String
        var version: String
        var headers: [String: String]
    }

    private static func parseHead(_ buffer: [UInt8]) -> (Head, Int)? {
        guard buffer.count >= 4 else { return nil }
        var end: Int?
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            end = i
            break
        }
        guard let end else { return nil }
        let lines = String(decoding: buffer[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ", omittingEmptySubsequences: true)
        var head = Head(
            method: parts.count > 0 ? String(parts[0]) : "", target: parts.count > 1 ? String(parts[1]) : "",
            version: parts.count > 2 ? String(parts[2]) : "HTTP/1.0", headers: [:])
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if let existing = head.headers[name] { head.headers[name] = existing + ", " + value } else { head.headers[name] = value }
        }
        return (head, end + 4)
    }

    /// Records a request, answers it; false when the connection is to be closed.
    private func answer(_ fd: Int32, connection: Int, head: Head, body: [UInt8]) -> Bool {
        let (request, behaviour) = state.withLock { s -> (Request, Behaviour) in
            defer { s.nextIndex += 1 }
            let request = Request(
                index: s.nextIndex, connection: connection, method: head.method, target: head.target,
                headers: head.headers, body: body, receivedAt: Date(), status: 0)
            return (request, s.behaviour)
        }
        let reply = behaviour(request)
        let recorded = Request(
            index: request.index, connection: connection, method: request.method, target: request.target,
            headers: request.headers, body: body, receivedAt: request.receivedAt, status: reply.hangUp ? 0 : reply.status)
        state.withLock { s in
            let at = s.requests.lastIndex { $0.index < recorded.index }.map { $0 + 1 } ?? 0
            s.requests.insert(recorded, at: at)
        }
        if reply.delay > .zero {
            let deadline = ContinuousClock.now + reply.delay
            let rounds = Int(reply.delay / .milliseconds(10)) + 1
            for _ in 0..<rounds where ContinuousClock.now < deadline && !stopping { usleep(10_000) }
        }
        guard !reply.hangUp, !stopping else { return false }
        let keepAlive = head.version == "HTTP/1.1"
            ? head.headers["connection"]?.lowercased() != "close"
            : head.headers["connection"]?.lowercased() == "keep-alive"
        return respond(fd, reply, keepAlive: keepAlive && !reply.close)
    }

    private func respond(_ fd: Int32, _ reply: Reply, keepAlive: Bool) -> Bool {
        var text = "HTTP/1.1 \(reply.status) \(Self.reason(reply.status))\r\nContent-Length: \(reply.body.count)\r\n"
        if !reply.headers.contains(where: { $0.0.lowercased() == "content-type" }) { text += "Content-Type: text/plain\r\n" }
        for (name, value) in reply.headers { text += "\(name): \(value)\r\n" }
        text += keepAlive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n"
        let bytes = Array(text.utf8) + reply.body
        return LoopbackSocket.writeAll(fd, bytes, count: bytes.count) && keepAlive
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 404: return "Not Found"
        case 408: return "Request Timeout"
        case 411: return "Length Required"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }
}
