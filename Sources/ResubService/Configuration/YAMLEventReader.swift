import CLibYAML
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a YAML file with libyaml's event parser, straight from the file (never the whole text, never a
/// document tree), and hands each event to `body`. The only importer of CLibYAML.
package enum YAMLEventReader {
    /// Parses the file at `path`; errors name the file, and the line for syntax errors (never the text: the
    /// offending line may hold a password).
    package static func read(path: String, _ body: (YAMLEvent) throws(SettingsError) -> Void) throws(SettingsError) {
        guard let file = fopen(path, "r") else {
            throw SettingsError("--config: cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw SettingsError("\(path): out of memory") }
        defer { yaml_parser_delete(&parser) }
        yaml_parser_set_input_file(&parser, file)
        var event = yaml_event_t()
        while true {
            guard yaml_parser_parse(&parser, &event) == 1 else {
                throw SettingsError("\(path): not valid YAML at line \(parser.problem_mark.line + 1)")
            }
            let converted = convert(event)
            let type = event.type
            yaml_event_delete(&event)
            try body(converted)
            if type == YAML_STREAM_END_EVENT { return }
        }
    }

    private static func convert(_ event: yaml_event_t) -> YAMLEvent {
        switch event.type {
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let text = String(decoding: UnsafeBufferPointer(start: scalar.value, count: Int(scalar.length)), as: UTF8.self)
            return .scalar(text, plain: scalar.style == YAML_PLAIN_SCALAR_STYLE)
        case YAML_SEQUENCE_START_EVENT: return .sequenceStart
        case YAML_SEQUENCE_END_EVENT: return .sequenceEnd
        case YAML_MAPPING_START_EVENT: return .mappingStart
        case YAML_MAPPING_END_EVENT: return .mappingEnd
        case YAML_ALIAS_EVENT: return .alias
        default: return .boundary
        }
    }
}
