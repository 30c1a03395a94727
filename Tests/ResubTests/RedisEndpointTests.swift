import LibeventLoop
import Resub
import Testing

/// Parsing redis://, rediss:// and unix:// URLs, and never printing the password.
@Suite("Redis endpoint URLs")
struct RedisEndpointTests {
    /// The error a URL is rejected with, or nil when it parses.
    private static func rejection(_ url: String) -> ResubError? {
        do {
            _ = try RedisEndpoint(url: url)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Host and port

    @Test("redis://host:port gives that host and port, no credentials and no TLS")
    func hostAndPort() throws {
        let e = try RedisEndpoint(url: "redis://cache.example.com:6380")
        #expect(e.address == .tcp(host: "cache.example.com", port: 6380))
        #expect(e.username == nil)
        #expect(e.password == nil)
        #expect(!e.tls)
    }

    @Test("the port defaults to 6379")
    func defaultPort() throws {
        #expect(try RedisEndpoint(url: "redis://cache.example.com").address == .tcp(host: "cache.example.com", port: 6379))
        #expect(try RedisEndpoint(url: "redis://10.0.0.5/").address == .tcp(host: "10.0.0.5", port: 6379))
    }

    @Test("the host defaults to 127.0.0.1", arguments: ["redis://", "redis://:6390", "redis://:p@"])
    func defaultHost(url: String) throws {
        let e = try RedisEndpoint(url: url)
        #expect(e.address == .tcp(host: "127.0.0.1", port: url.hasSuffix("6390") ? 6390 : 6379))
    }

    @Test("the scheme is case-insensitive")
    func schemeCase() throws {
        #expect(try RedisEndpoint(url: "REDIS://h:1").address == .tcp(host: "h", port: 1))
        #expect(try RedisEndpoint(url: "Rediss://h").tls)
    }

    @Test("a bracketed IPv6 address is the host, with or without a port")
    func ipv6() throws {
        #expect(try RedisEndpoint(url: "redis://[::1]:6380").address == .tcp(host: "::1", port: 6380))
        #expect(try RedisEndpoint(url: "redis://[2001:db8::7]").address == .tcp(host: "2001:db8::7", port: 6379))
        #expect(try RedisEndpoint(url: "redis://u:p@[::1]/2").address == .tcp(host: "::1", port: 6379))
    }

    @Test("rediss:// asks for TLS")
    func rediss() throws {
        let e = try RedisEndpoint(url: "rediss://secure.example.com:6390")
        #expect(e.tls)
        #expect(e.address == .tcp(host: "secure.example.com", port: 6390))
    }

    @Test("a database number path and a query string are accepted", arguments: [
        "redis://h:6379/0", "redis://h:6379/15", "redis://h/", "redis://h:6379/2?timeout=1", "redis://h?x=y",
    ])
    func databasePath(url: String) throws {
        let e = try RedisEndpoint(url: url)
        #expect(e.address == .tcp(host: "h", port: 6379))
    }

    // MARK: Credentials

    @Test("user:pass@ gives the user and the password")
    func userAndPassword() throws {
        let e = try RedisEndpoint(url: "redis://alice:s3cret@h:7000")
        #expect(e.username == "alice")
        #expect(e.password == "s3cret")
        #expect(e.address == .tcp(host: "h", port: 7000))
    }

    @Test("a lone userinfo, or one with an empty user, is the password", arguments: ["redis://s3cret@h", "redis://:s3cret@h"])
    func passwordOnly(url: String) throws {
        let e = try RedisEndpoint(url: url)
        #expect(e.username == nil)
        #expect(e.password == "s3cret")
        #expect(e.address == .tcp(host: "h", port: 6379))
    }

    @Test("user and password are percent-decoded")
    func percentDecoding() throws {
        let e = try RedisEndpoint(url: "redis://al%40ice:p%3Aw%2Fd%25%20%C3%A9@h")
        #expect(e.username == "al@ice")
        #expect(e.password == "p:w/d% é")
    }

    @Test("an @ inside the password splits at the last @")
    func atInPassword() throws {
        let e = try RedisEndpoint(url: "redis://u:p@ss@h:1")
        #expect(e.username == "u")
        #expect(e.password == "p@ss")
        #expect(e.address == .tcp(host: "h", port: 1))
    }

    @Test("bad percent-encoding is rejected without echoing the password", arguments: ["redis://u:hunter2%zz@h", "redis://u:hunter2%4@h"])
    func badPercentEncoding(url: String) throws {
        let error = try #require(Self.rejection(url))
        #expect(error.code == .invalidConfiguration)
        #expect(error.message.contains("password"))
        #expect(!error.message.contains("hunter2"))
    }

    // MARK: Unix sockets

    @Test("unix:///path is a Unix socket")
    func unixSocket() throws {
        let e = try RedisEndpoint(url: "unix:///run/redis/redis.sock")
        #expect(e.address == .unix(path: "/run/redis/redis.sock"))
        #expect(e.password == nil)
        #expect(!e.tls)
    }

    @Test("unix://user:pass@/path carries credentials")
    func unixWithCredentials() throws {
        let e = try RedisEndpoint(url: "unix://alice:s3cret@/tmp/r.sock?db=1")
        #expect(e.address == .unix(path: "/tmp/r.sock"))
        #expect(e.username == "alice")
        #expect(e.password == "s3cret")
    }

    @Test("a unix:// URL needs an absolute path")
    func unixRelative() throws {
        #expect(Self.rejection("unix://run/redis.sock")?.code == .invalidConfiguration)
        #expect(Self.rejection("unix://")?.code == .invalidConfiguration)
    }

    // MARK: Rejections

    @Test("unsupported or missing schemes are rejected", arguments: ["http://h:6379", "h:6379", "localhost", "redis:/h", "valkey://h"])
    func badScheme(url: String) throws {
        let error = try #require(Self.rejection(url))
        #expect(error.code == .invalidConfiguration)
    }

    @Test("a port that is not 1-65535 is rejected, naming the port", arguments: ["0", "65536", "-1", "abc", "", "99999999999999999999"])
    func badPort(port: String) throws {
        let error = try #require(Self.rejection("redis://u:hunter2@h:\(port)"))
        #expect(error.code == .invalidConfiguration)
        #expect(error.message.contains("port"))
        #expect(!error.message.contains("hunter2"))
    }

    @Test("a non-numeric database path is rejected", arguments: ["redis://h/abc", "redis://h:6379/1x", "redis://h/-", "redis://h/0/1"])
    func badDatabase(url: String) throws {
        let error = try #require(Self.rejection(url))
        #expect(error.code == .invalidConfiguration)
    }

    @Test("a malformed IPv6 address is rejected", arguments: ["redis://[::1", "redis://[::1]x", "redis://[::1]6379"])
    func badIPv6(url: String) throws {
        #expect(Self.rejection(url)?.code == .invalidConfiguration)
    }

    // MARK: Redaction

    @Test("redacted replaces the password with *** and keeps everything else", arguments: [
        ("redis://alice:s3cret@h:7000", "redis://alice:***@h:7000"),
        ("redis://s3cret@h", "redis://:***@h:6379"),
        ("redis://h", "redis://h:6379"),
        ("rediss://alice:s3cret@[::1]:6380", "rediss://alice:***@[::1]:6380"),
        ("unix://:s3cret@/tmp/r.sock", "unix://:***@/tmp/r.sock"),
        ("unix:///tmp/r.sock", "unix:///tmp/r.sock"),
    ])
    func redacted(url: String, expected: String) throws {
        let e = try RedisEndpoint(url: url)
        #expect(e.redacted == expected)
        #expect(e.description == expected)
    }

    @Test("no printed form of an endpoint contains the password")
    func neverPrintsPassword() throws {
        let e = try RedisEndpoint(url: "redis://alice:Tr0ub4dor%263@h:7000")
        #expect(e.password == "Tr0ub4dor&3")
        for text in [e.redacted, e.description, "\(e)", String(describing: e)] {
            #expect(!text.contains("Tr0ub4dor"))
            #expect(text.contains("alice"))
        }
    }

    @Test("a user without a password is shown, with no ***")
    func userWithoutPassword() {
        let e = RedisEndpoint(address: .tcp(host: "h", port: 1), username: "bob")
        #expect(e.redacted == "redis://bob@h:1")
    }
}
