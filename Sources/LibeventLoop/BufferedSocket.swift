internal import CLibevent
#if canImport(Glibc)
import Glibc
#endif

/// Where to connect.
public enum SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// A host name or numeric IPv4/IPv6 address and a port; names are resolved on the loop with evdns.
    case tcp(host: String, port: Int)
    /// A Unix domain socket path.
    case unix(path: String)

    /// `host:port`, `[v6]:port` or `unix:/path`.
    public var description: String {
        switch self {
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): return "unix:\(path)"
        }
    }
}

/// Socket settings applied on connect.
public struct SocketOptions: Sendable, Hashable {
    /// Give up connecting (resolution included) after this long.
    public var connectTimeout: Duration
    /// TCP keepalive: idle time before the first probe (nil turns keepalive off).
    public var keepAliveIdle: Duration?
    /// TCP keepalive: time between probes.
    public var keepAliveInterval: Duration
    /// TCP keepalive: unanswered probes before the kernel drops the connection.
    public var keepAliveCount: Int
    /// The most bytes one read callback takes from the socket.
    public var maxSingleRead: Int
    /// The most bytes one write callback hands the socket. libevent's default is 16 KiB, which starved the
    /// server during a replay: each loop turn wrote 16 KiB of SUBSCRIBE commands (~800 names) while it read
    /// and counted up to `maxSingleRead` of confirmations, so the server sat idle between turns.
    public var maxSingleWrite: Int
    /// TLS (certificate and host-name verification as the context says); nil for plain TCP.
    public var tls: TLSContext?
    /// The host name to verify and send as SNI (defaults to the address's host).
    public var serverName: String?
    /// TLS is required (a `rediss://` URL): without a context the connection fails rather than go plain.
    public var requiresTLS = false

    /// Applies a URL's TLS choice: with `tls`, the given context or else the system CA bundle, and TLS
    /// required (never plain TCP); without, plain TCP.
    public mutating func useTLS(_ tls: Bool, context: TLSContext?) {
        self.tls = tls ? (context ?? TLSContext.systemDefault) : nil
        requiresTLS = tls
    }

    /// Defaults: 5 s connect timeout, keepalive after 15 s idle then every 5 s, 3 probes; 256 KiB reads and writes.
    public init(
        connectTimeout: Duration = .seconds(5),
        keepAliveIdle: Duration? = .seconds(15),
        keepAliveInterval: Duration = .seconds(5),
        keepAliveCount: Int = 3,
        maxSingleRead: Int = 256 << 10,
        maxSingleWrite: Int = 256 << 10
    ) {
        self.connectTimeout = connectTimeout
        self.keepAliveIdle = keepAliveIdle
        self.keepAliveInterval = keepAliveInterval
        self.keepAliveCount = keepAliveCount
        self.maxSingleRead = maxSingleRead
        self.maxSingleWrite = maxSingleWrite
    }

    /// Options compare by their values; the TLS context by identity.
    public static func == (a: SocketOptions, b: SocketOptions) -> Bool {
        a.connectTimeout == b.connectTimeout && a.keepAliveIdle == b.keepAliveIdle && a.keepAliveInterval == b.keepAliveInterval
            && a.keepAliveCount == b.keepAliveCount && a.maxSingleRead == b.maxSingleRead
            && a.maxSingleWrite == b.maxSingleWrite && a.tls === b.tls && a.serverName == b.serverName
    }

    /// Hashes the values ``==`` compares.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(connectTimeout)
        hasher.combine(maxSingleRead)
        hasher.combine(maxSingleWrite)
        hasher.combine(tls.map(ObjectIdentifier.init))
        hasher.combine(serverName)
    }
}

/// Why a socket closed (or failed to connect).
public enum SocketError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The connection was not established within the connect timeout.
    case connectTimeout
    /// The peer closed the connection.
    case endOfFile
    /// The host name could not be resolved.
    case resolve(String)
    /// A system error (`errno`), such as connection refused or reset.
    case system(errno: Int32, message: String)
    /// The address is unusable (e.g. a Unix socket path that is too long).
    case invalidAddress(String)
    /// The TLS handshake failed (certificate not trusted, wrong host name, protocol error).
    case tls(String)

    /// A short explanation.
    public var description: String {
        switch self {
        case .connectTimeout: return "connect timeout"
        case .endOfFile: return "connection closed by peer"
        case .resolve(let m): return "could not resolve host: \(m)"
        case .system(let e, let m): return "\(m) (errno \(e))"
        case .invalidAddress(let m): return "invalid address: \(m)"
        case .tls(let m): return "TLS: \(m)"
        }
    }
}

