import Resub

/// Where a setting came from; errors name the key the way the user wrote it there.
package enum SettingSource: Sendable, Equatable {
    /// A command-line flag.
    case flag
    /// An environment variable.
    case environment(String)
    /// The `--config` YAML file.
    case file(String)

    /// How to name `key` in a message: `--ping-interval`, `RESUB_PING_INTERVAL`, `ping_interval (in resub.yaml)`.
    package func name(of key: String) -> String {
        switch self {
        case .flag: return "--" + (Settings.flagNames[key] ?? key.replacingUnderscores())
        case .environment(let variable): return variable
        case .file(let path): return "\(key) (in \(path))"
        }
    }
}

/// A configuration error; the message names the option, variable or file key. Exit 64.
package struct SettingsError: Error, CustomStringConvertible, Equatable {
    /// The message.
    package var description: String
    package init(_ description: String) { self.description = description }
}

/// Raw settings before validation: canonical keys (the YAML names, snake_case) to values, with sources.
/// Layering: flags win over environment variables, which win over the file.
package struct Settings: Sendable {
    /// A raw value: one scalar or a list.
    package enum Value: Sendable, Equatable {
        /// One value as text.
        case scalar(String)
        /// A list (repeatable flags, YAML sequences, comma-separated variables), its items in one buffer.
        case list(NameList)
    }

    /// The kind of each key, for parsing and for the file's type check.
    package enum Kind: Sendable {
        case string, list, bool, int, seconds
    }

    /// Every setting the service knows, by its YAML key.
    package static let keys: [String: Kind] = [
        "urls": .list, "cluster": .bool, "slots": .string, "split_group": .string, "member_ttl": .seconds,
        "channels": .list, "patterns": .list, "shard_channels": .list,
        "format": .string, "client_name": .string, "count": .int, "sink_queue_bytes": .int, "log_format": .string, "protocol": .string,
        "connect_timeout": .seconds, "ping_interval": .seconds, "ping_timeout": .seconds,
        "reconnect_min": .seconds, "reconnect_max": .seconds, "replay_batch": .int, "emit_gaps": .bool,
        "admin": .string, "admin_token": .string, "shutdown_timeout": .seconds,
        "webhook": .string, "webhook_secret": .list, "webhook_headers": .list, "webhook_batch": .int,
        "webhook_linger": .int, "webhook_concurrency": .int, "webhook_timeout": .seconds, "webhook_ca": .string,
        "spool_dir": .string, "spool_max_bytes": .int,
        "streams": .list, "group": .string, "consumer": .string, "stream_start": .string, "state_dir": .string,
        "tls_ca": .string, "tls_cert": .string, "tls_key": .string, "password_file": .string, "password": .string,
        // Sentinel
        "sentinels": .list, "sentinel_master": .string, "sentinel_password_file": .string, "sentinel_password": .string,
    ]

    /// The command-line spelling of the keys whose flag is not the key with `-` for `_` (repeatable flags
    /// are singular): errors must name `--url`, the option the user wrote, not `--urls`.
    package static let flagNames: [String: String] = [
        "urls": "url", "channels": "channel", "patterns": "pattern", "shard_channels": "shard-channel",
        "webhook_headers": "webhook-header", "streams": "stream",
    ]

    private(set) var values: [String: (Value, SettingSource)] = [:]

    package init() {}

    /// Sets `key` from `source` unless a higher layer already set it (apply the layers from the top).
    package mutating func setIfAbsent(_ key: String, _ value: Value, from source: SettingSource) {
        precondition(Self.keys[key] != nil, "unknown setting \(key)")
        if values[key] == nil { values[key] = (value, source) }
    }

    /// The raw value and its source.
    package subscript(key: String) -> (Value, SettingSource)? { values[key] }

    // MARK: Layers

    /// Adds the `RESUB_<KEY>` environment variables (and `REDIS_URL` for `urls`), below what is set.
    package mutating func addEnvironment(_ environment: [String: String]) {
        for (key, kind) in Self.keys.sorted(by: { $0.key < $1.key }) {
            let variable = "RESUB_" + key.uppercased()
            guard let text = environment[variable] else { continue }
            if kind == .list {
                setIfAbsent(key, .list(NameList(text.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty })), from: .environment(variable))
            } else {
                setIfAbsent(key, .scalar(text), from: .environment(variable))
            }
        }
        if let url = environment["REDIS_URL"] { setIfAbsent("urls", .list(NameList([url])), from: .environment("REDIS_URL")) }
    }

    /// Adds the YAML file's settings, below what is set. The file is read as a stream of events: a large file's
    /// document tree is never built.
    /// - Throws: ``SettingsError`` naming the file and key: unreadable file, not a mapping, unknown key, wrong type.
    package mutating func addFile(path: String) throws(SettingsError) {
        var parser = SettingsFileParser(path: path)
        try YAMLEventReader.read(path: path) { (event) throws(SettingsError) in
            guard let entry = try parser.input(event), let value = entry.value else { return }
            setIfAbsent(entry.key, value, from: .file(path))
        }
    }

    // MARK: Typed access (errors name the key as written at its source)

    package func string(_ key: String) -> String? {
        guard let (value, _) = values[key] else { return nil }
        switch value {
        case .scalar(let s): return s
        case .list(let l): return l.last
        }
    }

    package func list(_ key: String) -> [String] {
        Array(names(key))
    }

    /// A list setting as it is stored, one buffer of names (a million channels without a string each).
    package func names(_ key: String) -> NameList {
        guard let (value, _) = values[key] else { return [] }
        switch value {
        case .scalar(let s): return NameList([s])
        case .list(let l): return l
        }
    }

    package func bool(_ key: String) throws(SettingsError) -> Bool? {
        guard let text = string(key), let (_, source) = values[key] else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw SettingsError("\(source.name(of: key)) must be true or false, got '\(text)'")
        }
    }

    package func int(_ key: String, minimum: Int = 1) throws(SettingsError) -> Int? {
        guard let text = string(key), let (_, source) = values[key] else { return nil }
        guard let v = Int(text.trimmingSpaces()), v >= minimum else {
            throw SettingsError("\(source.name(of: key)) must be a whole number of at least \(minimum), got '\(text)'")
        }
        return v
    }

    package func seconds(_ key: String) throws(SettingsError) -> Duration? {
        guard let text = string(key), let (_, source) = values[key] else { return nil }
        guard let v = Double(text.trimmingSpaces()), v.isFinite, v >= 0.001, v <= 86_400 else {
            throw SettingsError("\(source.name(of: key)) must be a number of seconds from 0.001 to 86400, got '\(text)'")
        }
        return .milliseconds(Int64((v * 1000).rounded()))
    }

    /// Names `key` as written at its source (for messages).
    package func name(of key: String) -> String {
        (values[key]?.1 ?? .flag).name(of: key)
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String {
        String(map { $0 == "_" ? "-" : $0 })
    }

    fileprivate func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}
