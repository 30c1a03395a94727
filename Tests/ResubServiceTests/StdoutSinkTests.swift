#if canImport(Glibc)
import LibeventLoop
import Glibc
#endif
import Foundation
import Resub
import ResubService
import Synchronization
import Testing

/// The stdout sink writing to a pipe from its own thread: formats, --count, drops, and a vanished reader.
@Suite("Stdout sink")
struct StdoutSinkTests {
    /// Records the reasons the sink reports (it must report exactly one).
    private final class Finish: Sendable {
        private let reasons = Mutex<[StdoutSink.FinishReason]>([])
        var all: [StdoutSink.FinishReason] { reasons.withLock { $0 } }
        func record(_ reason: StdoutSink.FinishReason) { reasons.withLock { $0.append(reason) } }
    }

    /// A pipe; the test owns and closes both ends.
    private struct Pipe {
        let read: Int32
        let write: Int32

        init() throws {
            var fds: [Int32] = [0, 0]
            try #require(pipe(&fds) == 0)
            read = fds[0]
            write = fds[1]
        }
    }

    private static func lines(_ bytes: [UInt8]) -> [String] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    private static let messages: [RawMessage] = [
        RawMessage(.message, channel: "orders", payload: "first"),
        RawMessage(.pmessage, pattern: "ord*", channel: "orders", payload: "second \"quoted\""),
        RawMessage(.smessage, channel: "{s}1", payload: "third"),
        RawMessage(.message, channel: Array("bin".utf8), payload: [0xFF, 0x00]),
        RawMessage(.message, channel: "orders", payload: "fifth"),
    ]

    @Test("JSON lines arrive on the pipe in order, and finish reports drained")
    func jsonToPipe() throws {
        let pipe = try Pipe()
        defer { close(pipe.read) }
        let finish = Finish()
        let sink = StdoutSink(fd: pipe.write, format: .json, limit: nil, onFinished: finish.record)
        #expect(sink.push(makeBatch(Array(Self.messages[0..<3]))).accepted)
        #expect(sink.push(makeBatch(Array(Self.messages[3...]))).accepted)
        sink.finish()
        close(pipe.write)
        #expect(Self.lines(readToEnd(pipe.read)) == Self.messages.map { String(jsonLine($0).dropLast()) })
        #expect(finish.all == [.drained])
        #expect(sink.writtenCount == 5)
        #expect(sink.droppedMessageCount == 0)
    }

    @Test("raw format writes each payload and a newline")
    func rawToPipe() throws {
        let pipe = try Pipe()
        defer { close(pipe.read) }
        let finish = Finish()
        let sink = StdoutSink(fd: pipe.write, format: .raw, limit: nil, onFinished: finish.record)
        #expect(sink.push(makeBatch(Self.messages)).accepted)
        sink.finish()
        close(pipe.write)
        let expected: [UInt8] = Self.messages.flatMap { $0.payload + [UInt8(0x0A)] }
        #expect(readToEnd(pipe.read) == expected)
        #expect(finish.all == [.drained])
    }

    @Test("a limit stops after exactly N messages, across batches, and reports countReached")
    func limitStops() async throws {
        let pipe = try Pipe()
        defer { close(pipe.read) }
        let finish = Finish()
        let sink = StdoutSink(fd: pipe.write, format: .json, limit: 4, onFinished: finish.record)
        #expect(sink.push(makeBatch(Array(Self.messages[0..<3]))).accepted)
        #expect(sink.push(makeBatch(Array(Self.messages[3...]))).accepted)
        #expect(await waitFor { !finish.all.isEmpty })
        #expect(finish.all == [.countReached])
        #expect(sink.writtenCount == 4)
        // The sink is finished: further batches are refused.
        #expect(!sink.push(makeBatch(Self.messages)).accepted)
        sink.finish()
        close(pipe.write)
        #expect(Self.lines(readToEnd(pipe.read)) == Self.messages[0..<4].map { String(jsonLine($0).dropLast()) })
        #expect(finish.all == [.countReached])
    }

