import LibeventLoop

/// Sentinel mode: where the sentinels are, which master to follow, and how to log in to the sentinels.
/// The data nodes' credentials stay those of the subscriber's (or reader's) endpoint.
public struct SentinelConfiguration: Sendable, Hashable {
    /// The sentinels, asked in this order (a sentinel that answers moves to the front).
    public var sentinels: [SocketAddress]
    /// The master's name as the sentinels know it (`sentinel monitor NAME …`).
    public var masterName: String
    /// The ACL user for the sentinels (nil: the default user).
    public var username: String?
    /// The sentinels' `requirepass` (nil: no AUTH).
    public var password: String?
    /// TLS to the sentinels and to the data nodes (`rediss+sentinel://`).
    public var tls: Bool
    /// How long one sentinel may take to answer before the next one is asked.
    public var queryTimeout: Duration

    /// Creates a configuration.
    public init(
        sentinels: [SocketAddress], masterName: String, username: String? = nil, password: String? = nil,
        tls: Bool = false, queryTimeout: Duration = .seconds(1)
    ) {
        self.sentinels = sentinels
        self.masterName = masterName
        self.username = username
        self.password = password
        self.tls = tls
        self.queryTimeout = queryTimeout
    }

    /// Whether `url` is a `redis+sentinel://` or `rediss+sentinel://` URL.
    public static func isSentinelURL(_ url: String) -> Bool {
        let lower = url.lowercased()
        return lower.hasPrefix("redis+sentinel://") || lower.hasPrefix("rediss+sentinel://")
    }

    /// Parses `redis+sentinel://[user:pass@]h1:26379,h2:26379/NAME` (or `rediss+sentinel://`). The user and
    /// password are the data nodes' and come back as `dataNode` (an endpoint whose address is a placeholder
    /// until the master is resolved); a sentinel without a port is on 26379.
    /// - Throws: ``ResubError`` with code ``ResubError/Code/invalidConfiguration`` (never quoting the password).
    public static func parse(url: String) throws(ResubError) -> (sentinel: SentinelConfiguration, dataNode: RedisEndpoint) {
        guard isSentinelURL(url), let schemeEnd = url.firstRange(of: "://") else {
            throw ResubError(.invalidConfiguration, "a Sentinel URL starts with redis+sentinel:// or rediss+sentinel://")
        }
        let tls = url.lowercased().hasPrefix("rediss+")
        var rest = Substring(url[schemeEnd.upperBound...])
        var userinfo = ""
        if let at = rest.lastIndex(of: "@") {
            userinfo = String(rest[..<at]) + "@"
            rest = rest[rest.index(after: at)...]
        }
        guard let slash = rest.firstIndex(of: "/") else {
            throw ResubError(.invalidConfiguration, "a Sentinel URL ends with the master's name: redis+sentinel://h1:26379,h2:26379/NAME")
        }
        let name = String(rest[rest.index(after: slash)...].prefix { $0 != "?" && $0 != "/" })
        guard !name.isEmpty else {
            throw ResubError(.invalidConfiguration, "the Sentinel URL has no master name after the hosts")
        }
        var sentinels: [SocketAddress] = []
        for host in rest[..<slash].split(separator: ",") {
            sentinels.append(try parseAddress(String(host)))
        }
        guard !sentinels.isEmpty else { throw ResubError(.invalidConfiguration, "the Sentinel URL lists no sentinel") }
        // The credentials parse like any redis:// URL's (percent-decoding, lone password).
        var dataNode = try RedisEndpoint(url: (tls ? "rediss://" : "redis://") + userinfo + "127.0.0.1:6379")
        dataNode.tls = tls
        return (SentinelConfiguration(sentinels: sentinels, masterName: name, tls: tls), dataNode)
    }

    /// Parses one `HOST:PORT` (`[v6]:port`; the port defaults to 26379).
    public static func parseAddress(_ text: String) throws(ResubError) -> SocketAddress {
        let endpoint: RedisEndpoint
        do {
            endpoint = try RedisEndpoint(url: "redis://" + text)
        } catch {
            throw ResubError(.invalidConfiguration, "sentinel '\(text)': \(error.message)")
        }
        guard case .tcp(let host, let port) = endpoint.address, !text.contains("/"), !text.contains("@") else {
            throw ResubError(.invalidConfiguration, "sentinel '\(text)' must be HOST:PORT")
        }
        let hasPort = text.hasPrefix("[") ? text.contains("]:") : text.contains(":")
        return .tcp(host: host, port: hasPort ? port : 26379)
    }

    /// The endpoint of one sentinel, with the sentinels' credentials.
    package func endpoint(_ address: SocketAddress) -> RedisEndpoint {
        RedisEndpoint(address: address, username: username, password: password, tls: tls)
    }
}
