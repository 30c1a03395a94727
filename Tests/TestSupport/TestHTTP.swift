#if canImport(Glibc)
import Glibc
#endif

/// A blocking HTTP/1.1 client for tests (one request per connection, `Connection: close`, 127.0.0.1 only).
public enum TestHTTP {
    /// A response.
    public struct Response: Sendable {
        /// The status code.
        public var status: Int
        /// Headers, names lowercased.
        public var headers: [String: String]
        /// The body.
        public var body: [UInt8]
        /// The body as text (lossy).
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Sends one request to 127.0.0.1:`port` and reads the whole response (at most `timeout` seconds per read).
    public static func request(
        port: Int, method: String = "GET", path: String, headers: [(String, String)] = [], body: [UInt8] = [], timeout: Int = 5
    ) throws -> Response {
        let fd = try LoopbackSocket.connect(port: port)
        defer { close(fd) }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        LoopbackSocket.setWriteTimeout(fd, seconds: timeout)
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        let bytes = Array((text + "\r\n").utf8) + body
        guard LoopbackSocket.writeAll(fd, bytes, count: bytes.count) else { throw FixtureError("\(method) \(path): write failed") }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        for _ in 0..<4096 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 { break }
            guard n > 0 else { throw FixtureError("\(method) \(path): read failed or timed out (errno \(errno))") }
            response += chunk[0..<n]
        }
        guard let end = response.firstRange(of: [13, 10, 13, 10]) else {
            throw FixtureError("\(method) \(path): no complete response head: \(String(decoding: response.prefix(200), as: UTF8.self))")
        }
        let lines = String(decoding: response[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw FixtureError("bad status line: \(lines[0])") }
        var headerMap: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headerMap[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var responseBody = Array(response[end.upperBound...])
        if let length = headerMap["content-length"].flatMap(Int.init), responseBody.count > length {
            responseBody = Array(responseBody.prefix(length))
        }
        return Response(status: status, headers: headerMap, body: responseBody)
    }
}
