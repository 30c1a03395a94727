import ArgumentParser
import Resub
#if canImport(Glibc)
import Glibc
#endif

/// The `resub` command line (see CLI.md for the contract). Usage errors exit 64 naming the option.
package struct ResubCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "resub",
        abstract: "A Redis/Valkey pub/sub subscriber that never silently stops receiving.",
        discussion: """
            Subscribes to channels, patterns and shard channels and writes every message to stdout as a JSON \
            line. Reconnects forever with backoff and replays every subscription.
            """)

    @Option(name: .customLong("url"), help: ArgumentHelp("redis://[user:pass@]host:port, rediss://… or unix:///path (repeatable; REDIS_URL when absent).", valueName: "URL"))
    var urls: [String] = []

    @Flag(help: "Cluster mode: the --url values are seeds; the topology comes from CLUSTER SHARDS (CLUSTER SLOTS before Redis 7).")
    var cluster = false

    @Option(help: ArgumentHelp("Cluster mode: serve only shard channels whose hash slot is in these ranges, e.g. 0-5460,10923-16383.", valueName: "RANGES"))
    var slots: String?

    @Option(name: .customLong("channel"), help: ArgumentHelp("SUBSCRIBE this channel (repeatable).", valueName: "NAME"))
    var channels: [String] = []

    @Option(name: .customLong("pattern"), help: ArgumentHelp("PSUBSCRIBE this glob pattern (repeatable).", valueName: "GLOB"))
    var patterns: [String] = []

    @Option(name: .customLong("shard-channel"), help: ArgumentHelp("SSUBSCRIBE this shard channel, Redis 7+ (repeatable).", valueName: "NAME"))
    var shardChannels: [String] = []

    @Option(help: ArgumentHelp("stdout format: json or raw.", valueName: "json|raw"))
    var format: String = "json"

    @Option(help: ArgumentHelp("CLIENT SETNAME on every connection.", valueName: "NAME"))
    var clientName: String = "resub"

    @Option(help: ArgumentHelp("Exit 0 after writing N messages.", valueName: "N"))
    var count: Int?

    @Option(help: ArgumentHelp("Log format on stderr: text or json.", valueName: "text|json"))
    var logFormat: String = "text"

    @Option(name: .customLong("protocol"), help: ArgumentHelp("resp3 (HELLO 3, falls back to RESP2) or resp2.", valueName: "resp3|resp2"))
    var protocolName: String = "resp3"

    @Option(help: ArgumentHelp("Seconds a connection attempt may take.", valueName: "S"))
    var connectTimeout: Double = 5

    @Option(help: ArgumentHelp("Smallest reconnect delay, seconds.", valueName: "S"))
    var reconnectMin: Double = 0.1

    @Option(help: ArgumentHelp("Largest reconnect delay, seconds.", valueName: "S"))
    var reconnectMax: Double = 10

    @Option(help: ArgumentHelp("Seconds a connection may stay idle before a health-check PING.", valueName: "S"))
    var pingInterval: Double = 5

    @Option(help: ArgumentHelp("Seconds without any reply after a PING before the connection is declared dead and replaced.", valueName: "S"))
    var pingTimeout: Double = 3

    @Flag(help: "Write a {\"type\":\"gap\",...} record to the sink for every outage.")
    var emitGaps = false

    @Option(help: ArgumentHelp("Names per (P/S)SUBSCRIBE command when replaying.", valueName: "N"))
    var replayBatch: Int = 1000

    package init() {}

    /// Checks every option; the error names the option (ArgumentParser exits 64 for a ValidationError).
    package func options(environment: [String: String]) throws(ValidationError) -> ServiceOptions {
        var urlTexts = urls
        if urlTexts.isEmpty { urlTexts = [environment["REDIS_URL"] ?? "redis://127.0.0.1:6379"] }
        var endpoints: [RedisEndpoint] = []
        for text in urlTexts {
            do {
                endpoints.append(try RedisEndpoint(url: text))
            } catch {
                throw ValidationError("--url: \(error.message)")
            }
        }
        let subscriptions = SubscriptionSet(channels: Set(channels), patterns: Set(patterns), shardChannels: Set(shardChannels))
        guard !subscriptions.isEmpty else {
            throw ValidationError("nothing to subscribe: give at least one --channel, --pattern or --shard-channel")
        }
        for (flag, names) in [("--channel", channels), ("--pattern", patterns), ("--shard-channel", shardChannels)] where names.contains("") {
            throw ValidationError("\(flag): the name must not be empty")
        }
        var options = ServiceOptions(endpoints: endpoints, subscriptions: subscriptions)
        guard let format = OutputFormat(rawValue: format) else { throw ValidationError("--format must be json or raw, got '\(format)'") }
        options.format = format
        guard let logFormat = LogFormat(rawValue: logFormat) else { throw ValidationError("--log-format must be text or json, got '\(logFormat)'") }
        options.logFormat = logFormat
        switch protocolName {
        case "resp3", "3": options.protocolPreference = .resp3
        case "resp2", "2": options.protocolPreference = .resp2
        default: throw ValidationError("--protocol must be resp3 or resp2, got '\(protocolName)'")
        }
        options.clientName = clientName.isEmpty ? nil : clientName
        if let count {
            guard count > 0 else { throw ValidationError("--count must be a positive number, got \(count)") }
            options.count = count
        }
        options.connectTimeout = try Self.duration(connectTimeout, "--connect-timeout")
        let minimum = try Self.duration(reconnectMin, "--reconnect-min")
        let maximum = try Self.duration(reconnectMax, "--reconnect-max")
        guard maximum >= minimum else { throw ValidationError("--reconnect-max (\(reconnectMax)) must not be below --reconnect-min (\(reconnectMin))") }
        options.backoff = BackoffConfiguration(minimum: minimum, maximum: maximum)
        options.cluster = cluster
        if let slots {
            guard cluster else { throw ValidationError("--slots needs --cluster") }
            do {
                options.slots = try SlotRanges(parsing: slots)
            } catch {
                throw ValidationError("--slots: \(error.message)")
            }
        }
        options.pingInterval = try Self.duration(pingInterval, "--ping-interval")
        options.pingTimeout = try Self.duration(pingTimeout, "--ping-timeout")
        options.emitGaps = emitGaps
        guard replayBatch > 0 else { throw ValidationError("--replay-batch must be a positive number, got \(replayBatch)") }
        options.replayBatch = replayBatch
        return options
    }

    private static func duration(_ seconds: Double, _ flag: String) throws(ValidationError) -> Duration {
        guard seconds.isFinite, seconds >= 0.001, seconds <= 86_400 else {
            throw ValidationError("\(flag) must be a number of seconds from 0.001 to 86400, got \(seconds)")
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    package func validate() throws {
        _ = try options(environment: Self.environment())
    }

    package func run() async throws {
        try await runService()
    }

    /// Runs the service with these options (the entry point of the executable).
    package func runService() async throws {
        let options = try options(environment: Self.environment())
        let code = await ServiceRunner(options: options).run()
        if code != 0 { throw ExitCode(code) }
    }

    static func environment() -> [String: String] {
        var result: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") {
                result[String(text[..<eq])] = String(text[text.index(after: eq)...])
            }
            p += 1
        }
        return result
    }
}
