import Foundation
import ResubService
import Testing

/// Giving back the executable's read-only pages: they leave this process's resident set, and the code they
/// hold still runs (it is mapped again on use).
@Suite("Start-up code pages")
struct StartupCodePagesTests {
    /// The executable's resident file-backed pages (the test runner's own mappings), in KiB, from smaps.
    static func executableResidentKiB() throws -> Int {
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let smaps = try String(contentsOfFile: "/proc/self/smaps", encoding: .utf8)
        var total = 0
        var inExecutable = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), fields.count >= 5 {
                inExecutable = fields.count >= 6 && fields[5] == executable && !fields[1].contains("w")
            } else if inExecutable, fields.first == "Rss:", fields.count >= 2, let kib = Int(fields[1]) {
                total += kib
            }
        }
        return total
    }

    @Test("the executable's read-only segments are advised away and leave the resident set; code runs on")
    func release() throws {
        let before = try Self.executableResidentKiB()
        #expect(before > 0, "the test runner's code is resident while it runs")
        let advised = StartupCodePages.release()
        #expect(advised > 1 << 20, "at least the code segment is advised (\(advised) bytes)")
        let after = try Self.executableResidentKiB()
        // Reading smaps runs some code again (mapped back with its neighbours); most stays out.
        #expect(after < before / 2, "resident read-only pages of the executable: \(before) KiB before, \(after) KiB after")
        // Code that ran before runs again: its pages come back from the page cache.
        #expect(try Self.executableResidentKiB() > 0)
    }
}
