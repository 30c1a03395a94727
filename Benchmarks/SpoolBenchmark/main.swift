// Spool throughput: append N request bodies of S bytes (write-ahead, with the spool's fsync policy: write(2)
// per record, fdatasync at most once a second and at close), then reopen the directory and read everything
// back (recovery at start-up). usage: resub-spool-bench [N] [S]
import Foundation
import LibeventLoop
import Logging
import ResubService
import Synchronization

let args = CommandLine.arguments.dropFirst().map { $0 }
let count = args.count > 0 ? Int(args[0])! : 20_000
let size = args.count > 1 ? Int(args[1])! : 64 << 10
let directory = NSTemporaryDirectory() + "resub-spool-bench-\(getpid())"
defer { try? FileManager.default.removeItem(atPath: directory) }
let loop = EventLoop(name: "bench-loop")
let logger = Logger(label: "bench")
let body = [UInt8](repeating: UInt8(ascii: "x"), count: size)

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

let (spool, _) = try Spool.open(directory: directory, maxBytes: Int.max / 2, loop: loop, logger: logger)
let done = DispatchSemaphore(value: 0)
let remaining = Mutex(count)
let t0 = now()
for i in 0..<count {
    spool.append(lane: i % 4, count: 1, id: "msg_bench", body: body) { _ in
        if remaining.withLock({ $0 -= 1; return $0 }) == 0 { done.signal() }
    }
}
done.wait()
spool.close()
let t1 = now()
let megabytes = Double(count * size) / 1e6
print(String(format: "spool append: %d x %d B = %.1f MB in %.3f s = %.0f MB/s (%.0f records/s), closed with fdatasync", count, size, megabytes, t1 - t0, megabytes / (t1 - t0), Double(count) / (t1 - t0)))
let t2 = now()
let (reopened, pending) = try Spool.open(directory: directory, maxBytes: Int.max / 2, loop: loop, logger: logger)
let t3 = now()
precondition(pending.count == count, "replay found \(pending.count) of \(count)")
print(String(format: "spool replay (reopen, read and verify every record; the first 16 MiB kept in memory): %.1f MB in %.3f s = %.0f MB/s", megabytes, t3 - t2, megabytes / (t3 - t2)))
reopened.close()
loop.shutdown()
