import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Resub

/// The `resub` command line (see CLI.md for the contract). Every option can also come from the environment
/// (`RESUB_<KEY>`, and `REDIS_URL`) or from the `--config` YAML file (same keys, snake_case); flags win
/// over the environment, which wins over the file. Usage and configuration errors exit 64 naming the option.
package struct ResubCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "resub",
        abstract: "A Redis/Valkey pub/sub subscriber that never silently stops receiving.",
        discussion: """
            Subscribes to channels, patterns and shard channels and writes every message to stdout as a JSON \
            line. Reconnects forever with backoff and replays every subscription. Every option can also be set \
            as RESUB_<OPTION> in the environment (e.g. RESUB_PING_INTERVAL=2) or in the --config YAML file \
            (e.g. ping_interval: 2); flags win over the environment, which wins over the file. Shell \
            completion: resub --generate-completion-script bash|zsh|fish (shipped in deploy/completions).
            """,
        version: ResubVersion.current)

    @Option(help: ArgumentHelp("YAML file with the same settings (keys: urls, cluster, channels, patterns, shard_channels, …). SIGHUP re-reads it.", valueName: "FILE"))
    var config: String?

    @Option(name: .customLong("url"), help: ArgumentHelp("redis://[user:pass@]host:port, rediss://… or unix:///path (repeatable: cluster seeds; REDIS_URL when absent).", valueName: "URL"))
    var urls: [String] = []

    @Flag(inversion: .prefixedNo, help: "Cluster mode: the --url values are seeds; the topology comes from CLUSTER SHARDS (CLUSTER SLOTS before Redis 7).")
    var cluster: Bool?

    @Option(help: ArgumentHelp("Cluster mode: serve only shard channels whose hash slot is in these ranges, e.g. 0-5460,10923-16383; or auto: share the slots with the live members of the split group.", valueName: "RANGES|auto"))
    var slots: String?

    // --slots auto (the automatic split).
    @Option(help: ArgumentHelp("With --slots auto: the split group's name; instances of one group share the slots. (default: resub)", valueName: "NAME"))
    var splitGroup: String?
    @Option(help: ArgumentHelp("With --slots auto: a member's lease in seconds; a dead member's slots move within this plus 1 s. (default: 5)", valueName: "S"))
    var memberTtl: String?

    @Option(name: .customLong("channel"), help: ArgumentHelp("SUBSCRIBE this channel (repeatable).", valueName: "NAME"))
    var channels: [String] = []

    @Option(name: .customLong("pattern"), help: ArgumentHelp("PSUBSCRIBE this glob pattern (repeatable).", valueName: "GLOB"))
    var patterns: [String] = []

    @Option(name: .customLong("shard-channel"), help: ArgumentHelp("SSUBSCRIBE this shard channel, Redis 7+ (repeatable).", valueName: "NAME"))
    var shardChannels: [String] = []

    @Option(help: ArgumentHelp("stdout format: json or raw. (default: json)", valueName: "json|raw"))
    var format: String?

    @Option(help: ArgumentHelp("CLIENT SETNAME on every connection. (default: resub)", valueName: "NAME"))
    var clientName: String?

    @Option(help: ArgumentHelp("Exit 0 after writing N messages.", valueName: "N"))
    var count: String?

    @Option(help: ArgumentHelp("Stdout: bytes of messages held in memory while the reader of stdout is slower than Redis (after flow control paused the socket for 250 ms); past it messages are dropped and counted. (default: 134217728)", valueName: "N"))
    var sinkQueueBytes: String?

    @Option(help: ArgumentHelp("Log format on stderr: text or json. (default: text)", valueName: "text|json"))
    var logFormat: String?

    @Option(name: .customLong("protocol"), help: ArgumentHelp("resp3 (HELLO 3, falls back to RESP2) or resp2. (default: resp3)", valueName: "resp3|resp2"))
    var protocolName: String?

    @Option(help: ArgumentHelp("Seconds a connection attempt may take. (default: 5)", valueName: "S"))
    var connectTimeout: String?

    @Option(help: ArgumentHelp("Seconds a connection may stay idle before a health-check PING. (default: 5)", valueName: "S"))
    var pingInterval: String?

    @Option(help: ArgumentHelp("Seconds without any reply after a PING before the connection is declared dead and replaced. (default: 3)", valueName: "S"))
    var pingTimeout: String?

    @Option(help: ArgumentHelp("Smallest reconnect delay, seconds. (default: 0.1)", valueName: "S"))
    var reconnectMin: String?

    @Option(help: ArgumentHelp("Largest reconnect delay, seconds. (default: 10)", valueName: "S"))
    var reconnectMax: String?

    @Option(help: ArgumentHelp("Names per (P/S)SUBSCRIBE command when replaying. (default: 1000)", valueName: "N"))
    var replayBatch: String?

    @Flag(inversion: .prefixedNo, help: "Write a {\"type\":\"gap\",...} record to the sink for every outage. (default: off)")
    var emitGaps: Bool?

    @Option(help: ArgumentHelp("Admin HTTP address: GET /healthz, /readyz, GET/POST/DELETE /subscriptions. (default: off)", valueName: "HOST:PORT"))
    var admin: String?

    @Option(help: ArgumentHelp("Bearer token required by the admin API (required when --admin is not on loopback).", valueName: "T"))
    var adminToken: String?

    @Option(help: ArgumentHelp("Seconds to drain the sink after SIGTERM/SIGINT before exiting. (default: 10)", valueName: "S"))
    var shutdownTimeout: String?

    @Option(help: ArgumentHelp("Sink: POST batches of messages (JSON arrays) to this http(s) URL instead of stdout.", valueName: "URL"))
    var webhook: String?

    @Option(name: .customLong("webhook-secret"), help: ArgumentHelp("Sign each webhook request the Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature: v1,<base64 HMAC-SHA256>); a whsec_ secret is base64-decoded. Repeatable: every secret signs (key rotation).", valueName: "S"))
    var webhookSecret: [String] = []

    @Option(name: .customLong("webhook-header"), help: ArgumentHelp("Extra webhook request header (repeatable), e.g. 'Authorization: Bearer x'.", valueName: "K:V"))
    var webhookHeaders: [String] = []

    @Option(help: ArgumentHelp("Most messages per webhook request. (default: 500)", valueName: "N"))
    var webhookBatch: String?

    @Option(help: ArgumentHelp("Longest wait, in milliseconds, for a webhook batch to fill. (default: 50)", valueName: "MS"))
    var webhookLinger: String?

    @Option(help: ArgumentHelp("Webhook requests in flight at once; a channel's messages stay in order. (default: 4)", valueName: "N"))
    var webhookConcurrency: String?

    @Option(help: ArgumentHelp("Seconds a webhook request may take. (default: 10)", valueName: "S"))
    var webhookTimeout: String?

    @Option(help: ArgumentHelp("PEM CA bundle to trust for an https webhook instead of the system bundle.", valueName: "FILE"))
    var webhookCa: String?

    @Option(help: ArgumentHelp("Webhook: write every request ahead to this on-disk queue; delivered in order after outages and restarts.", valueName: "DIR"))
    var spoolDir: String?

    @Option(help: ArgumentHelp("Spool size bound in bytes; past it new batches are dropped and counted. (default: 1073741824)", valueName: "N"))
    var spoolMaxBytes: String?

    @Option(name: .customLong("stream"), help: ArgumentHelp("Read this stream with XREAD BLOCK on a dedicated connection (repeatable).", valueName: "KEY"))
    var streams: [String] = []

    @Option(help: ArgumentHelp("Read the streams as this consumer group (XREADGROUP; created if missing); entries are XACKed once the sink accepted them.", valueName: "G"))
    var group: String?

    @Option(help: ArgumentHelp("This instance's consumer name in --group.", valueName: "C"))
    var consumer: String?

    @Option(help: ArgumentHelp("Where plain XREAD starts when --state-dir has nothing: $ (new entries), 0 (all) or an ID. (default: $)", valueName: "ID|$|0"))
    var streamStart: String?

    @Option(help: ArgumentHelp("Directory where plain XREAD keeps the last IDs written, so a restart resumes there.", valueName: "DIR"))
    var stateDir: String?

    @Option(help: ArgumentHelp("PEM CA bundle trusted for rediss:// (default: the system's).", valueName: "FILE"))
    var tlsCa: String?

    @Option(help: ArgumentHelp("Client certificate (PEM) for rediss:// servers that require one; with --tls-key.", valueName: "FILE"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("The client certificate's private key (PEM).", valueName: "FILE"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("Read the Redis password from this file (first line) instead of the URL; RESUB_PASSWORD works too.", valueName: "FILE"))
    var passwordFile: String?

    @Option(name: .customLong("sentinel"), help: ArgumentHelp("Sentinel mode: a sentinel to ask for the master (repeatable, tried in turn); with --sentinel-master. Same as --url redis+sentinel://h1:26379,h2:26379/NAME.", valueName: "HOST:PORT"))
    var sentinels: [String] = []

    @Option(help: ArgumentHelp("Sentinel mode: the master's name as the sentinels monitor it.", valueName: "NAME"))
    var sentinelMaster: String?

    @Option(help: ArgumentHelp("Password of sentinels with requirepass (first line of the file); RESUB_SENTINEL_PASSWORD works too.", valueName: "FILE"))
    var sentinelPasswordFile: String?

    package init() {}

    /// The flags that were given, as the top settings layer.
    private var flagSettings: Settings {
        var s = Settings()
        func set(_ key: String, _ value: String?) { if let value { s.setIfAbsent(key, .scalar(value), from: .flag) } }
        func set(_ key: String, _ value: [String]) { if !value.isEmpty { s.setIfAbsent(key, .list(NameList(value)), from: .flag) } }
        func set(_ key: String, _ value: Bool?) { if let value { s.setIfAbsent(key, .scalar(value ? "true" : "false"), from: .flag) } }
        set("urls", urls)
        set("cluster", cluster)
        set("slots", slots)
        set("split_group", splitGroup)
        set("member_ttl", memberTtl)
        set("channels", channels)
        set("patterns", patterns)
        set("shard_channels", shardChannels)
        set("format", format)
        set("client_name", clientName)
        set("count", count)
        set("sink_queue_bytes", sinkQueueBytes)
        set("log_format", logFormat)
        set("protocol", protocolName)
        set("connect_timeout", connectTimeout)
        set("ping_interval", pingInterval)
        set("ping_timeout", pingTimeout)
        set("reconnect_min", reconnectMin)
        set("reconnect_max", reconnectMax)
        set("replay_batch", replayBatch)
        set("emit_gaps", emitGaps)
        set("admin", admin)
        set("admin_token", adminToken)
        set("shutdown_timeout", shutdownTimeout)
        set("webhook", webhook)
        set("webhook_secret", webhookSecret)
        set("webhook_headers", webhookHeaders)
        set("webhook_batch", webhookBatch)
        set("webhook_linger", webhookLinger)
        set("webhook_concurrency", webhookConcurrency)
        set("webhook_timeout", webhookTimeout)
        set("webhook_ca", webhookCa)
        set("spool_dir", spoolDir)
        set("spool_max_bytes", spoolMaxBytes)
        set("streams", streams)
        set("group", group)
        set("consumer", consumer)
        set("stream_start", streamStart)
        set("state_dir", stateDir)
        set("tls_ca", tlsCa)
        set("tls_cert", tlsCert)
        set("tls_key", tlsKey)
        set("password_file", passwordFile)
        set("sentinels", sentinels)
        set("sentinel_master", sentinelMaster)
        set("sentinel_password_file", sentinelPasswordFile)
        return s
    }

    /// Resolves flags, environment and file (read now) into validated options, then gives the memory the raw
    /// settings used (a large file's lists) back to the system.
    package func options(environment: [String: String]) throws(SettingsError) -> ServiceOptions {
        let options = try layeredOptions(environment: environment)
        FreeMemory.giveBack()
        return options
    }

    private func layeredOptions(environment: [String: String]) throws(SettingsError) -> ServiceOptions {
        var settings = flagSettings
        settings.addEnvironment(environment)
        if let path = config ?? environment["RESUB_CONFIG"] {
            try settings.addFile(path: path)
        }
        return try ServiceOptions(settings: settings)
    }

    /// The options at start-up: a configuration error becomes a usage error (exit 64, the message naming the
    /// option). The file is read here, once, not also in `validate()`: a large file costs its parse only once.
    package func startupOptions(environment: [String: String]) throws(ValidationError) -> ServiceOptions {
        do {
            return try options(environment: environment)
        } catch {
            throw ValidationError(error.description)
        }
    }

    package func run() async throws {
        try await runService()
    }

    /// Runs the service with these options (the entry point of the executable).
    package func runService() async throws {
        let code = try await makeRunner(environment: ProcessInfo.processInfo.environment).run()
        if code != 0 { throw ExitCode(code) }
    }

    /// The runner for these options. Synchronous on purpose: the parsed options (with every configured name)
    /// end here, so the runner holds the only copy and hands the names to the subscriber once.
    private func makeRunner(environment: [String: String]) throws(ValidationError) -> ServiceRunner {
        let reload: @Sendable () throws(SettingsError) -> ServiceOptions = { [self] () throws(SettingsError) in
            try self.options(environment: environment)
        }
        return ServiceRunner(
            options: try startupOptions(environment: environment),
            reload: config ?? environment["RESUB_CONFIG"] == nil ? nil : reload)
    }
}
