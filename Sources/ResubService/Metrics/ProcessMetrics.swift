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
#if canImport(Glibc)
import Glibc
#endif

/// The `process_*` metrics every Prometheus exporter has, read from /proc at scrape time (Linux) and written in
/// the text format with `# HELP` and `# TYPE`. The parsing is separate from the reading, so it is tested on
/// fixed texts.
package struct ProcessMetrics: Equatable, Sendable {
    /// Resident set size (`VmRSS` of /proc/self/status).
    package var residentMemoryBytes: Double
    /// Virtual memory size (`VmSize` of /proc/self/status).
    package var virtualMemoryBytes: Double
    /// Open file descriptors (entries of /proc/self/fd).
    package var openFDs: Double
    /// The soft limit on open files (/proc/self/limits).
    package var maxFDs: Double
    /// User and system CPU time (/proc/self/stat fields 14 and 15).
    package var cpuSecondsTotal: Double
    /// The process's start, Unix seconds (boot time from /proc/stat plus /proc/self/stat field 22).
    package var startTimeSeconds: Double

    /// Reads the current process's figures; nil where /proc is missing or unreadable (not Linux).
    package static func read() -> ProcessMetrics? {
        func text(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }
        guard let stat = text("/proc/self/stat"), let status = text("/proc/self/status"), let limits = text("/proc/self/limits"),
              let system = text("/proc/stat"),
              let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return nil }
        return parse(stat: stat, status: status, limits: limits, systemStat: system, openFDs: fds.count,
                     ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))))
    }

    /// The figures in the given /proc texts; nil when one is malformed.
    package static func parse(stat: String, status: String, limits: String, systemStat: String, openFDs: Int, ticksPerSecond: Double) -> ProcessMetrics? {
        // The command name (field 2) is in parentheses and may hold spaces: fields are counted after the last ')'.
        guard let close = stat.lastIndex(of: ")"), ticksPerSecond > 0 else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state): field n is fields[n - 3].
        guard fields.count > 19, let utime = Double(fields[11]), let stime = Double(fields[12]),
              let startTicks = Double(fields[19]) else { return nil }
        func kilobytes(_ key: String) -> Double? {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }) else { return nil }
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count >= 2, let value = Double(parts[1]) else { return nil }
            return value * 1024
        }
        guard let rss = kilobytes("VmRSS"), let size = kilobytes("VmSize"),
              let bootLine = systemStat.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
              let boot = Double(bootLine.dropFirst(6).filter { $0 != " " && $0 != "\t" }),
              let filesLine = limits.split(separator: "\n").first(where: { $0.hasPrefix("Max open files") }) else { return nil }
        let soft = filesLine.dropFirst("Max open files".count).split(separator: " ").first
        let maxFDs = soft == "unlimited" ? Double.infinity : soft.flatMap { Double($0) }
        guard let maxFDs else { return nil }
        return ProcessMetrics(
            residentMemoryBytes: rss, virtualMemoryBytes: size, openFDs: Double(openFDs), maxFDs: maxFDs,
            cpuSecondsTotal: (utime + stime) / ticksPerSecond, startTimeSeconds: boot + startTicks / ticksPerSecond)
    }

    /// The Prometheus text of these figures.
    package var text: String {
        func family(_ name: String, _ type: String, _ help: String, _ value: Double) -> String {
            let number = value.isInfinite ? "+Inf" : (value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value))
            return "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(number)\n"
        }
        return family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", cpuSecondsTotal)
            + family("process_open_fds", "gauge", "Number of open file descriptors.", openFDs)
            + family("process_max_fds", "gauge", "Maximum number of open file descriptors.", maxFDs)
            + family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", virtualMemoryBytes)
            + family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", residentMemoryBytes)
            + family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", startTimeSeconds)
    }
}
