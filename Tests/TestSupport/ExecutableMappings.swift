import Foundation

/// A process's executable as the kernel maps it: how much of its read-only mappings (code, read-only data)
/// is resident, from /proc/PID/smaps. For the tests of the start-up pages the service gives back.
public enum ExecutableMappings {
    /// Resident and total KiB of the non-writable mappings of `pid`'s executable (`self` for this process).
    public static func readOnly(pid: String = "self") throws -> (resident: Int, size: Int) {
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
        var resident = 0, size = 0, inExecutable = false
        for line in try String(contentsOfFile: "/proc/\(pid)/smaps", encoding: .utf8).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), fields.count >= 5 {
                inExecutable = fields.count >= 6 && fields[5] == executable && !fields[1].contains("w")
            } else if inExecutable, fields.count >= 2, let kib = Int(fields[1]) {
                if fields[0] == "Size:" { size += kib } else if fields[0] == "Rss:" { resident += kib }
            }
        }
        return (resident, size)
    }
}
