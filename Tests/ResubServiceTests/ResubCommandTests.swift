import LibeventLoop
import Resub
import ResubService
import Testing

/// Command-line validation: defaults, REDIS_URL, and errors that name the offending flag.
@Suite("resub command line")
struct ResubCommandTests {
    /// The options for `arguments` with `environment`, or the usage message they are rejected with.
    private static func outcome(_ arguments: [String], environment: [String: String] = [:]) -> Result<ServiceOptions, UsageError> {
        do {
            return .success(try ResubCommand.parse(arguments).options(environment: environment))
        } catch {
            return .failure(UsageError(message: ResubCommand.message(for: error)))
        }
    }

    struct UsageError: Error {
        var message: String
    }

    private static func options(_ arguments: [String], environment: [String: String] = [:]) throws -> ServiceOptions {
        try outcome(arguments, environment: environment).get()
    }

    private static func message(_ arguments: [String], environment: [String: String] = [:]) -> String? {
        if case .failure(let error) = outcome(arguments, environment: environment) { return error.message }
        return nil
    }

    // MARK: Defaults

    @Test("with only a channel, every other option has its documented default")
    func defaults() throws {
        let o = try Self.options(["--channel", "orders"])
        #expect(o.endpoints.map(\.address) == [.tcp(host: "127.0.0.1", port: 6379)])
        #expect(o.subscriptions.set(.desired) == SubscriptionSet(channels: ["orders"]))
        #expect(o.format == .json)
        #expect(o.logFormat == .text)
        #expect(o.protocolPreference == .resp3)
        #expect(o.clientName == "resub")
        #expect(o.count == nil)
        #expect(o.connectTimeout == .seconds(5))
        #expect(o.backoff.minimum == .milliseconds(100))
        #expect(o.backoff.maximum == .seconds(10))
        #expect(o.replayBatch == 1000)
    }

    @Test("every option is carried into the service options")
    func everyOption() throws {
        let o = try Self.options([
            "--url", "redis://alice:pw@h:7000", "--channel", "a", "--channel", "b", "--pattern", "n*", "--shard-channel", "{s}1",
            "--format", "raw", "--client-name", "worker", "--count", "5", "--log-format", "json", "--protocol", "resp2",
            "--connect-timeout", "1.5", "--reconnect-min", "0.25", "--reconnect-max", "30", "--replay-batch", "200",
        ])
        #expect(o.endpoints.map(\.address) == [.tcp(host: "h", port: 7000)])
        #expect(o.endpoints.first?.username == "alice")
        #expect(o.subscriptions.set(.desired) == SubscriptionSet(channels: ["a", "b"], patterns: ["n*"], shardChannels: ["{s}1"]))
        #expect(o.format == .raw)
        #expect(o.clientName == "worker")
        #expect(o.count == 5)
        #expect(o.logFormat == .json)
        #expect(o.protocolPreference == .resp2)
        #expect(o.connectTimeout == .milliseconds(1500))
        #expect(o.backoff.minimum == .milliseconds(250))
        #expect(o.backoff.maximum == .seconds(30))
        #expect(o.replayBatch == 200)
        let config = o.subscriberConfiguration
        #expect(config.endpoint.address == .tcp(host: "h", port: 7000))
        #expect(config.initialSubscriptions == o.subscriptions.set(.desired))
    }

    @Test("an empty client name means no CLIENT SETNAME")
    func emptyClientName() throws {
        #expect(try Self.options(["--channel", "a", "--client-name", ""]).clientName == nil)
    }

    @Test("--protocol also accepts 2 and 3")
    func protocolNumbers() throws {
        #expect(try Self.options(["--channel", "a", "--protocol", "2"]).protocolPreference == .resp2)
        #expect(try Self.options(["--channel", "a", "--protocol", "3"]).protocolPreference == .resp3)
    }

    // MARK: URLs