/// A TCP or Unix-domain connection over a libevent bufferevent. Loop-only.
///
/// Memory: while open, the socket holds one retain on itself (the context pointer libevent calls back with);
/// it is given up once, after ``close()`` or a peer/error close, on a later turn of the loop, so nothing is
/// freed while its own callback is running.
public final class BufferedSocket: Transport, @unchecked Sendable {
    private let loop: EventLoop
    private var bev: OpaquePointer?
    private var connectTimer: TimerEvent?
    private var selfRetain: Unmanaged<BufferedSocket>?
    private var delivering = false
    /// True while ``start()`` runs: a failure found then is reported on a later loop turn, never from inside
    /// `connect()` (whose caller has not even stored the socket yet).
    private var starting = false
    /// Our own read event on the fd: libevent 2.1's bufferevent reads at most 4 KiB per callback
    /// (EVBUFFER_MAX_READ), which costs a syscall and a loop turn per 4 KiB; we read `maxSingleRead` at once
    /// into `readBuffer` instead. Writes and connecting stay with the bufferevent.
    private var readEvent: OpaquePointer?
    private var readBuffer: UnsafeMutableRawPointer?
    /// Receives the socket's events; held weakly.
    public weak var delegate: (any TransportDelegate)?
    /// The address connected to.
    public let address: SocketAddress
    /// The options applied.
    public let options: SocketOptions
    /// Whether the connection has been established and not closed.
    public private(set) var isConnected = false
    /// Whether the socket is closed (by either side).
    public var isClosed: Bool { bev == nil }

    init(loop: EventLoop, address: SocketAddress, options: SocketOptions, delegate: any TransportDelegate) {
        self.loop = loop
        self.address = address
        self.options = options
        self.delegate = delegate
    }

