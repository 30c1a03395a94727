#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LibeventLoop
import Resub

/// The validated settings of one `resub` run.
package struct ServiceOptions: Sendable {
    /// The server(s); the first one is used in standalone mode, all are seeds in cluster mode.
    package var endpoints: [RedisEndpoint]
    /// What to subscribe: the configured names, each stored once (the table the link starts from).
    package var subscriptions: SubscriptionTable
    /// stdout format.
    package var format: OutputFormat = .json
    /// CLIENT SETNAME.
    package var clientName: String? = "resub"
    /// Exit 0 after writing this many messages.
    package var count: Int?
    /// stderr log format.
    package var logFormat: LogFormat = .text
    /// RESP3 (with fallback) or RESP2.
    package var protocolPreference: RESPProtocolPreference = .resp3
    /// Connect timeout.
    package var connectTimeout: Duration = .seconds(5)
    /// Reconnect backoff.
    package var backoff = BackoffConfiguration()
    /// Idle time before a health-check PING.
    package var pingInterval: Duration = .seconds(5)
    /// No reply within this after a PING: the link is dead.
    package var pingTimeout: Duration = .seconds(3)
    /// Write a gap record to the sink for every outage.
    package var emitGaps = false
    /// Cluster mode: the endpoints are seeds.
    package var cluster = false
    /// Cluster mode: the shard channel slots this instance serves.
    package var slots = SlotRanges.all
    /// Cluster mode, `--slots auto`: the split group this instance joins.
    package var split: SplitConfiguration?
    /// Names per (P/S)SUBSCRIBE command.
    package var replayBatch = 1000
    /// The most bytes of messages queued for the sink before new ones are dropped (counted).
    package var sinkQueueBytes = 128 << 20
    /// Admin HTTP listen address.
    package var admin: (host: String, port: Int)?
    /// Bearer token for the admin API.
    package var adminToken: String?
    /// How long SIGTERM/SIGINT may drain the sink.
    package var shutdownTimeout: Duration = .seconds(10)
    /// The webhook sink (nil: stdout).
    package var webhook: WebhookConfiguration?
    /// The spool directory (webhook sink).
    package var spoolDirectory: String?
    /// The spool's size bound.
    package var spoolMaxBytes = 1 << 30
    /// Streams to read with XREAD BLOCK (or XREADGROUP with a group).
    package var streams: [String] = []
    /// The consumer group and consumer name.
    package var group: (name: String, consumer: String)?
    /// Where plain XREAD starts when the state file has nothing: `$`, `0` or an ID.
    package var streamStart = "$"
    /// Where plain XREAD keeps its last IDs.
    package var stateDirectory: String?
    /// TLS settings for `rediss://` (CA bundle, client certificate); nil: the system bundle.
    package var tls: TLSContext?
    /// Sentinel mode (`--sentinel` + `--sentinel-master`, or a `redis+sentinel://` URL); `endpoints[0]` then
    /// gives only the data nodes' credentials.
    package var sentinel: SentinelConfiguration?

    package init(endpoints: [RedisEndpoint], subscriptions: SubscriptionTable) {
        self.endpoints = endpoints
        self.subscriptions = subscriptions
    }

    /// Validates layered settings; every error names the key as the user wrote it.
    package init(settings s: Settings) throws(SettingsError) {
        var urlTexts = s.list("urls")
        if urlTexts.isEmpty { urlTexts = ["redis://127.0.0.1:6379"] }
        var endpoints: [RedisEndpoint] = []
        var sentinel: SentinelConfiguration?
        for text in urlTexts {
            do throws(ResubError) {
                if SentinelConfiguration.isSentinelURL(text) {
                    guard urlTexts.count == 1 else { throw ResubError(.invalidConfiguration, "a redis+sentinel:// URL must be the only URL") }
                    let parsed = try SentinelConfiguration.parse(url: text)
                    sentinel = parsed.sentinel
                    endpoints.append(parsed.dataNode)
                } else {
                    endpoints.append(try RedisEndpoint(url: text))
                }
            } catch {
                throw SettingsError("\(s.name(of: "urls")): \(error.message)")
            }
        }
        // A password from a file or the environment (RESUB_PASSWORD) instead of the URL: it never shows in
        // a process listing. It applies to every URL (cluster seeds and the nodes found from them).
        var password = s.string("password").flatMap { $0.isEmpty ? nil : $0 }
        if let text = try Self.secretFile(s, "password_file") { password = text }
        if let password {
            for i in endpoints.indices { endpoints[i].password = password }
        }
        for key in ["channels", "patterns", "shard_channels"] where s.names(key).containsEmpty {
            throw SettingsError("\(s.name(of: key)): a name must not be empty")
        }
        // Straight from the lists into the table: a million configured names are never a Set<String>.
        let subscriptions = SubscriptionTable(configured: { kind in
            switch kind {
            case .channel: s.names("channels")
            case .pattern: s.names("patterns")
            case .shardChannel: s.names("shard_channels")
            }
        })
        let streams = s.list("streams")
        guard subscriptions.count > 0 || !streams.isEmpty else {
            throw SettingsError("nothing to subscribe: give at least one --channel, --pattern, --shard-channel or --stream (or channels/patterns/shard_channels/streams in --config)")
        }
        self.init(endpoints: endpoints, subscriptions: subscriptions)
        self.sentinel = try Self.sentinel(s, fromURL: sentinel)
        if streams.contains("") { throw SettingsError("\(s.name(of: "streams")): a stream key must not be empty") }
        self.streams = Array(Set(streams)).sorted()
        switch (s.string("group"), s.string("consumer")) {
        case (let g?, let c?) where !g.isEmpty && !c.isEmpty: group = (g, c)
        case (nil, nil): break
        default: throw SettingsError("\(s.name(of: s.string("group") == nil ? "consumer" : "group")) needs both --group and --consumer")
        }
        if group != nil && streams.isEmpty { throw SettingsError("\(s.name(of: "group")) needs --stream") }
        if let start = s.string("stream_start") {
            guard start == "$" || StreamID.parts(start) != nil else {
                throw SettingsError("\(s.name(of: "stream_start")) must be $, 0 or a stream ID like 1700000000000-0, got '\(start)'")
            }
            streamStart = start
        }
        stateDirectory = s.string("state_dir").flatMap { $0.isEmpty ? nil : $0 }
        let ca = s.string("tls_ca"), cert = s.string("tls_cert"), key = s.string("tls_key")
        if cert != nil && key == nil { throw SettingsError("\(s.name(of: "tls_cert")) needs --tls-key") }
        if key != nil && cert == nil { throw SettingsError("\(s.name(of: "tls_key")) needs --tls-cert") }
        if ca != nil || cert != nil {
            do {
                tls = try TLSContext(caFile: ca, certificateFile: cert, keyFile: key)
            } catch {
                let option = ca != nil && "\(error)".contains(ca!) ? "tls_ca" : "tls_cert"
                throw SettingsError("\(s.name(of: option)): \(error)")
            }
        }
        if let text = s.string("format") {
            guard let f = OutputFormat(rawValue: text) else { throw SettingsError("\(s.name(of: "format")) must be json or raw, got '\(text)'") }
            format = f
        }
        if let text = s.string("log_format") {
            guard let f = LogFormat(rawValue: text) else { throw SettingsError("\(s.name(of: "log_format")) must be text or json, got '\(text)'") }
            logFormat = f
        }
        if let text = s.string("protocol") {
            switch text {
            case "resp3", "3": protocolPreference = .resp3
            case "resp2", "2": protocolPreference = .resp2
            default: throw SettingsError("\(s.name(of: "protocol")) must be resp3 or resp2, got '\(text)'")
            }
        }
        if let name = s.string("client_name") { clientName = name.isEmpty ? nil : name }
        count = try s.int("count")
        sinkQueueBytes = try s.int("sink_queue_bytes", minimum: 1 << 20) ?? sinkQueueBytes
        connectTimeout = try s.seconds("connect_timeout") ?? connectTimeout
        let minimum = try s.seconds("reconnect_min") ?? backoff.minimum
        let maximum = try s.seconds("reconnect_max") ?? max(backoff.maximum, minimum)
        guard maximum >= minimum else {
            throw SettingsError("\(s.name(of: "reconnect_max")) (\(maximum.short)) must not be below \(s.name(of: "reconnect_min")) (\(minimum.short))")
        }
        backoff = BackoffConfiguration(minimum: minimum, maximum: maximum)
        pingInterval = try s.seconds("ping_interval") ?? pingInterval
        pingTimeout = try s.seconds("ping_timeout") ?? pingTimeout
        emitGaps = try s.bool("emit_gaps") ?? false
        replayBatch = try s.int("replay_batch") ?? replayBatch
        cluster = try s.bool("cluster") ?? false
        if cluster, self.sentinel != nil {
            let option = s["sentinels"] != nil ? "sentinels" : "urls"
            throw SettingsError("\(s.name(of: "cluster")) and \(s.name(of: option)) (Sentinel) cannot be combined: a cluster has no sentinels")
        }
        if cluster && !streams.isEmpty {
            throw SettingsError("\(s.name(of: "streams")) is not supported with --cluster yet (run a separate resub against the stream's node)")
        }
        if let text = s.string("slots") {
            guard cluster else { throw SettingsError("\(s.name(of: "slots")) needs cluster mode (--cluster)") }
            if text == "auto" {
                let ttl = try s.seconds("member_ttl") ?? .seconds(5)
                guard ttl >= .seconds(1) else { throw SettingsError("\(s.name(of: "member_ttl")) must be at least 1 second") }
                split = SplitConfiguration(group: s.string("split_group") ?? "resub", memberTTL: ttl)
            } else {
                do {
                    slots = try SlotRanges(parsing: text)
                } catch {
                    throw SettingsError("\(s.name(of: "slots")): \(error.message)")
                }
            }
        }
        for key in ["split_group", "member_ttl"] where s[key] != nil && split == nil {
            throw SettingsError("\(s.name(of: key)) needs --slots auto")
        }
        adminToken = s.string("admin_token").flatMap { $0.isEmpty ? nil : $0 }
        if let text = s.string("admin") {
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
                throw SettingsError("\(s.name(of: "admin")) must be HOST:PORT, e.g. 127.0.0.1:9121, got '\(text)'")
            }
            var host = String(text[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            if host.isEmpty { host = "127.0.0.1" }
            let loopback = host == "127.0.0.1" || host == "::1" || host == "localhost" || host.hasPrefix("127.")
            if !loopback && adminToken == nil {
                throw SettingsError("\(s.name(of: "admin")) binds \(host), off loopback: set --admin-token too")
            }
            admin = (host, port)
        }
        shutdownTimeout = try s.seconds("shutdown_timeout") ?? shutdownTimeout
        if let url = s.string("webhook") {
            var webhook: WebhookConfiguration
            do {
                webhook = try WebhookConfiguration(url: url)
            } catch {
                throw SettingsError("\(s.name(of: "webhook")) \(error.description)")
            }
            let secrets = s.list("webhook_secret").filter { !$0.isEmpty }
            do {
                webhook.signature = secrets.isEmpty ? nil : try WebhookSignature(secrets: secrets)
            } catch {
                throw SettingsError("\(s.name(of: "webhook_secret")) \(error.description)")
            }
            for header in s.list("webhook_headers") {
                guard let colon = header.firstIndex(of: ":"), colon > header.startIndex else {
                    throw SettingsError("\(s.name(of: "webhook_headers")) must be K:V, got '\(header)'")
                }
                let value = header[header.index(after: colon)...].drop { $0 == " " }
                webhook.headers.append((String(header[..<colon]), String(value)))
            }
            webhook.batchSize = try s.int("webhook_batch") ?? webhook.batchSize
            if let ms = try s.int("webhook_linger", minimum: 0) { webhook.linger = .milliseconds(ms) }
            webhook.lanes = try s.int("webhook_concurrency") ?? webhook.lanes
            webhook.timeout = try s.seconds("webhook_timeout") ?? webhook.timeout
            webhook.caFile = s.string("webhook_ca")
            self.webhook = webhook
        } else {
            for key in ["webhook_secret", "webhook_headers", "webhook_batch", "webhook_linger", "spool_dir"] where s[key] != nil {
                throw SettingsError("\(s.name(of: key)) needs --webhook")
            }
        }
        spoolDirectory = s.string("spool_dir").flatMap { $0.isEmpty ? nil : $0 }
        spoolMaxBytes = try s.int("spool_max_bytes", minimum: 1 << 20) ?? spoolMaxBytes
    }

    /// Reads a secret from the file named by `key` (first line; trailing newlines dropped).
    private static func secretFile(_ s: Settings, _ key: String) throws(SettingsError) -> String? {
        guard let path = s.string(key) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SettingsError("\(s.name(of: key)): cannot read \(path)")
        }
        var text = String(decoding: data, as: UTF8.self)
        while text.last == "\n" || text.last == "\r" { text.removeLast() }
        guard !text.isEmpty else { throw SettingsError("\(s.name(of: key)): \(path) is empty") }
        return text
    }

    /// Sentinel mode from `--sentinel`/`--sentinel-master` or a `redis+sentinel://` URL, with the sentinels'
    /// password (`--sentinel-password-file`, `RESUB_SENTINEL_PASSWORD`).
    private static func sentinel(_ s: Settings, fromURL: SentinelConfiguration?) throws(SettingsError) -> SentinelConfiguration? {
        var sentinel = fromURL
        let listed = s.list("sentinels")
        if !listed.isEmpty {
            guard fromURL == nil else {
                throw SettingsError("\(s.name(of: "sentinels")) and a redis+sentinel:// \(s.name(of: "urls")) both list sentinels: use one")
            }
            guard let name = s.string("sentinel_master"), !name.isEmpty else {
                throw SettingsError("\(s.name(of: "sentinels")) needs --sentinel-master NAME (the name the sentinels monitor)")
            }
            var addresses: [SocketAddress] = []
            for text in listed {
                do {
                    addresses.append(try SentinelConfiguration.parseAddress(text))
                } catch {
                    throw SettingsError("\(s.name(of: "sentinels")): \(error.message)")
                }
            }
            sentinel = SentinelConfiguration(sentinels: addresses, masterName: name)
        } else if s["sentinel_master"] != nil, fromURL == nil {
            throw SettingsError("\(s.name(of: "sentinel_master")) needs --sentinel HOST:PORT (or a redis+sentinel:// URL)")
        }
        var password = s.string("sentinel_password").flatMap { $0.isEmpty ? nil : $0 }
        if let text = try secretFile(s, "sentinel_password_file") { password = text }
        if let password {
            guard sentinel != nil else {
                throw SettingsError("\(s.name(of: s["sentinel_password_file"] != nil ? "sentinel_password_file" : "sentinel_password")) needs Sentinel mode (--sentinel)")
            }
            sentinel?.password = password
        }
        return sentinel
    }

    /// The library configuration: the first endpoint standalone, or every endpoint as cluster seeds.
    package var subscriberConfiguration: SubscriberConfiguration {
        var configuration = SubscriberConfiguration(
            endpoint: endpoints[0], clientName: clientName, protocolPreference: protocolPreference,
            replayBatchSize: replayBatch, connectTimeout: connectTimeout,
            backoff: backoff, pingInterval: pingInterval, pingTimeout: pingTimeout)
        configuration.initialNames = subscriptions
        if cluster {
            configuration.cluster = ClusterConfiguration(seeds: endpoints, slots: slots)
            configuration.cluster?.split = split
        }
        configuration.sentinel = sentinel
        configuration.tls = tls
        return configuration
    }
}
