import Foundation
import LibeventLoop
import Resub
import ResubService
import Testing

/// Sentinel mode's options: flags, URL, YAML, environment, and the combinations refused with exit 64.
@Suite("Sentinel settings")
struct SentinelSettingsTests {
    private static func options(_ flags: [String], environment: [String: String] = [:]) throws -> ServiceOptions {
        let command = try ResubCommand.parseAsRoot(flags + ["--channel", "c"]) as! ResubCommand
        return try command.options(environment: environment)
    }

    private static func error(_ flags: [String], environment: [String: String] = [:]) -> String? {
        do {
            _ = try options(flags, environment: environment)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("--sentinel (repeatable) with --sentinel-master, and the password from the environment")
    func flags() throws {
        let o = try Self.options(["--sentinel", "10.0.0.1:26379", "--sentinel", "10.0.0.2", "--sentinel-master", "mymaster"],
                                 environment: ["RESUB_SENTINEL_PASSWORD": "pw"])
        let s = try #require(o.subscriberConfiguration.sentinel)
        #expect(s.sentinels == [.tcp(host: "10.0.0.1", port: 26379), .tcp(host: "10.0.0.2", port: 26379)])
        #expect(s.masterName == "mymaster" && s.password == "pw")
    }

    @Test("a redis+sentinel:// URL, the data nodes' password staying the URL's")
    func url() throws {
        let o = try Self.options(["--url", "redis+sentinel://:datapw@h1:26379,h2:26380/m"])
        let s = try #require(o.sentinel)
        #expect(s.sentinels.count == 2 && s.masterName == "m")
        #expect(o.subscriberConfiguration.endpoint.password == "datapw")
    }

    @Test("the YAML keys and RESUB_SENTINELS")
    func fileAndEnvironment() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("resub-sentinel-\(UUID().uuidString).yaml").path
        try "sentinels: [\"10.0.0.5:26379\"]\nsentinel_master: cache\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fromFile = try Self.options(["--config", path])
        #expect(fromFile.sentinel?.masterName == "cache")
        let fromEnvironment = try Self.options([], environment: ["RESUB_SENTINELS": "10.0.0.6:1,10.0.0.7:2", "RESUB_SENTINEL_MASTER": "x"])
        #expect(fromEnvironment.sentinel?.sentinels == [.tcp(host: "10.0.0.6", port: 1), .tcp(host: "10.0.0.7", port: 2)])
    }

    @Test("--cluster with Sentinel is refused naming both")
    func clusterRefused() {
        let message = Self.error(["--cluster", "--sentinel", "h:26379", "--sentinel-master", "m"]) ?? ""
        #expect(message.contains("--cluster") && message.contains("--sentinels"))
        let viaURL = Self.error(["--cluster", "--url", "redis+sentinel://h:26379/m"]) ?? ""
        #expect(viaURL.contains("--cluster") && viaURL.contains("--url"))
    }

    @Test("half a Sentinel configuration is refused naming what is missing")
    func incomplete() {
        #expect(Self.error(["--sentinel", "h:26379"])?.contains("--sentinel-master") == true)
        #expect(Self.error(["--sentinel-master", "m"])?.contains("--sentinel") == true)
        #expect(Self.error([], environment: ["RESUB_SENTINEL_PASSWORD": "x"])?.contains("RESUB_SENTINEL_PASSWORD") == true)
        #expect(Self.error(["--sentinel", "h:26379/x", "--sentinel-master", "m"]) != nil)
    }
}
