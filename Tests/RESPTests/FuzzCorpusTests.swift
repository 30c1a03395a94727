import Foundation
import RESP
import Testing
import TestSupport

/// Every input the fuzzer kept (Fuzz/corpus, minimized) and every input that once found a bug
/// (Fuzz/regressions) still reads the same whole and chunked through the fast path, without crashing.
@Suite("Fuzz corpus and regressions")
struct FuzzCorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func inputs(_ folder: String) -> [URL] {
        let directory = root.appendingPathComponent("Fuzz").appendingPathComponent(folder)
        return ((try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? [])
            .filter { !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    @Test("the committed corpus is not empty and every input reads alike both ways")
    func corpus() throws {
        let files = Self.inputs("corpus")
        #expect(files.count >= 5, "Fuzz/corpus is missing")
        for file in files {
            let data = try [UInt8](Data(contentsOf: file))
            let difference = RESPDifferential.check(data)
            #expect(difference == nil, "\(file.lastPathComponent): \(difference ?? "")")
        }
    }

    @Test("every regression input reads alike both ways")
    func regressions() throws {
        for file in Self.inputs("regressions") {
            let data = try [UInt8](Data(contentsOf: file))
            let difference = RESPDifferential.check(data)
            #expect(difference == nil, "\(file.lastPathComponent): \(difference ?? "")")
        }
    }
}
