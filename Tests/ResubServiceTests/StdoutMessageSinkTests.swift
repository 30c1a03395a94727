#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Resub
import ResubService
import Synchronization
import Testing

/// The stdout sink through the ``MessageSink`` protocol the runner uses: push, drain with a deadline, close.
@Suite("Stdout sink as a MessageSink")
struct StdoutMessageSinkTests {
    private static func pipeFDs() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        return (fds[0], fds[1])
    }

    /// A number shared with callbacks and threads.
    private final class Calls: Sendable {
        let count: Mutex<Int>
        init(_ value: Int = 0) { count = Mutex(value) }
    }

    @Test("messages, a gap record and stream records come out in order; onAccepted runs once written; drain is true; closed refuses")
    func pushDrainClose() async throws {
        let fds = try Self.pipeFDs()
        defer { close(fds.read) }
        let sink: any MessageSink = StdoutSink(fd: fds.write, format: .raw, limit: nil) { _ in }
        let calls = Calls()
        #expect(sink.push(makeBatch([RawMessage(channel: "a", payload: "one"), RawMessage(channel: "a", payload: "two")])) == .queued)
        #expect(sink.push(record: Array("gap\n".utf8), stream: nil, onAccepted: nil) == .queued)
        #expect(sink.push(record: Array("entry-1\n".utf8), stream: "s", onAccepted: { calls.count.withLock { $0 += 1 } }) == .queued)
        #expect(sink.push(makeBatch([RawMessage(channel: "a", payload: "three")])) == .queued)
        #expect(await sink.drain(timeout: .seconds(5), logger: Logger(label: "test")))
        #expect(calls.count.withLock { $0 } == 1)
        let summary = await sink.summary
        // Stream entries count as messages, gap records do not.
        #expect(summary["written"] == "4" && summary["dropped"] == "0", "\(summary)")
        await sink.close()
        #expect(sink.push(makeBatch([RawMessage(channel: "a", payload: "late")])) == .closed)
        close(fds.write)
        #expect(String(decoding: readToEnd(fds.read), as: UTF8.self) == "one\ntwo\ngap\nentry-1\nthree\n")
    }

    @Test("a reader that does not read: drain gives up at its deadline and says false; the writer ends once read")
    func drainDeadline() async throws {
        let fds = try Self.pipeFDs()
        defer { close(fds.read) }
        let stdout = StdoutSink(fd: fds.write, format: .raw, limit: nil, maxQueuedBytes: 64 << 20) { _ in }
        let sink: any MessageSink = stdout
        let payload = String(repeating: "x", count: 64 << 10)
        for _ in 0..<64 {  // 4 MiB: more than the pipe holds (1 MiB at most)
            #expect(sink.push(makeBatch([RawMessage(channel: "c", payload: payload)])) != .closed)
        }
        let started = ContinuousClock.now
        let drained = await sink.drain(timeout: .milliseconds(300), logger: Logger(label: "test"))
        let waited = started.duration(to: .now)
        #expect(!drained)
        #expect(waited >= .milliseconds(250) && waited < .seconds(3), "waited \(waited)")
        // Unblock the writer: read everything, then join it.
        let read = Calls(-1)
        let reader = Thread { let bytes = readToEnd(fds.read).count; read.count.withLock { $0 = bytes } }
        reader.start()
        stdout.finish()
        close(fds.write)
        #expect(await waitFor { read.count.withLock { $0 } >= 0 })
        #expect(read.count.withLock { $0 } == 64 * ((64 << 10) + 1))
        #expect(stdout.writtenCount == 64)
    }
}
