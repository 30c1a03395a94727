import Foundation
import ResubService
import Testing

/// Errors name the option exactly as the user wrote it: the flag (singular for repeatable ones), the
/// environment variable, or the YAML key with its file.
@Suite("Option names in errors")
struct OptionNamingTests {
    private static func error(_ arguments: [String], environment: [String: String] = [:], yaml: String? = nil) throws -> String {
        var arguments = arguments
        var path: String?
        if let yaml {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("resub-naming-\(UUID().uuidString).yaml").path
            try yaml.write(toFile: path!, atomically: true, encoding: .utf8)
            arguments += ["--config", path!]
        }
        defer { if let path { try? FileManager.default.removeItem(atPath: path) } }
        do {
            _ = try ResubCommand.parse(arguments).options(environment: environment)
        } catch {
            return "\(error)"
        }
        Issue.record("\(arguments) \(environment) was accepted")
        return ""
    }

    /// `word` occurs in `text` as a whole option name (not as the start of a longer one, `--url` in `--urls`).
    private static func names(_ text: String, _ word: String) -> Bool {
        text.ranges(of: word).contains { range in
            range.upperBound == text.endIndex || !(text[range.upperBound].isLetter || text[range.upperBound] == "-")
        }
    }

    @Test("a bad repeatable flag is reported by its singular spelling", arguments: [
        (["--url", "http://x", "--channel", "a"], "--url"),
        (["--channel", ""], "--channel"),
        (["--pattern", ""], "--pattern"),
        (["--shard-channel", ""], "--shard-channel"),
        (["--channel", "a", "--stream", ""], "--stream"),
        (["--channel", "a", "--webhook", "http://127.0.0.1:1/", "--webhook-header", "nocolon"], "--webhook-header"),
    ] as [([String], String)])
    func repeatableFlags(arguments: [String], flag: String) throws {
        let message = try Self.error(arguments)
        #expect(Self.names(message, flag), "message: \(message)")
        #expect(!message.contains(flag + "s:") && !message.contains(flag + "s "), "message: \(message)")
    }

    @Test("a bad value from the environment names the variable the user set")
    func environment() throws {
        let message = try Self.error(["--channel", "a"], environment: ["RESUB_URLS": "http://x"])
        #expect(message.contains("RESUB_URLS"), "message: \(message)")
        let channels = try Self.error([], environment: ["RESUB_CHANNELS": "a", "RESUB_FORMAT": "xml"])
        #expect(channels.contains("RESUB_FORMAT"), "message: \(channels)")
    }

    @Test("a bad value from the file names the YAML key and the file")
    func file() throws {
        let message = try Self.error([], yaml: "channels: [a]\nurls: [http://x]\n")
        #expect(message.contains("urls (in "), "message: \(message)")
        #expect(message.contains(".yaml"), "message: \(message)")
        #expect(!message.contains("--url"), "message: \(message)")
    }

    @Test("every flag spelling the settings use for messages is a real option in --help")
    func spellingsExist() {
        let help = ResubCommand.helpMessage(columns: 1000)
        for (key, flag) in Settings.flagNames {
            #expect(Self.names(help, "--" + flag), "\(key) is named --\(flag), which --help does not list")
        }
    }

    @Test("--version is the build's version")
    func version() {
        #expect(ResubCommand.configuration.version == ResubVersion.current)
        #expect(ResubVersion.current.split(separator: ".").count == 3)
    }
}
