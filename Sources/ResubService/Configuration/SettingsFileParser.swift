import Resub

/// Turns the events of a settings file into settings, one key at a time, without building a tree: a file with
/// a million channels is never held as a document, only as the list being read. No I/O: the driver
/// (``YAMLEventReader``) feeds it events. Errors name the file and the key.
package struct SettingsFileParser {
    /// One setting read from the file; `value` is nil for an explicit null (`key:` or `key: ~`).
    package struct Entry: Equatable {
        /// The settings key (the YAML name).
        package var key: String
        /// Its value; nil for an explicit null.
        package var value: Settings.Value?

        package init(key: String, value: Settings.Value?) {
            self.key = key
            self.value = value
        }
    }

    /// Where the parser is in the file.
    package enum State: Equatable {
        /// Before the top-level node.
        case start
        /// In the top-level mapping, expecting a key or its end.
        case key
        /// After `key:`, expecting its value.
        case value(key: String)
        /// Inside `key: [ ... ]`, collecting items (as bytes, in one buffer).
        case list(key: String, items: NameList)
        /// After the top-level mapping (or an empty document).
        case done
    }

    /// The current state.
    package private(set) var state = State.start
    private let path: String
    private var seen: Set<String> = []

    package init(path: String) {
        self.path = path
    }

    private func name(_ key: String) -> String { SettingSource.file(path).name(of: key) }

    /// Whether a plain scalar means null in YAML (`~`, `null`, or nothing).
    private static func isNull(_ text: String, plain: Bool) -> Bool {
        // The length first: a million list items are not compared with four strings each.
        plain && text.utf8.count <= 4 && (text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL")
    }

    /// Consumes one event; returns a setting when one is complete.
    package mutating func input(_ event: YAMLEvent) throws(SettingsError) -> Entry? {
        switch (state, event) {
        case (_, .boundary):
            return nil
        case (_, .alias):
            throw SettingsError("\(path): anchors and aliases (*name) are not supported in a settings file")
        case (.start, .mappingStart):
            state = .key
            return nil
        case (.start, .scalar(let text, let plain)) where Self.isNull(text, plain: plain):
            state = .done  // an empty file
            return nil
        case (.start, _):
            throw SettingsError("\(path): the top level must be a mapping of settings (key: value)")
        case (.key, .scalar(let key, _)):
            guard Settings.keys[key] != nil else {
                let known = Settings.keys.keys.sorted().joined(separator: ", ")
                throw SettingsError("\(path): unknown key '\(key)' (known keys: \(known))")
            }
            guard seen.insert(key).inserted else { throw SettingsError("\(name(key)): set twice in the file") }
            state = .value(key: key)
            return nil
        case (.key, .mappingEnd):
            state = .done
            return nil
        case (.key, _):
            throw SettingsError("\(path): every key of the top-level mapping must be a plain name")
        case (.value(let key), .scalar(let text, let plain)):
            state = .key
            if Self.isNull(text, plain: plain) { return Entry(key: key, value: nil) }
            return Entry(key: key, value: Settings.keys[key] == .list ? .list(NameList([text])) : .scalar(text))
        case (.value(let key), .sequenceStart):
            guard Settings.keys[key] == .list else {
                throw SettingsError("\(name(key)): expected a single value, not a list or mapping")
            }
            state = .list(key: key, items: [])
            return nil
        case (.value(let key), _):
            throw SettingsError(Settings.keys[key] == .list
                ? "\(name(key)): expected a list"
                : "\(name(key)): expected a single value, not a list or mapping")
        case (.list(let key, var items), .scalar(let text, let plain)):
            guard !Self.isNull(text, plain: plain) else { throw SettingsError("\(name(key)): every item must be a string") }
            state = .key  // lets the list grow in place instead of copying it per item
            items.append(text)
            state = .list(key: key, items: items)
            return nil
        case (.list(let key, let items), .sequenceEnd):
            state = .key
            return Entry(key: key, value: .list(items))
        case (.list(let key, _), _):
            throw SettingsError("\(name(key)): every item must be a string")
        case (.done, _):
            throw SettingsError("\(path): only one YAML document is read; remove the second")
        }
    }
}
