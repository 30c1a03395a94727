import Resub
import ResubService
import Testing

/// The settings file's event parser, driven with events directly (no file, no libyaml).
@Suite("Settings file parser")
struct SettingsFileParserTests {
    /// Feeds `events` (wrapped in a stream, a document and the top-level mapping) and collects the settings.
    private static func parse(_ events: [YAMLEvent], wrapped: Bool = true) throws(SettingsError) -> [SettingsFileParser.Entry] {
        var parser = SettingsFileParser(path: "r.yaml")
        let all = wrapped ? [.boundary, .boundary, .mappingStart] + events + [.mappingEnd, .boundary, .boundary] : events
        var entries: [SettingsFileParser.Entry] = []
        for event in all {
            if let entry = try parser.input(event) { entries.append(entry) }
        }
        if wrapped { #expect(parser.state == .done) }
        return entries
    }

    private static func error(_ events: [YAMLEvent], wrapped: Bool = true) -> String? {
        do {
            _ = try parse(events, wrapped: wrapped)
            return nil
        } catch {
            return error.description
        }
    }

    @Test("scalars, lists, a scalar given for a list, and nulls become settings in file order")
    func shapes() throws {
        let entries = try Self.parse([
            .scalar("ping_interval", plain: true), .scalar("2", plain: true),
            .scalar("channels", plain: true), .sequenceStart, .scalar("a", plain: true), .scalar("null", plain: false), .sequenceEnd,
            .scalar("patterns", plain: true), .scalar("news.*", plain: false),
            .scalar("admin", plain: true), .scalar("~", plain: true),
        ])
        #expect(entries == [
            .init(key: "ping_interval", value: .scalar("2")),
            .init(key: "channels", value: .list(["a", "null"])),  // quoted: a name, not a null
            .init(key: "patterns", value: .list(["news.*"])),
            .init(key: "admin", value: nil),
        ])
    }

    @Test("a list of 100,000 names is read in one pass")
    func longList() throws {
        let names = (0..<100_000).map { "mem.channel.\($0)" }
        let entries = try Self.parse([.scalar("channels", plain: true), .sequenceStart] + names.map { .scalar($0, plain: true) } + [.sequenceEnd])
        #expect(entries == [.init(key: "channels", value: .list(NameList(names)))])
    }

    @Test("an empty file configures nothing")
    func emptyFile() throws {
        #expect(try Self.parse([.boundary, .boundary, .scalar("", plain: true), .boundary, .boundary], wrapped: false).isEmpty)
        #expect(try Self.parse([.boundary, .boundary], wrapped: false).isEmpty)
    }

    @Test("each malformed shape is rejected naming the key and the file", arguments: [
        ([.scalar("chanels", plain: true), .scalar("a", plain: true)], "unknown key 'chanels'"),
        ([.scalar("channels", plain: true), .mappingStart], "channels (in r.yaml): expected a list"),
        ([.scalar("ping_interval", plain: true), .sequenceStart], "ping_interval (in r.yaml): expected a single value"),
        ([.scalar("channels", plain: true), .sequenceStart, .mappingStart], "channels (in r.yaml): every item must be a string"),
        ([.scalar("channels", plain: true), .sequenceStart, .scalar("~", plain: true)], "channels (in r.yaml): every item must be a string"),
        ([.scalar("count", plain: true), .scalar("1", plain: true), .scalar("count", plain: true)], "count (in r.yaml): set twice"),
        ([.scalar("count", plain: true), .alias], "aliases"),
        ([.sequenceStart, .mappingStart], "key of the top-level mapping"),
    ] as [([YAMLEvent], String)])
    func malformed(events: [YAMLEvent], message: String) {
        let error = Self.error(events)
        #expect(error?.contains(message) == true, "got: \(error ?? "accepted")")
    }

    @Test("a top level that is not a mapping, or a second document, is rejected")
    func topLevel() {
        #expect(Self.error([.boundary, .boundary, .sequenceStart], wrapped: false)?.contains("must be a mapping") == true)
        let second: [YAMLEvent] = [.boundary, .boundary, .mappingStart, .mappingEnd, .boundary, .boundary, .mappingStart]
        #expect(Self.error(second, wrapped: false)?.contains("one YAML document") == true)
    }
}
