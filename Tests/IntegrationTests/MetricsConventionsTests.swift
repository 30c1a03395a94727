import Foundation
import Testing
import TestSupport

// /metrics of the real `resub` executable, judged by Prometheus's own linter (`promtool check metrics`, from
// Debian's prometheus package, installed by scripts/install-deps.sh).

/// Runs `promtool check metrics` on `text`: its exit status and everything it printed.
private func promtool(_ text: String) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["promtool", "check", "metrics"]
    let stdin = Pipe(), output = Pipe()
    process.standardInput = stdin
    process.standardOutput = output
    process.standardError = output
    try process.run()
    stdin.fileHandleForWriting.write(Data(text.utf8))
    try stdin.fileHandleForWriting.close()
    let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, printed)
}

@Suite("Metrics conventions", .serialized)
struct MetricsConventionsTests {
    @Test("promtool is installed and not a pushover: it flags a counter without _total and a family without HELP")
    func promtoolJudges() throws {
        let bad = try promtool("# TYPE things counter\nthings 1\n")
        #expect(bad.status != 0 || !bad.output.isEmpty, "promtool accepted a bad exposition: \(bad)")
    }

    @Test("live /metrics (stdout sink, then webhook sink with a spool) passes promtool check metrics with no output, with HELP on every family and the process_* families", .timeLimit(.minutes(1)),
          arguments: [false, true])
    func promtoolClean(webhook: Bool) async throws {
        let redis = try startRedis()
        defer { redis.stop() }
        let receiver = try WebhookReceiver(behaviour: WebhookReceiver.failing(first: 1, with: .status(503)))
        defer { receiver.stop() }
        let spool = try makeTemporaryDirectory("metrics")
        defer { try? FileManager.default.removeItem(atPath: spool) }
        let sink = webhook ? ["--webhook", receiver.url(), "--webhook-linger", "10", "--spool-dir", spool] : []
        let resub = try ServiceProcess(["--url", redis.url, "--channel", "pm", "--admin", "127.0.0.1:0", "--ping-interval", "1",
                                        "--reconnect-min", "0.05", "--reconnect-max", "0.5"] + sink)
        defer { resub.stop() }
        let port = try await resub.adminPort()
        try await waitSubscribed(redis, channels: 1, resub)
        try redis.publishAll((0..<5).map { ("pm", "m\($0)") })
        let delivered = await pollUntil(timeout: .seconds(10)) { webhook ? receiver.accepted.count >= 1 : resub.stdoutLines.count >= 5 }
        try #require(delivered, "\(resub.diagnostics)")

        let text = try TestHTTP.request(port: port, path: "/metrics").text
        let lint = try promtool(text)
        #expect(lint.status == 0 && lint.output.isEmpty, "promtool: \(lint.output)\n\(text)")

        let families = Set(text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] })
        let helped = Set(text.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }.map { $0.split(separator: " ")[2] })
        #expect(families.count >= 18 && families == helped, "without HELP: \(families.subtracting(helped))")
        for name in ["process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                     "process_cpu_seconds_total", "process_start_time_seconds"] {
            #expect(families.contains(Substring(name)), "\(name) missing")
        }
        // The process figures are this process's: started within the last minute.
        let start = text.split(separator: "\n").first { $0.hasPrefix("process_start_time_seconds ") }.flatMap { Double($0.split(separator: " ")[1]) }
        let age = Date().timeIntervalSince1970 - (start ?? 0)
        #expect(age >= -2 && age < 60, "process_start_time_seconds \(start ?? -1)")
        if webhook {
            #expect(text.contains(#"resub_webhook_responses_total{code="503"}"#), "\(text)")
        }
    }
}
