import Foundation
import Resub
import ResubService
import Testing

/// Layered configuration: flags over environment over the YAML file; errors name the key where it was set.
@Suite("Layered settings")
struct SettingsTests {
    private static func options(flags: [String] = [], environment: [String: String] = [:], yaml: String? = nil) throws -> ServiceOptions {
        var arguments = flags
        var path: String?
        if let yaml {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("resub-settings-\(UUID().uuidString).yaml").path
            try yaml.write(toFile: path!, atomically: true, encoding: .utf8)
            arguments += ["--config", path!]
        }
        defer { if let path { try? FileManager.default.removeItem(atPath: path) } }
        let command = try ResubCommand.parseAsRoot(arguments) as! ResubCommand
        return try command.options(environment: environment)
    }

    private static func error(flags: [String] = [], environment: [String: String] = [:], yaml: String? = nil) -> String? {
        do {
            _ = try options(flags: flags, environment: environment, yaml: yaml)
            return nil
        } catch let error as SettingsError {
            return error.description
        } catch {
            return "\(error)"
        }
    }

    @Test("the stdout sink's queue bound: 128 MiB by default; set by flag, environment or file; under 1 MiB refused, naming the option")
    func sinkQueueBytes() throws {
        let base = ["--url", "redis://127.0.0.1:7000", "--channel", "a"]
        #expect(try Self.options(flags: base).sinkQueueBytes == 128 << 20)
        #expect(try Self.options(flags: base + ["--sink-queue-bytes", "8388608"]).sinkQueueBytes == 8 << 20)
        #expect(try Self.options(flags: base, environment: ["RESUB_SINK_QUEUE_BYTES": "4194304"]).sinkQueueBytes == 4 << 20)
        #expect(try Self.options(flags: base, yaml: "sink_queue_bytes: 2097152\n").sinkQueueBytes == 2 << 20)
        let error = try #require(Self.error(flags: base + ["--sink-queue-bytes", "1000"]))
        #expect(error.contains("--sink-queue-bytes"), "\(error)")
    }

    @Test("the file alone configures every kind of setting")
    func fileOnly() throws {
        let o = try Self.options(yaml: """
            urls: [redis://127.0.0.1:7000]
            channels: [a, b]
            patterns: ["news.*"]
            shard_channels: ["user:{1}"]
            ping_interval: 2.5
            ping_timeout: 1
            reconnect_min: 0.2
            reconnect_max: 4
            replay_batch: 50
            emit_gaps: true
            format: raw
            client_name: svc
            """)
        #expect(o.endpoints.map(\.address) == [.tcp(host: "127.0.0.1", port: 7000)])
        #expect(o.subscriptions.set(.desired) == SubscriptionSet(channels: ["a", "b"], patterns: ["news.*"], shardChannels: ["user:{1}"]))
        #expect(o.pingInterval == .milliseconds(2500))
        #expect(o.pingTimeout == .seconds(1))
        #expect(o.backoff.minimum == .milliseconds(200))
        #expect(o.backoff.maximum == .seconds(4))
        #expect(o.replayBatch == 50)
        #expect(o.emitGaps)
        #expect(o.format == .raw)
        #expect(o.clientName == "svc")
    }

    @Test("flags win over the environment, which wins over the file")
    func precedence() throws {
        let yaml = "channels: [file]\nping_interval: 9\nping_timeout: 8\nreconnect_max: 7\n"
        let o = try Self.options(
            flags: ["--ping-interval", "1"],
            environment: ["RESUB_PING_INTERVAL": "2", "RESUB_PING_TIMEOUT": "3"],
            yaml: yaml)
        #expect(o.pingInterval == .seconds(1), "flag over env and file")
        #expect(o.pingTimeout == .seconds(3), "env over file")
        #expect(o.backoff.maximum == .seconds(7), "file when nothing else sets it")
        #expect(o.subscriptions.set(.desired).channels == ["file"])
        let flagged = try Self.options(flags: ["--channel", "flag"], environment: ["RESUB_CHANNELS": "env1,env2"], yaml: yaml)
        #expect(flagged.subscriptions.set(.desired).channels == ["flag"])
        let env = try Self.options(environment: ["RESUB_CHANNELS": "env1, env2"], yaml: yaml)
        #expect(env.subscriptions.set(.desired).channels == ["env1", "env2"])
    }

    @Test("an invalid file value names the key and the file")
    func fileErrorsNameTheKey() throws {
        let bad = try #require(Self.error(yaml: "channels: [a]\nping_interval: soon\n"))
        #expect(bad.contains("ping_interval"))
        #expect(bad.contains(".yaml"))
        let unknown = try #require(Self.error(yaml: "chanels: [a]\n"))
        #expect(unknown.contains("unknown key 'chanels'"))
        let shape = try #require(Self.error(yaml: "channels: {a: 1}\n"))
        #expect(shape.contains("channels"))
        let notMapping = try #require(Self.error(yaml: "- a\n- b\n"))
        #expect(notMapping.contains("mapping"))
        let flag = try #require(Self.error(yaml: "channels: [a]\nemit_gaps: maybe\n"))
        #expect(flag.contains("emit_gaps"))
    }

