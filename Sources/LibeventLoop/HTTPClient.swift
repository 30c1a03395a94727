internal import CLibevent
#if canImport(Glibc)
import Glibc
#endif

/// An HTTP response received by an ``HTTPClient``.
public struct HTTPClientResponse: Sendable {
    /// Status code.
    public var status: Int
    /// Response headers, names lowercased.
    public var headers: [String: String]
    /// The body.
    public var body: [UInt8]
}

/// Why a request got no response.
public enum HTTPClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No response within the timeout.
    case timeout
    /// The connection failed (refused, reset, TLS handshake or certificate failure, DNS).
    case connectionFailed(String)
    /// The client was closed.
    case closed

    /// A short explanation.
    public var description: String {
        switch self {
        case .timeout: return "timeout"
        case .connectionFailed(let why): return "connection failed: \(why)"
        case .closed: return "client closed"
        }
    }
}

/// One keep-alive HTTP/1.1 connection (http or https) to one host, on the loop (libevent's evhttp).
/// Requests on one client go one at a time, in order; use several clients for parallel requests.
/// Loop-only.
public final class HTTPClient: @unchecked Sendable {
    private let loop: EventLoop
    private let host: String
    private let port: Int
    private let tls: TLSContext?
    private let timeout: Duration
    private var connection: OpaquePointer?
    private var pending: [Int: (Result<HTTPClientResponse, HTTPClientError>) -> Void] = [:]
    private var nextID = 0
    private var closed = false

    /// Creates a client for `host:port`; with `tls`, requests go over HTTPS (certificate and host name
    /// verified as the context says). Nothing connects until the first request. Loop-only.
    public init(loop: EventLoop, host: String, port: Int, tls: TLSContext?, timeout: Duration) {
        loop.assertInLoop()
        self.loop = loop
        self.host = host
        self.port = port
        self.tls = tls
        self.timeout = timeout
    }

    private func makeConnection() -> OpaquePointer? {
        if let connection { return connection }
        let conn: OpaquePointer?
        if let tls {
            guard let ssl = tls.makeSSL(host: host),
                  let bev = bufferevent_openssl_socket_new(loop.base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue | BEV_OPT_DEFER_CALLBACKS.rawValue))
            else { return nil }
            bufferevent_openssl_set_allow_dirty_shutdown(bev, 1)
            conn = evhttp_connection_base_bufferevent_new(loop.base, loop.dns, bev, host, UInt16(port))
        } else {
            conn = evhttp_connection_base_new(loop.base, loop.dns, host, UInt16(port))
        }
        guard let conn else { return nil }
        var tv = timeval(timeout)
        evhttp_connection_set_timeout_tv(conn, &tv)
        // A TLS connection cannot be re-established on the same bufferevent: make a new one after a failure.
        evhttp_connection_set_retries(conn, 0)
        connection = conn
        return conn
    }

    /// Sends a request; `completion` runs on the loop with the response, or with why there is none. Loop-only.
    public func send(
        method: String, path: String, headers: [(String, String)], body: [UInt8],
        completion: @escaping (Result<HTTPClientResponse, HTTPClientError>) -> Void
    ) {
        loop.assertInLoop()
        guard !closed else { return completion(.failure(.closed)) }
        guard let conn = makeConnection() else {
            return completion(.failure(.connectionFailed("cannot create connection: \(TLSContext.lastError())")))
        }
        nextID += 1
        let id = nextID
        pending[id] = completion
        let context = Unmanaged.passRetained(RequestContext(client: self, id: id))
        guard let req = evhttp_request_new({ req, ctx in
            let context = Unmanaged<RequestContext>.fromOpaque(ctx!).takeRetainedValue()
            context.client?.finished(context.id, req)
        }, context.toOpaque()) else {
            context.release()
            pending[id] = nil
            return completion(.failure(.connectionFailed("evhttp_request_new failed")))
        }
        let output = evhttp_request_get_output_headers(req)
        evhttp_add_header(output, "Host", port == (tls == nil ? 80 : 443) ? host : "\(host):\(port)")
        evhttp_add_header(output, "Connection", "keep-alive")
        for (name, value) in headers { evhttp_add_header(output, name, value) }
        body.withUnsafeBytes { _ = evbuffer_add(evhttp_request_get_output_buffer(req), $0.baseAddress, $0.count) }
        let command: evhttp_cmd_type
        switch method {
        case "GET": command = EVHTTP_REQ_GET
        case "PUT": command = EVHTTP_REQ_PUT
        case "DELETE": command = EVHTTP_REQ_DELETE
        default: command = EVHTTP_REQ_POST
        }
        if evhttp_make_request(conn, req, command, path) != 0 {
            // evhttp freed the request and will not call back: give the context back here.
            context.release()
            pending[id] = nil
            dropConnection()
            completion(.failure(.connectionFailed("request could not be sent")))
        }
    }

    private final class RequestContext {
        weak var client: HTTPClient?
        let id: Int
        init(client: HTTPClient, id: Int) {
            self.client = client
            self.id = id
        }
    }

    private func finished(_ id: Int, _ req: OpaquePointer?) {
        guard let completion = pending.removeValue(forKey: id) else { return }
        guard let req, evhttp_request_get_response_code(req) > 0 else {
            // No response: timeout, refused, reset, TLS failure. Start afresh next time.
            var reason = "no response"
            if let connection, let bev = evhttp_connection_get_bufferevent(connection) {
                let sslError = bufferevent_get_openssl_error(bev)
                if sslError != 0 {
                    var buffer = [CChar](repeating: 0, count: 256)
                    ERR_error_string_n(sslError, &buffer, buffer.count)
                    reason = "TLS: " + String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                } else if errno != 0 {
                    reason = String(cString: strerror(errno))
                }
            }
            dropConnection()
            completion(.failure(reason.contains("timed out") ? .timeout : .connectionFailed(reason)))
            return
        }
        let (headers, body) = HTTPMessage.input(of: req)
        if headers["connection"]?.lowercased() == "close" { dropConnectionLater() }
        completion(.success(HTTPClientResponse(status: Int(evhttp_request_get_response_code(req)), headers: headers, body: body)))
    }

    private func dropConnection() {
        if let connection {
            self.connection = nil
            // Freed on a later turn: we may be inside one of its callbacks.
            let box = ConnectionBox(connection)
            loop.execute { evhttp_connection_free(box.pointer) }
        }
    }

    private func dropConnectionLater() { dropConnection() }

    private final class ConnectionBox: @unchecked Sendable {
        let pointer: OpaquePointer
        init(_ pointer: OpaquePointer) { self.pointer = pointer }
    }

    /// Closes the connection; pending requests fail with ``HTTPClientError/closed``. Loop-only.
    public func close() {
        loop.assertInLoop()
        closed = true
        let failed = pending
        pending = [:]
        if let connection {
            self.connection = nil
            evhttp_connection_free(connection)
        }
        for (_, completion) in failed.sorted(by: { $0.key < $1.key }) { completion(.failure(.closed)) }
    }
}
