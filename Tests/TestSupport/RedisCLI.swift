import Foundation
import RESP

/// A blocking client for TLS-only test servers (``SyncRedisClient`` speaks plain TCP only): one
/// `redis-cli --tls -2 --json` run per command, its JSON output turned back into a ``RESPValue`` so fixtures
/// can read replies the same way over TLS as over plain TCP.
public struct RedisCLI: Sendable {
    /// The server's TLS port on 127.0.0.1.
    public let port: Int
    /// The PKI whose CA verifies the server.
    public let certificates: TestCertificates
    /// The server's `requirepass` (nil: no AUTH).
    public let password: String?

    /// A client for `127.0.0.1:port`.
    public init(port: Int, certificates: TestCertificates, password: String? = nil) {
        self.port = port
        self.certificates = certificates
        self.password = password
    }

    /// Runs one command; error replies are returned as ``RESPValue/error(_:)``, not thrown.
    /// - Throws: ``FixtureError`` when redis-cli cannot connect or its output is not a reply.
    public func command(_ args: [String], timeout: Duration = .seconds(5)) throws -> RESPValue {
        var arguments = certificates.redisCLIArguments() + ["-h", "127.0.0.1", "-p", String(port), "-2", "--json"]
        if let password { arguments += ["-a", password, "--no-auth-warning"] }
        let result = try runTool("/usr/bin/redis-cli", arguments + args, timeout: timeout)
        guard result.status == 0 else {
            throw FixtureError("redis-cli \(args.first ?? "") on port \(port) failed (\(result.status)): \(result.stdout) \(result.stderr)")
        }
        return try Self.value(json: result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// A reply from redis-cli's `--json` text (RESP2): strings, integers, null, arrays, and `error:"…"`.
    static func value(json text: String) throws -> RESPValue {
        if text.hasPrefix("error:") {
            let message = (try? JSONSerialization.jsonObject(with: Data(text.dropFirst(6).utf8), options: .fragmentsAllowed)) as? String
            return .error(Array((message ?? String(text.dropFirst(6))).utf8))
        }
        // A bare redis-cli connection error is printed, not thrown by its exit status.
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed) else {
            throw FixtureError("redis-cli printed no JSON reply: \(text.prefix(500))")
        }
        return try value(object)
    }

    private static func value(_ object: Any) throws -> RESPValue {
        switch object {
        case let string as String: return .bulkString(Array(string.utf8))
        case let array as [Any]: return .array(try array.map(value))
        case is NSNull: return .null
        case let int as Int: return .integer(Int64(int))
        case let number as NSNumber: return .integer(number.int64Value)
        default: throw FixtureError("redis-cli JSON holds \(type(of: object)), not a RESP2 reply")
        }
    }
}
