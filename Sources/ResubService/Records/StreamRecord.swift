#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Resub
import Synchronization

/// Encodes a stream entry as the sink's JSON line:
/// `{"type":"stream","stream":"events","id":"1700000000000-0","fields":{"k":"v"}}`. A value that is not valid
/// UTF-8 goes, base64-encoded, into `"fields_base64"` under its field name instead.
package enum StreamRecord {
    /// The JSON line, newline included.
    package static func encode(_ entry: StreamEntry) -> [UInt8] {
        let out = OutputBuffer(capacity: 128 + entry.fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.count * 2 })
        out.append("{\"type\":\"stream\",\"stream\":")
        string(entry.stream, out)
        out.append(",\"id\":")
        string(entry.id, out)
        out.append(",\"fields\":{")
        var binary: [StreamEntry.Field] = []
        var first = true
        for field in entry.fields {
            guard String(validating: field.value, as: UTF8.self) != nil else {
                binary.append(field)
                continue
            }
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            string(field.name, out)
            out.append(UInt8(ascii: ":"))
            field.value.withUnsafeBytes { _ = JSONLineEncoder.appendString($0, to: out, lossy: true) }
        }
        out.append(UInt8(ascii: "}"))
        if !binary.isEmpty {
            out.append(",\"fields_base64\":{")
            for (i, field) in binary.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                string(field.name, out)
                out.append(":\"")
                field.value.withUnsafeBytes { Base64.append($0, to: out) }
                out.append(UInt8(ascii: "\""))
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append("}\n")
        return Array(out.bytes)
    }

    private static func string(_ text: String, _ out: OutputBuffer) {
        JSONLineEncoder.appendString(text, to: out)
    }
}

/// The last stream IDs written by plain XREAD, kept in `<state-dir>/streams.json` so a restart resumes after
/// them (no gap; an entry written but not yet saved when the process died is written again). Saved at most
/// every 200 ms and at shutdown, atomically (write to a temporary file, then rename).
package final class StreamState: @unchecked Sendable {
    private let path: String?
    /// The last ID per stream, and whether it changed since the last save.
    private let state: Mutex<(ids: [String: String], dirty: Bool)>

    /// Loads the state file (missing is fine: an empty state).
    package init(directory: String?) throws {
        if let directory {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            path = directory + "/streams.json"
        } else {
            path = nil
        }
        var ids: [String: String] = [:]
        if let path, let data = FileManager.default.contents(atPath: path) {
            do {
                ids = try JSONDecoder().decode([String: String].self, from: data)
            } catch {
                throw SettingsError("\(path): not a JSON object of stream IDs; remove it to start from --stream-start")
            }
        }
        state = Mutex((ids: ids, dirty: false))
    }

    /// The saved ID of `stream`.
    package func lastID(_ stream: String) -> String? {
        state.withLock { $0.ids[stream] }
    }

    /// Records that entries up to `id` of `stream` were written (any thread).
    package func written(_ stream: String, _ id: String) {
        state.withLock { state in
            if let old = state.ids[stream], !StreamID.isAfter(id, old) { return }
            state.ids[stream] = id
            state.dirty = true
        }
    }

    /// Writes the file when something changed.
    package func save() {
        guard let path else { return }
        let snapshot: [String: String]? = state.withLock { state in
            guard state.dirty else { return nil }
            state.dirty = false
            return state.ids
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let snapshot, let data = try? encoder.encode(snapshot) else { return }
        let temporary = path + ".tmp"
        if FileManager.default.createFile(atPath: temporary, contents: data) {
            _ = rename(temporary, path)
        }
    }
}