    @Test("a limit reached in the middle of a batch writes nothing after it")
    func limitInsideBatch() async throws {
        let pipe = try Pipe()
        defer { close(pipe.read) }
        let finish = Finish()
        let sink = StdoutSink(fd: pipe.write, format: .raw, limit: 2, onFinished: finish.record)
        #expect(sink.push(makeBatch(Self.messages)).accepted)
        #expect(await waitFor { !finish.all.isEmpty })
        sink.finish()
        close(pipe.write)
        #expect(readToEnd(pipe.read) == Array("first\nsecond \"quoted\"\n".utf8))
        #expect(finish.all == [.countReached])
    }

    @Test("a closed reader (EPIPE) is reported as outputFailed(EPIPE), not a crash")
    func brokenPipe() async throws {
        // The service ignores SIGPIPE process-wide (EventLoop does it before any sink exists); so does this test.
        signal(SIGPIPE, SIG_IGN)
        let pipe = try Pipe()
        close(pipe.read)
        defer { close(pipe.write) }
        let finish = Finish()
        let sink = StdoutSink(fd: pipe.write, format: .json, limit: nil, onFinished: finish.record)
        #expect(sink.push(makeBatch(Self.messages)).accepted)
        #expect(await waitFor { !finish.all.isEmpty })
        #expect(finish.all == [.outputFailed(EPIPE)])
        #expect(!sink.push(makeBatch(Self.messages)).accepted)
        sink.finish()
        #expect(finish.all.count == 1)
    }

    @Test("finish with nothing queued reports drained and writes nothing")
    func finishEmpty() throws {
        let pipe = try Pipe()
        defer { close(pipe.read) }
        let finish = Finish()
        let sink = StdoutSink(fd: pipe.write, format: .json, limit: nil, onFinished: finish.record)
        sink.finish()
        close(pipe.write)
        #expect(readToEnd(pipe.read).isEmpty)
        #expect(finish.all == [.drained])
        #expect(sink.writtenCount == 0)
    }

    @Test("while the writer is blocked on a full pipe, batches beyond the queue limit are dropped and counted")
    func dropsWhileBlocked() async throws {
        let pipe = try Pipe()
        defer { close(pipe.read) }
        let finish = Finish()
        let sink = StdoutSink(fd: pipe.write, format: .raw, limit: nil, maxQueuedBytes: 1000, onFinished: finish.record)
        // Larger than any pipe buffer: the writer blocks in write(2) with nobody reading.
        let big = [UInt8](repeating: UInt8(ascii: "a"), count: 2 << 20)
        #expect(sink.push(makeBatch([RawMessage(channel: Array("c".utf8), payload: big)])).accepted)
        try await Task.sleep(for: .milliseconds(100))
        // Each small batch counts 1 + 267 + 32 = 300 bytes against the 1000-byte limit.
        let small = RawMessage(channel: "c", payload: String(repeating: "b", count: 267))
        let accepted = (0..<10).filter { _ in sink.push(makeBatch([small])).accepted }.count
        #expect(accepted <= 3)
        #expect(sink.droppedMessageCount == 10 - accepted)

        let output = Mutex<[UInt8]?>(nil)
        let reader = pipe.read
        ThreadStarter.detach(name: "test-reader") {
            let bytes = readToEnd(reader)
            output.withLock { $0 = bytes }
        }
        sink.finish()
        close(pipe.write)
        #expect(await waitFor(timeout: .seconds(20)) { output.withLock { $0 } != nil })
        let expected: [UInt8] = big + [0x0A] + Array(repeating: small.payload + [UInt8(0x0A)], count: accepted).flatMap { $0 }
        #expect(output.withLock { $0 } == expected)
        #expect(sink.writtenCount == 1 + accepted)
        #expect(finish.all == [.drained])
    }
}