    @Test("an invalid environment value names the variable")
    func environmentErrorsNameTheVariable() throws {
        let message = try #require(Self.error(flags: ["--channel", "a"], environment: ["RESUB_REPLAY_BATCH": "lots"]))
        #expect(message.contains("RESUB_REPLAY_BATCH"))
    }

    @Test("a missing config file is an error naming --config")
    func missingFile() throws {
        do {
            // Parsed once, when the service starts (not again in validate(): a large file is read once).
            _ = try (ResubCommand.parseAsRoot(["--config", "/nonexistent/resub.yaml"]) as! ResubCommand).startupOptions(environment: [:])
            Issue.record("a missing config file was accepted")
        } catch {
            let message = ResubCommand.message(for: error)
            #expect(message.contains("--config"))
            #expect(message.contains("/nonexistent/resub.yaml"))
            #expect(ResubCommand.exitCode(for: error).rawValue == 64)
        }
    }

    @Test("the admin API off loopback requires a token")
    func adminOffLoopbackNeedsToken() throws {
        let message = try #require(Self.error(flags: ["--channel", "a", "--admin", "0.0.0.0:9121"]))
        #expect(message.contains("--admin-token"))
        let o = try Self.options(flags: ["--channel", "a", "--admin", "0.0.0.0:9121", "--admin-token", "t"])
        #expect(o.admin?.host == "0.0.0.0")
        #expect(o.admin?.port == 9121)
        #expect(try Self.options(flags: ["--channel", "a", "--admin", "127.0.0.1:0"]).admin?.port == 0)
    }

    @Test("the example configuration in deploy/ is valid")
    func exampleConfiguration() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("deploy/resub.example.yaml").path
        let command = try ResubCommand.parseAsRoot(["--config", path]) as! ResubCommand
        let o = try command.options(environment: [:])
        #expect(o.subscriptions.set(.desired).channels == ["orders", "payments"])
        #expect(o.emitGaps)
        #expect(o.admin?.port == 9121)
        // The Kubernetes ConfigMap's embedded file, with the variables the manifests set.
        let configMap = try String(contentsOfFile: root.appendingPathComponent("deploy/kubernetes/configmap.yaml").path, encoding: .utf8)
        let embedded = configMap.components(separatedBy: "resub.yaml: |\n")[1]
            .split(separator: "\n").map { $0.hasPrefix("    ") ? String($0.dropFirst(4)) : String($0) }.joined(separator: "\n")
        let k8s = try Self.options(flags: ["--admin-token", "t"], environment: ["RESUB_SLOTS": "5461-10922", "RESUB_CHANNELS": ""], yaml: embedded)
        #expect(k8s.cluster)
        #expect(k8s.subscriptions.set(.desired).channels.isEmpty, "an empty RESUB_CHANNELS overrides the file's channels")
        #expect(k8s.slots.description == "5461-10922")
        #expect(k8s.admin?.host == "0.0.0.0")
    }

    @Test("--slots auto joins a split group: group resub and TTL 5 by default; --split-group and --member-ttl need it")
    func slotsAuto() throws {
        let plain = try Self.options(flags: ["--shard-channel", "a", "--cluster", "--slots", "auto"])
        #expect(plain.split?.group == "resub")
        #expect(plain.split?.memberTTL == .seconds(5))
        #expect(plain.subscriberConfiguration.cluster?.split?.hashTag == "{resub:resub}")
        let named = try Self.options(flags: ["--shard-channel", "a", "--cluster", "--slots", "auto", "--split-group", "orders", "--member-ttl", "2"])
        #expect(named.split?.group == "orders")
        #expect(named.split?.memberTTL == .seconds(2))
        #expect(Self.error(flags: ["--shard-channel", "a", "--cluster", "--split-group", "orders"])?.contains("--slots auto") == true)
        #expect(Self.error(flags: ["--shard-channel", "a", "--cluster", "--slots", "auto", "--member-ttl", "0.5"])?.contains("--member-ttl") == true)
        #expect(try Self.options(flags: ["--shard-channel", "a", "--cluster", "--slots", "0-10"]).split == nil)
    }

    @Test("--slots needs --cluster and valid ranges")
    func slots() throws {
        #expect(Self.error(flags: ["--channel", "a", "--slots", "0-100"])?.contains("--cluster") == true)
        #expect(Self.error(flags: ["--channel", "a", "--cluster", "--slots", "9-1"])?.contains("--slots") == true)
        let o = try Self.options(flags: ["--shard-channel", "a", "--cluster", "--slots", "0-5460,10923-16383"])
        #expect(o.slots.description == "0-5460,10923-16383")
        #expect(o.subscriberConfiguration.cluster?.slots == o.slots)
    }
}
