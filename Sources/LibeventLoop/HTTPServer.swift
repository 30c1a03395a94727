internal import CLibevent
#if canImport(Glibc)
import Glibc
#endif

/// One HTTP request received by an ``HTTPServer``.
public struct HTTPRequest: Sendable {
    /// `GET`, `POST`, `DELETE`, …
    public var method: String
    /// The path, without the query string.
    public var path: String
    /// The query string (after `?`), if any.
    public var query: String?
    /// Request headers, names lowercased.
    public var headers: [String: String]
    /// The request body.
    public var body: [UInt8]
}

/// The answer to an ``HTTPRequest``.
public struct HTTPResponse: Sendable {
    /// Status code.
    public var status: Int
    /// Headers to add.
    public var headers: [(String, String)]
    /// Body bytes.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response with a text body.
    public init(status: Int, contentType: String, text: String) {
        self.init(status: status, headers: [("Content-Type", contentType)], body: Array(text.utf8))
    }
}

/// An HTTP/1.1 server on the loop (libevent's evhttp). Handlers run on the loop thread and answer through
/// `respond`, at once or later on the loop (e.g. once a server confirmed a change). Loop-only.
public final class HTTPServer: @unchecked Sendable {
    private let loop: EventLoop
    private var http: OpaquePointer?
    private let handler: (HTTPRequest, @escaping (HTTPResponse) -> Void) -> Void
    /// Requests handed to the handler and not answered yet: answered with 503 on ``close()`` (evhttp frees
    /// them with the server).
    private var unanswered: [Int: OpaquePointer] = [:]
    private var nextRequest = 0
    /// The port bound (useful when asked for port 0).
    public private(set) var port: Int = 0
    /// The host bound.
    public let host: String

    /// Binds `host:port` and starts serving. Loop-only.
    /// - Throws: ``SocketError`` when the address cannot be bound.
    public init(loop: EventLoop, host: String, port: Int, maxBodySize: Int = 1 << 20, handler: @escaping (HTTPRequest, _ respond: @escaping (HTTPResponse) -> Void) -> Void) throws(SocketError) {
        loop.assertInLoop()
        self.loop = loop
        self.host = host
        self.handler = handler
        guard let http = evhttp_new(loop.base) else { throw .system(errno: errno, message: "evhttp_new failed") }
        self.http = http
        evhttp_set_max_body_size(http, Int(maxBodySize))
        evhttp_set_timeout(http, 30)
        evhttp_set_allowed_methods(http, UInt16(EVHTTP_REQ_GET.rawValue | EVHTTP_REQ_POST.rawValue | EVHTTP_REQ_DELETE.rawValue | EVHTTP_REQ_PUT.rawValue | EVHTTP_REQ_HEAD.rawValue))
        guard let bound = evhttp_bind_socket_with_handle(http, host, UInt16(port)) else {
            let e = errno
            evhttp_free(http)
            self.http = nil
            throw .system(errno: e, message: "cannot listen on \(host):\(port): \(String(cString: strerror(e)))")
        }
        let fd = evhttp_bound_socket_get_fd(bound)
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        if storage.ss_family == sa_family_t(AF_INET) {
            self.port = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) } }
        } else {
            self.port = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) } }
        }
        evhttp_set_gencb(http, { req, ctx in
            guard let req, let ctx else { return }
            Unmanaged<HTTPServer>.fromOpaque(ctx).takeUnretainedValue().handle(req)
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    private func handle(_ req: OpaquePointer) {
        let method: String
        switch evhttp_request_get_command(req) {
        case EVHTTP_REQ_GET: method = "GET"
        case EVHTTP_REQ_POST: method = "POST"
        case EVHTTP_REQ_DELETE: method = "DELETE"
        case EVHTTP_REQ_PUT: method = "PUT"
        case EVHTTP_REQ_HEAD: method = "HEAD"
        default: method = "OTHER"
        }
        let uri = evhttp_request_get_uri(req).map { String(cString: $0) } ?? "/"
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let (headers, body) = HTTPMessage.input(of: req)
        let request = HTTPRequest(
            method: method, path: String(parts.first ?? "/"), query: parts.count > 1 ? String(parts[1]) : nil,
            headers: headers, body: body)
        nextRequest += 1
        let id = nextRequest
        unanswered[id] = req
        handler(request) { [weak self] response in
            guard let self else { return }
            self.loop.assertInLoop()
            guard let req = self.unanswered.removeValue(forKey: id) else { return }  // answered, or closed
            Self.send(response, to: req)
        }
    }

    private static func send(_ response: HTTPResponse, to req: OpaquePointer) {
        if let output = evhttp_request_get_output_headers(req) {
            for (name, value) in response.headers { evhttp_add_header(output, name, value) }
        }
        let buffer = evbuffer_new()
        response.body.withUnsafeBytes { _ = evbuffer_add(buffer, $0.baseAddress, $0.count) }
        evhttp_send_reply(req, Int32(response.status), reason(response.status), buffer)
        evbuffer_free(buffer)
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 422: return "Unprocessable Content"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }

    /// Stops listening and closes every connection. Harmless when repeated. Loop-only.
    public func close() {
        loop.assertInLoop()
        for req in unanswered.values {
            Self.send(HTTPResponse(status: 503, contentType: "application/json", text: "{\"error\":\"shutting down\"}\n"), to: req)
        }
        unanswered = [:]
        if let http {
            evhttp_free(http)
            self.http = nil
        }
    }

    deinit {
        if let http { evhttp_free(http) }
    }
}
