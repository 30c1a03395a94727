internal import CLibevent

/// What the HTTP server and client read off an evhttp request: its input headers and body.
enum HTTPMessage {
    /// The input headers (names lowercased) and the body of `req`, which is drained.
    static func input(of req: OpaquePointer) -> (headers: [String: String], body: [UInt8]) {
        var headers: [String: String] = [:]
        if let input = evhttp_request_get_input_headers(req) {
            var header = input.pointee.tqh_first
            while let h = header {
                headers[String(cString: h.pointee.key).lowercased()] = String(cString: h.pointee.value)
                header = h.pointee.next.tqe_next
            }
        }
        var body: [UInt8] = []
        if let buffer = evhttp_request_get_input_buffer(req) {
            let length = evbuffer_get_length(buffer)
            if length > 0 {
                body = [UInt8](repeating: 0, count: length)
                _ = body.withUnsafeMutableBytes { evbuffer_remove(buffer, $0.baseAddress, length) }
            }
        }
        return (headers, body)
    }
}
