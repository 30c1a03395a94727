import RESP
#if canImport(Glibc)
import Glibc
#endif

/// A blocking RESP2 client over a plain socket, for test set-up and publishing (not the code under test).
public final class SyncRedisClient: @unchecked Sendable {
    private let fd: Int32
    private var parser = RESPParser(configuration: .init(maxBulkLength: 512 << 20))

    /// Connects to 127.0.0.1:`port` with send/receive timeouts of `timeout` seconds.
    public init(host: String = "127.0.0.1", port: Int, timeout: Double = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FixtureError("socket: \(errno)") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr(host)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            // No close(fd) here: a class whose initializer throws once every property is set is deinitialized,
            // and deinit closes it. Closing twice closed whatever socket another thread had opened meanwhile.
            throw FixtureError("connect to \(host):\(port): \(String(cString: strerror(e)))")
        }
    }

    deinit { close(fd) }

    /// Sends one command and returns its reply (error replies are returned, not thrown).
    @discardableResult
    public func command(_ args: [String]) throws -> RESPValue {
        try pipeline([args])[0]
    }

    /// Sends one command.
    @discardableResult
    public func command(_ args: String...) throws -> RESPValue {
        try command(args)
    }

    /// Sends many commands in one write and reads all their replies.
    public func pipeline(_ commands: [[String]]) throws -> [RESPValue] {
        var out: [UInt8] = []
        for c in commands { RESPEncoder.appendCommand(c, to: &out) }
        try send(out)
        var replies: [RESPValue] = []
        replies.reserveCapacity(commands.count)
        while replies.count < commands.count { replies.append(try readValue()) }
        return replies
    }

    /// Sends raw bytes.
    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            guard n > 0 else { throw FixtureError("write failed: \(errno)") }
            offset += n
        }
    }

    /// Reads one value (blocking, bounded by the receive timeout).
    public func readValue() throws -> RESPValue {
        while true {
            if let v = try parser.next() { return v }
            var buf = [UInt8](repeating: 0, count: 64 << 10)
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw FixtureError(n == 0 ? "server closed the connection" : "read failed or timed out: \(errno)") }
            parser.feed(buf[0..<n])
        }
    }

    /// PUBLISH and return the receiver count.
    @discardableResult
    public func publish(_ channel: String, _ payload: String) throws -> Int {
        Int(try command(["PUBLISH", channel, payload]).int ?? -1)
    }

    /// PUBLISH with a binary payload.
    @discardableResult
    public func publish(_ channel: String, bytes payload: [UInt8]) throws -> Int {
        var out: [UInt8] = []
        RESPEncoder.appendCommand([Array("PUBLISH".utf8), Array(channel.utf8), payload], to: &out)
        try send(out)
        return Int(try readValue().int ?? -1)
    }
}

/// A reply rendered for easy assertions.
public struct RESPValueText: CustomStringConvertible, Equatable {
    /// The reply.
    public let value: RESPValue
    /// Wraps a reply.
    public init(_ value: RESPValue) { self.value = value }
    /// The reply's text form.
    public var description: String { value.description }
    /// The reply as a string, when it is one.
    public var string: String? { value.string }
    /// The reply as an integer, when it is one.
    public var int: Int64? { value.int }
}
