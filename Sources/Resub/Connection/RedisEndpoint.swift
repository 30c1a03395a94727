import LibeventLoop

/// Where a Redis server is and how to log in, parsed from a `redis://`, `rediss://` or `unix://` URL.
public struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// The socket address.
    public var address: SocketAddress
    /// The ACL user name (nil: the default user).
    public var username: String?
    /// The password (nil: no AUTH).
    public var password: String?
    /// Whether the URL asked for TLS (`rediss://`).
    public var tls: Bool

    /// Creates an endpoint.
    public init(address: SocketAddress, username: String? = nil, password: String? = nil, tls: Bool = false) {
        self.address = address
        self.username = username
        self.password = password
        self.tls = tls
    }

    /// Parses `redis://[user:pass@]host[:port][/db]`, `rediss://…`, `redis://[::1]:6379`, `unix:///path`
    /// (also `unix://user:pass@/path`). User and password are percent-decoded.
    /// - Throws: ``ResubError`` with code ``ResubError/Code/invalidConfiguration`` naming what is wrong (never
    ///   the password).
    public init(url: String) throws(ResubError) {
        let schemeEnd = url.firstRange(of: "://")
        guard let schemeEnd else {
            throw ResubError(.invalidConfiguration, "URL must start with redis://, rediss:// or unix://")
        }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        var rest = Substring(url[schemeEnd.upperBound...])
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                let user = String(userinfo[..<colon])
                username = user.isEmpty ? nil : try Self.percentDecode(user, what: "user name")
                password = try Self.percentDecode(String(userinfo[userinfo.index(after: colon)...]), what: "password")
            } else if !userinfo.isEmpty {
                // redis://secret@host: a lone userinfo is a password (what redis-cli and most clients do).
                password = try Self.percentDecode(String(userinfo), what: "password")
            }
        }
        switch scheme {
        case "unix":
            let path = String(rest.split(separator: "?", maxSplits: 1).first ?? "")
            guard path.hasPrefix("/") else {
                throw ResubError(.invalidConfiguration, "unix:// URL needs an absolute path, e.g. unix:///run/redis.sock")
            }
            self.init(address: .unix(path: path), username: username, password: password)
        case "redis", "rediss":
            var hostPort = rest
            if let slash = hostPort.firstIndex(where: { $0 == "/" || $0 == "?" }) {
                let tail = hostPort[slash...]
                hostPort = hostPort[..<slash]
                if tail.hasPrefix("/") {
                    let db = tail.dropFirst().prefix { $0 != "?" }
                    guard db.isEmpty || Int(db) != nil else {
                        throw ResubError(.invalidConfiguration, "URL path must be a database number, got /\(db)")
                    }
                }
            }
            var host: Substring
            var portText: Substring?
            if hostPort.hasPrefix("[") {
                guard let close = hostPort.firstIndex(of: "]") else {
                    throw ResubError(.invalidConfiguration, "URL has an unclosed [ in the IPv6 address")
                }
                host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
                let after = hostPort[hostPort.index(after: close)...]
                if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                    throw ResubError(.invalidConfiguration, "unexpected text after the IPv6 address")
                }
            } else if let colon = hostPort.lastIndex(of: ":") {
                host = hostPort[..<colon]
                portText = hostPort[hostPort.index(after: colon)...]
            } else {
                host = hostPort
            }
            if host.isEmpty { host = "127.0.0.1" }
            var port = 6379
            if let portText {
                guard let p = Int(portText), (1...65535).contains(p) else {
                    throw ResubError(.invalidConfiguration, "URL port must be 1-65535, got '\(portText)'")
                }
                port = p
            }
            self.init(address: .tcp(host: String(host), port: port), username: username, password: password, tls: scheme == "rediss")
        default:
            throw ResubError(.invalidConfiguration, "unsupported URL scheme '\(scheme)' (use redis://, rediss:// or unix://)")
        }
    }

    private static func percentDecode(_ text: String, what: String) throws(ResubError) -> String {
        guard text.contains("%") else { return text }
        var bytes: [UInt8] = []
        var it = Array(text.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%") {
                guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else {
                    throw ResubError(.invalidConfiguration, "bad percent-encoding in the URL's \(what)")
                }
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The URL with the password replaced by `***`: safe for logs.
    public var redacted: String {
        let scheme: String
        switch address {
        case .unix(let path):
            scheme = "unix://"
            return scheme + credentials + path
        case .tcp(let host, let port):
            scheme = tls ? "rediss://" : "redis://"
            let h = host.contains(":") ? "[\(host)]" : host
            return scheme + credentials + "\(h):\(port)"
        }
    }

    private var credentials: String {
        switch (username, password) {
        case (nil, nil): return ""
        case (let u?, nil): return "\(u)@"
        case (let u, _?): return "\(u ?? ""):***@"
        }
    }

    /// Same as ``redacted``: an endpoint never prints its password.
    public var description: String { redacted }
}
