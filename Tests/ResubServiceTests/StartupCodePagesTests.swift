import Foundation
import ResubService
import TestSupport
import Testing

/// Giving back the executable's read-only pages: they leave this process's resident set, and the code they
/// hold still runs (it is mapped again on use).
@Suite("Start-up code pages")
struct StartupCodePagesTests {
    @Test("the executable's read-only segments are advised away and leave the resident set; code runs on")
    func release() throws {
        let before = try ExecutableMappings.readOnly().resident
        #expect(before > 0, "the test runner's code is resident while it runs")
        let advised = StartupCodePages.release()
        #expect(advised > 1 << 20, "at least the code segment is advised (\(advised) bytes)")
        let after = try ExecutableMappings.readOnly().resident
        // Reading smaps runs some code again (mapped back with its neighbours); most stays out.
        #expect(after < before / 2, "resident read-only pages of the executable: \(before) KiB before, \(after) KiB after")
        // Code that ran before runs again: its pages come back from the page cache.
        #expect(try ExecutableMappings.readOnly().resident > 0)
    }
}
