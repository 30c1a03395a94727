import Foundation
import ResubService
import Testing

/// The process_* figures parsed from fixed /proc texts, and read from this process.
@Suite("Process metrics")
struct ProcessMetricsTests {
    // A /proc/self/stat line whose command name holds spaces and a parenthesis.
    static let stat = "4242 (resub (x) y) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 50 0 0 20 0 5 0 3000 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0"
    static let status = "Name:\tresub\nVmPeak:\t  200000 kB\nVmSize:\t  120000 kB\nVmRSS:\t    8192 kB\nThreads:\t5\n"
    static let limits = """
        Limit                     Soft Limit           Hard Limit           Units
        Max cpu time              unlimited            unlimited            seconds
        Max open files            1024                 1048576              files
        Max locked memory         8388608              8388608              bytes
        """
    static let systemStat = "cpu  1 2 3 4\nbtime 1700000000\nprocesses 99\n"

    @Test("CPU seconds from utime + stime, start time from btime + starttime, memory from VmRSS/VmSize, fds from limits")
    func parse() throws {
        let m = try #require(ProcessMetrics.parse(stat: Self.stat, status: Self.status, limits: Self.limits, systemStat: Self.systemStat, openFDs: 17, ticksPerSecond: 100))
        #expect(m.cpuSecondsTotal == 3.0)
        #expect(m.startTimeSeconds == 1_700_000_030)
        #expect(m.residentMemoryBytes == 8192 * 1024)
        #expect(m.virtualMemoryBytes == 120_000 * 1024)
        #expect(m.maxFDs == 1024)
        #expect(m.openFDs == 17)
        let text = m.text
        for name in ["process_cpu_seconds_total", "process_open_fds", "process_max_fds", "process_virtual_memory_bytes", "process_resident_memory_bytes", "process_start_time_seconds"] {
            #expect(text.contains("# HELP \(name) "), "\(name)")
            #expect(text.contains("# TYPE \(name) "), "\(name)")
        }
        #expect(text.contains("process_cpu_seconds_total 3\n") && text.contains("process_start_time_seconds 1700000030\n"), "\(text)")
    }

    @Test("a malformed text gives nil, not a made-up figure")
    func malformed() {
        #expect(ProcessMetrics.parse(stat: "4242 resub S 1", status: Self.status, limits: Self.limits, systemStat: Self.systemStat, openFDs: 1, ticksPerSecond: 100) == nil)
        #expect(ProcessMetrics.parse(stat: Self.stat, status: "Name:\tresub\n", limits: Self.limits, systemStat: Self.systemStat, openFDs: 1, ticksPerSecond: 100) == nil)
        #expect(ProcessMetrics.parse(stat: Self.stat, status: Self.status, limits: Self.limits, systemStat: "cpu 1\n", openFDs: 1, ticksPerSecond: 100) == nil)
    }

    @Test("this process: some memory, a few fds below the limit, started in the last day and not in the future")
    func live() throws {
        let m = try #require(ProcessMetrics.read())
        #expect(m.residentMemoryBytes > 1_048_576 && m.virtualMemoryBytes >= m.residentMemoryBytes)
        #expect(m.openFDs >= 3 && m.openFDs < m.maxFDs)
        let now = Date().timeIntervalSince1970
        #expect(m.startTimeSeconds <= now + 1 && m.startTimeSeconds > now - 86_400 * 365)
        #expect(m.cpuSecondsTotal > 0)
    }
}
