import Foundation
import Testing

/// Every code sample in the README and the DocC catalog is compiled: the catalog embeds files of Snippets/
/// (which `swift build` compiles), and every Swift block in the README must be the text of one of them.
@Suite("Documentation samples")
struct DocumentationSamplesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func read(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    static var snippets: [String: String] {
        get throws {
            let names = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Snippets").path)
            var files: [String: String] = [:]
            for name in names where name.hasSuffix(".swift") { files[String(name.dropLast(6))] = try read("Snippets/" + name) }
            return files
        }
    }

    static var catalog: [String] {
        get throws {
            try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Sources/Resub/Resub.docc").path)
                .filter { $0.hasSuffix(".md") }.sorted().map { "Sources/Resub/Resub.docc/" + $0 }
        }
    }

    /// The ```swift blocks of a Markdown text.
    static func swiftBlocks(_ markdown: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring]?
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```swift" {
                current = []
            } else if current != nil, line == "```" {
                blocks.append(current!.joined(separator: "\n") + "\n")
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    @Test("every Swift block in the README and the catalog is the text of a compiled snippet")
    func blocksAreSnippets() throws {
        let snippets = try Self.snippets
        let documents = ["README.md"] + (try Self.catalog)
        var checked = 0
        for document in documents {
            for block in Self.swiftBlocks(try Self.read(document)) {
                checked += 1
                #expect(snippets.values.contains { $0.contains(block) }, "a Swift sample in \(document) is in no file of Snippets/:\n\(block)")
            }
        }
        #expect(checked >= 2, "the README's library samples were not found")
    }

    @Test("every @Snippet in the catalog names a file of Snippets/, and every snippet is used")
    func snippetReferencesResolve() throws {
        let snippets = try Self.snippets
        var used: Set<String> = []
        for document in try Self.catalog {
            let text = try Self.read(document)
            for match in text.matches(of: /@Snippet\(path: "resub\/Snippets\/([A-Za-z]+)"\)/) {
                let name = String(match.output.1)
                #expect(snippets[name] != nil, "\(document) embeds Snippets/\(name).swift, which does not exist")
                used.insert(name)
            }
        }
        #expect(used == Set(snippets.keys), "snippets not in the catalog: \(Set(snippets.keys).subtracting(used))")
    }
}
