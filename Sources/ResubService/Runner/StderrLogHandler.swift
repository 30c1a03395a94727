import Logging
import Resub
#if canImport(Glibc)
import Glibc
#endif

/// Log line format on stderr.
package enum LogFormat: String, Sendable, CaseIterable {
    /// `2026-11-21T07:00:00.000Z info resub: message key=value`
    case text
    /// `{"ts":"…","level":"info","label":"resub","msg":"…","key":"value"}`
    case json
}

/// A swift-log handler writing one line per event to stderr, as text or JSON. Each line is one `write(2)`,
/// so lines from different threads never interleave.
package struct StderrLogHandler: LogHandler {
    package var logLevel: Logger.Level = .info
    package var metadata: Logger.Metadata = [:]
    package var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: LogFormat
    private let fd: Int32

    package init(label: String, format: LogFormat, fd: Int32 = 2) {
        self.label = label
        self.format = format
        self.fd = fd
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
        if let extra = event.metadata { all.merge(extra) { $1 } }
        let line = Self.render(format: format, timestamp: RFC3339.now(), level: event.level, label: label, message: "\(event.message)", metadata: all)
        line.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
                offset += n
            }
        }
    }

    /// One formatted line, newline included.
    package static func render(format: LogFormat, timestamp: String, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> [UInt8] {
        let keys = metadata.keys.sorted()
        switch format {
        case .text:
            var text = "\(timestamp) \(level) \(label): \(message)"
            for key in keys { text += " \(key)=\(metadata[key]!)" }
            return Array((text + "\n").utf8)
        case .json:
            let out = OutputBuffer(capacity: 256)
            func field(_ key: String, _ value: String, first: Bool = false) {
                out.append(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
                JSONLineEncoder.appendString(key, to: out)
                out.append(UInt8(ascii: ":"))
                JSONLineEncoder.appendString(value, to: out)
            }
            field("ts", timestamp, first: true)
            field("level", level.rawValue)
            field("label", label)
            field("msg", message)
            for key in keys where !["ts", "level", "label", "msg"].contains(key) { field(key, "\(metadata[key]!)") }
            out.append("}\n")
            return Array(out.bytes)
        }
    }
}