    @Test("REDIS_URL is used when no --url is given")
    func redisURLFromEnvironment() throws {
        let o = try Self.options(["--pattern", "*"], environment: ["REDIS_URL": "rediss://env-host:6390"])
        #expect(o.endpoints.map(\.address) == [.tcp(host: "env-host", port: 6390)])
        #expect(o.endpoints.first?.tls == true)
    }

    @Test("--url wins over REDIS_URL, and may be repeated")
    func urlOverridesEnvironment() throws {
        let o = try Self.options(["--channel", "a", "--url", "redis://one:1", "--url", "unix:///tmp/r.sock"],
                                 environment: ["REDIS_URL": "redis://env-host:6390"])
        #expect(o.endpoints.map(\.address) == [.tcp(host: "one", port: 1), .unix(path: "/tmp/r.sock")])
    }

    @Test("a bad REDIS_URL is reported naming REDIS_URL, where the bad value came from")
    func badRedisURL() throws {
        let message = try #require(Self.message(["--channel", "a"], environment: ["REDIS_URL": "http://h"]))
        #expect(message.contains("REDIS_URL"))
        #expect(message.contains("unsupported URL scheme"))
    }

    // MARK: Errors name the flag

    @Test("each invalid option is rejected with a message naming its flag", arguments: [
        (["--url", "http://h"], "--url"),
        (["--url", "redis://h:99999"], "--url"),
        (["--format", "xml"], "--format"),
        (["--log-format", "yaml"], "--log-format"),
        (["--protocol", "resp4"], "--protocol"),
        (["--count", "0"], "--count"),
        (["--count=-3"], "--count"),
        (["--reconnect-min", "5", "--reconnect-max", "1"], "--reconnect-max"),
        (["--reconnect-min", "0"], "--reconnect-min"),
        (["--reconnect-max", "inf"], "--reconnect-max"),
        (["--connect-timeout", "0"], "--connect-timeout"),
        (["--connect-timeout", "nan"], "--connect-timeout"),
        (["--replay-batch", "0"], "--replay-batch"),
        (["--channel="], "--channel"),
        (["--pattern="], "--pattern"),
        (["--shard-channel="], "--shard-channel"),
    ] as [([String], String)])
    func invalidOption(arguments: [String], flag: String) throws {
        let base = arguments.contains { $0.hasPrefix("--channel") || $0.hasPrefix("--pattern") || $0.hasPrefix("--shard-channel") }
            ? arguments : arguments + ["--channel", "a"]
        let message = try #require(Self.message(base), "\(base) was accepted")
        #expect(message.contains(flag), "message: \(message)")
    }

    @Test("nothing to subscribe is rejected, naming the subscription flags")
    func noSubscription() throws {
        let message = try #require(Self.message(["--url", "redis://h"]))
        #expect(message.contains("--channel"))
        #expect(message.contains("--pattern"))
        #expect(message.contains("--shard-channel"))
    }

    @Test("a URL error never echoes the password")
    func urlErrorHidesPassword() throws {
        let message = try #require(Self.message(["--channel", "a", "--url", "redis://u:hunter2@h:0"]))
        #expect(message.contains("--url"))
        #expect(!message.contains("hunter2"))
    }

    @Test("reconnect-max equal to reconnect-min is accepted")
    func equalBackoffBounds() throws {
        let o = try Self.options(["--channel", "a", "--reconnect-min", "2", "--reconnect-max", "2"])
        #expect(o.backoff.minimum == .seconds(2))
        #expect(o.backoff.maximum == .seconds(2))
    }

    @Test("a duration above 0 that rounds to 0 ms is rejected, not turned into zero", arguments: ["--reconnect-min", "--connect-timeout"])
    func subMillisecondDuration(flag: String) {
        // A zero minimum would make every reconnect delay zero: a tight reconnect loop.
        let message = Self.message(["--channel", "a", flag, "0.0004"])
        #expect(message?.contains(flag) == true, "\(flag) 0.0004 was accepted")
        #expect(Self.message(["--channel", "a", flag, "0.001"]) == nil, "1 ms is the smallest accepted value")
    }
}