    /// Starts connecting; failures are reported through the delegate on a later loop turn.
    fileprivate func start() {
        starting = true
        defer { starting = false }
        let created: OpaquePointer?
        if options.requiresTLS && options.tls == nil {
            failSoon(.tls("TLS is required but no TLS context could be made"))
            return
        }
        if let tls = options.tls {
            var host = options.serverName ?? ""
            if host.isEmpty, case .tcp(let h, _) = address { host = h }
            guard let ssl = tls.makeSSL(host: host) else {
                failSoon(.tls("cannot create a TLS session: \(TLSContext.lastError())"))
                return
            }
            created = bufferevent_openssl_socket_new(loop.base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue))
        } else {
            created = bufferevent_socket_new(loop.base, -1, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue))
        }
        guard let bev = created else {
            failSoon(.system(errno: errno, message: "bufferevent_socket_new failed"))
            return
        }
        self.bev = bev
        selfRetain = Unmanaged.passRetained(self)
        let ctx = selfRetain!.toOpaque()
        bufferevent_setcb(bev, { _, ctx in
            Unmanaged<BufferedSocket>.fromOpaque(ctx!).takeUnretainedValue().readable()
        }, nil, { _, what, ctx in
            Unmanaged<BufferedSocket>.fromOpaque(ctx!).takeUnretainedValue().event(what)
        }, ctx)
        _ = bufferevent_set_max_single_read(bev, options.maxSingleRead)
        _ = bufferevent_set_max_single_write(bev, options.maxSingleWrite)
        connectTimer = loop.scheduleTimer(after: options.connectTimeout) { [weak self] in
            guard let self, !self.isConnected, self.bev != nil else { return }
            self.closeWithError(.connectTimeout)
        }
        let rc: Int32
        switch address {
        case .tcp(let host, let port):
            rc = bufferevent_socket_connect_hostname(bev, loop.dns, AF_UNSPEC, host, Int32(port))
        case .unix(let path):
            var sun = sockaddr_un()
            sun.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: sun.sun_path) else {
                closeWithError(.invalidAddress("unix socket path longer than \(MemoryLayout.size(ofValue: sun.sun_path) - 1) bytes"))
                return
            }
            withUnsafeMutableBytes(of: &sun.sun_path) { dst in
                dst.copyBytes(from: bytes)
                dst[bytes.count] = 0
            }
            rc = withUnsafePointer(to: &sun) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bufferevent_socket_connect(bev, $0, Int32(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
        if rc != 0, self.bev != nil {
            // libevent may already have called the event callback (which closed us) for an immediate failure.
            let e = errno
            closeWithError(.system(errno: e, message: String(cString: strerror(e))))
        }
    }

    private func failSoon(_ error: SocketError) {
        loop.execute { [self] in delegate?.transport(self, didCloseWith: error) }
    }

    private func readable() {
        guard let bev else { return }
        let input = bufferevent_get_input(bev)
        let total = evbuffer_get_length(input)
        guard total > 0 else { return }
        delivering = true
        withUnsafeTemporaryAllocation(of: iovec.self, capacity: 16) { vecs in
            var remaining = total
            while remaining > 0, self.bev != nil {
                let n = Int(evbuffer_peek(input, remaining, nil, vecs.baseAddress, 16))
                var taken = 0
                for i in 0..<min(n, 16) {
                    let v = vecs[i]
                    let len = min(v.iov_len, remaining - taken)
                    delegate?.transport(self, didRead: UnsafeRawBufferPointer(start: v.iov_base, count: len))
                    taken += len
                    if self.bev == nil { break }
                }
                if self.bev == nil { break }
                evbuffer_drain(input, taken)
                remaining -= taken
                if taken == 0 { break }
            }
        }
        delivering = false
        if self.bev != nil { delegate?.transportDidFinishReading(self) }
    }

    /// One read of up to `maxSingleRead` bytes, delivered as one chunk.
    private func readFromSocket() {
        guard let bev, let readBuffer else { return }
        let fd = bufferevent_getfd(bev)
        let n = read(fd, readBuffer, options.maxSingleRead)
        if n > 0 {
            delegate?.transport(self, didRead: UnsafeRawBufferPointer(start: readBuffer, count: n))
            if self.bev != nil { delegate?.transportDidFinishReading(self) }
        } else if n == 0 {
            closeWithError(.endOfFile)
        } else {
            let e = errno
            if e == EAGAIN || e == EWOULDBLOCK || e == EINTR { return }
            closeWithError(.system(errno: e, message: String(cString: strerror(e))))
        }
    }

    private func event(_ what: Int16) {
        let what = Int32(what)
        if what & Int32(BEV_EVENT_CONNECTED) != 0 {
            connected()
            return
        }
        if what & Int32(BEV_EVENT_EOF) != 0 {
            // Deliver what arrived with the FIN before reporting it.
            readable()
            closeWithError(.endOfFile)
        } else if what & Int32(BEV_EVENT_ERROR) != 0 {
            if let bev, options.tls != nil {
                // The verification result says why a handshake was refused; libevent 2.1 also queues
                // SSL_get_error's own small codes (5 = a system-call error, 6 = closed), not OpenSSL errors.
                if let ssl = bufferevent_openssl_get_ssl(bev) {
                    let verify = SSL_get_verify_result(ssl)
                    if verify != X509_V_OK {
                        let reason = String(cString: X509_verify_cert_error_string(verify))
                        closeWithError(.tls(verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH
                            ? "host name mismatch: the server's certificate is not for this host (\(reason))"
                            : "certificate not trusted: \(reason)"))
                        return
                    }
                }
                let sslError = bufferevent_get_openssl_error(bev)
                if sslError > 8 {
                    var buffer = [CChar](repeating: 0, count: 256)
                    ERR_error_string_n(sslError, &buffer, buffer.count)
                    closeWithError(.tls(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)))
                    return
                } else if sslError != 0 || !isConnected {
                    let e = errno
                    closeWithError(.tls(isConnected
                        ? "connection failed: \(e != 0 ? String(cString: strerror(e)) : "closed by the peer")"
                        : "connection closed during the TLS handshake\(e != 0 ? " (\(String(cString: strerror(e))))" : "")"))
                    return
                }
            }
            if let bev, case .tcp(let host, _) = address, !isConnected {
                let dnsError = bufferevent_socket_get_dns_error(bev)
                if dnsError != 0 {
                    closeWithError(.resolve("\(host): \(String(cString: evutil_gai_strerror(dnsError)))"))
                    return
                }
            }
            let e = errno
            let code = e != 0 ? e : errno
            closeWithError(.system(errno: code, message: String(cString: strerror(code))))
        } else if what & Int32(BEV_EVENT_TIMEOUT) != 0 {
            closeWithError(.connectTimeout)
        }
    }

    private func connected() {
        guard let bev else { return }
        isConnected = true
        connectTimer?.cancel()
        connectTimer = nil
        let fd = bufferevent_getfd(bev)
        if case .tcp = address {
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if let idle = options.keepAliveIdle {
                setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, socklen_t(MemoryLayout<Int32>.size))
                var idleSeconds = Int32(max(1, idle.components.seconds))
                var interval = Int32(max(1, options.keepAliveInterval.components.seconds))
                var count = Int32(max(1, options.keepAliveCount))
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idleSeconds, socklen_t(MemoryLayout<Int32>.size))
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, &interval, socklen_t(MemoryLayout<Int32>.size))
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, &count, socklen_t(MemoryLayout<Int32>.size))
            }
        }
        if options.tls != nil {
            // TLS: the bufferevent reads (and decrypts); our own read event would see ciphertext.
            bufferevent_enable(bev, Int16(isReadingPaused ? EV_WRITE : EV_READ | EV_WRITE))
            delegate?.transportDidConnect(self)
            return
        }
        bufferevent_disable(bev, Int16(EV_READ))
        bufferevent_enable(bev, Int16(EV_WRITE))
        readBuffer = .allocate(byteCount: options.maxSingleRead, alignment: 16)
        readEvent = event_new(loop.base, fd, Int16(EV_READ | EV_PERSIST), { _, _, ctx in
            Unmanaged<BufferedSocket>.fromOpaque(ctx!).takeUnretainedValue().readFromSocket()
        }, selfRetain!.toOpaque())
        if !isReadingPaused { event_add(readEvent, nil) }
        delegate?.transportDidConnect(self)
    }

    /// Queues bytes for sending; returns false when the socket is closed. Loop-only.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let bev else { return false }
        return bufferevent_write(bev, bytes.baseAddress, bytes.count) == 0
    }

    /// Queues bytes for sending; returns false when the socket is closed. Loop-only.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Stops (true) or resumes (false) reading from the socket: while paused, TCP flow control slows the
    /// peer down. Loop-only.
    public var isReadingPaused = false {
        didSet {
            guard oldValue != isReadingPaused, isConnected else { return }
            if let readEvent {
                if isReadingPaused { event_del(readEvent) } else { event_add(readEvent, nil) }
            } else if let bev {
                if isReadingPaused { bufferevent_disable(bev, Int16(EV_READ)) } else { bufferevent_enable(bev, Int16(EV_READ)) }
            }
        }
    }

    /// Bytes queued but not yet handed to the kernel.
    public var pendingOutputBytes: Int {
        guard let bev else { return 0 }
        return evbuffer_get_length(bufferevent_get_output(bev))
    }

    /// The file descriptor, while open (for diagnostics and tests).
    public var fileDescriptor: Int32? {
        guard let bev else { return nil }
        let fd = bufferevent_getfd(bev)
        return fd < 0 ? nil : fd
    }

    /// The most bytes one write callback hands the socket, as libevent has it (for tests); nil when closed.
    package var maxSingleWriteInEffect: Int? {
        guard let bev else { return nil }
        return bufferevent_get_max_single_write(bev)
    }

    /// Closes the socket at once, dropping unsent output. The delegate is not called. Harmless when already
    /// closed. Safe inside the socket's own callbacks: the bufferevent is freed now (libevent defers its own
    /// teardown), and this object's self-retain is given up on a later loop turn. Loop-only.
    public func close() {
        loop.assertInLoop()
        teardown()
    }

    private func closeWithError(_ error: SocketError) {
        guard bev != nil else { return }
        teardown()
        if starting {
            loop.execute { [self] in delegate?.transport(self, didCloseWith: error) }
        } else {
            delegate?.transport(self, didCloseWith: error)
        }
    }

    private func teardown() {
        connectTimer?.cancel()
        connectTimer = nil
        isConnected = false
        if let readEvent {
            event_free(readEvent)
            self.readEvent = nil
        }
        if let readBuffer {
            readBuffer.deallocate()
            self.readBuffer = nil
        }
        if let bev {
            bufferevent_setcb(bev, nil, nil, nil, nil)
            bufferevent_disable(bev, Int16(EV_READ | EV_WRITE))
            bufferevent_free(bev)
            self.bev = nil
        }
        if let retain = selfRetain {
            selfRetain = nil
            loop.execute { _ = retain.takeRetainedValue() }
        }
    }
}

extension EventLoop {
    /// Opens a connection; the delegate hears of success or failure on the loop. Loop-only.
    public func connect(
        to address: SocketAddress,
        options: SocketOptions = .init(),
        delegate: any TransportDelegate
    ) -> BufferedSocket {
        assertInLoop()
        let socket = BufferedSocket(loop: self, address: address, options: options, delegate: delegate)
        socket.start()
        return socket
    }
}
