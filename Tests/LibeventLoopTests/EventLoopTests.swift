#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LibeventLoop
import Testing

/// The loop thread and its inbox: where work runs, in what order, and what happens at shutdown.
@Suite("Event loop")
struct EventLoopTests {
    private struct TestFailure: Error, Equatable {}

    @Test("work from another thread runs on the loop thread, which is named and is not the caller")
    func executeRunsOnLoop() async {
        await withLoop(name: "loop-under-test") { loop in
            #expect(!loop.inLoop)
            let seen = Locked<(inLoop: Bool, name: String, tid: Int32)?>(nil)
            loop.execute {
                seen.mutate { $0 = (loop.inLoop, currentThreadName(), currentThreadID()) }
            }
            #expect(await eventually { seen.value != nil })
            #expect(seen.value?.inLoop == true)
            #expect(seen.value?.name == "loop-under-test")
            #expect(seen.value?.tid != currentThreadID())
            #expect(!loop.inLoop)
        }
    }

    @Test("10,000 items from 4 threads all run on the loop, each producer's in the order it sent them")
    func fifoPerProducer() async {
        await withLoop { loop in
            let producers = 4, perProducer = 2500
            let log = Locked<[(producer: Int, item: Int)]>([])
            let offLoop = Locked(0)
            for p in 0..<producers {
                ThreadStarter.detach(name: "test-producer") {
                    for i in 0..<perProducer {
                        loop.execute {
                            if !loop.inLoop { offLoop.mutate { $0 += 1 } }
                            log.mutate { $0.append((p, i)) }
                        }
                    }
                }
            }
            #expect(await eventually(timeout: .seconds(30)) { log.value.count == producers * perProducer })
            #expect(offLoop.value == 0)
            let entries = log.value
            for p in 0..<producers {
                #expect(entries.filter { $0.producer == p }.map(\.item) == Array(0..<perProducer), "producer \(p)")
            }
        }
    }

    @Test("work from a single thread runs in exactly the order it was queued")
    func fifoSingleProducer() async {
        await withLoop { loop in
            let log = Locked<[Int]>([])
            for i in 0..<5000 { loop.execute { log.mutate { $0.append(i) } } }
            #expect(await eventually { log.value.count == 5000 })
            #expect(log.value == Array(0..<5000))
        }
    }

    @Test("work queued from inside the loop runs after the current work, not inline")
    func nestedExecuteIsDeferred() async {
        await withLoop { loop in
            let log = Locked<[String]>([])
            loop.execute {
                loop.execute { log.mutate { $0.append("inner") } }
                log.mutate { $0.append("outer") }
            }
            #expect(await eventually { log.value.count == 2 })
            #expect(log.value == ["outer", "inner"])
        }
    }

    @Test("submit returns the body's value, computed on the loop")
    func submitReturnsValue() async throws {
        try await withLoop { loop in
            let value = try await loop.submit { loop.inLoop ? 42 : -1 }
            #expect(value == 42)
            let text = try await loop.submit { String(repeating: "ab", count: 3) }
            #expect(text == "ababab")
        }
    }

    @Test("submit rethrows the body's error")
    func submitRethrows() async {
        await withLoop { loop in
            await #expect(throws: TestFailure.self) {
                _ = try await loop.submit { () throws -> Int in throw TestFailure() }
            }
        }
    }

    @Test("many concurrent submits each get their own result")
    func concurrentSubmits() async throws {
        try await withLoop { loop in
            let results = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for i in 0..<200 {
                    group.addTask { (i, try await loop.submit { i * i }) }
                }
                var all: [Int: Int] = [:]
                for try await (i, square) in group { all[i] = square }
                return all
            }
            #expect(results.count == 200)
            #expect(results.allSatisfy { $0.value == $0.key * $0.key })
        }
    }

    // MARK: Shutdown

    @Test("shutdown runs the work queued before it, then the loop thread is gone")
    func shutdownDrainsAndJoins() async {
        let loop = EventLoop(name: "short-lived")
        let count = Locked(0)
        let tid = Locked<Int32>(0)
        loop.execute { tid.mutate { $0 = currentThreadID() } }
        for _ in 0..<1000 { loop.execute { count.mutate { $0 += 1 } } }
        #expect(!loop.isShutDown)
        loop.shutdown()
        #expect(loop.isShutDown)
        #expect(count.value == 1000)
        #expect(tid.value != 0)
        // The thread has been joined: the kernel no longer lists it among this process's tasks. The join returns
        // when the kernel clears the thread's id at exit, a moment before it removes the task: up to 500 ms.
        var listed = access("/proc/self/task/\(tid.value)", F_OK) == 0
        for _ in 0..<50 where listed {
            try? await Task.sleep(for: .milliseconds(10))
            listed = access("/proc/self/task/\(tid.value)", F_OK) == 0
        }
        #expect(!listed, "the joined loop thread \(tid.value) is still listed after 500 ms")
    }

    @Test("work submitted after shutdown runs at once on the calling thread")
    func executeAfterShutdownRunsInline() async throws {
        let loop = EventLoop()
        loop.shutdown()
        let ranOn = Locked<Int32?>(nil)
        loop.execute { ranOn.mutate { $0 = currentThreadID() } }
        // Inline: already done when execute returns.
        #expect(ranOn.value == currentThreadID())
        #expect(!loop.inLoop)
        // submit still completes instead of hanging.
        #expect(try await loop.submit { 7 } == 7)
    }

    @Test("a second shutdown is harmless")
    func shutdownTwice() {
        let loop = EventLoop()
        loop.shutdown()
        loop.shutdown()
        #expect(loop.isShutDown)
    }

    @Test("an idle loop does not exit on its own: work queued after a pause still runs")
    func idleLoopStaysUp() async {
        await withLoop { loop in
            try? await Task.sleep(for: .milliseconds(100))
            let ran = Locked(false)
            loop.execute { ran.mutate { $0 = true } }
            #expect(await eventually { ran.value })
        }
    }

    // MARK: Signals

    @Test("a signal arrives as an event on the loop thread")
    func signalEvent() async throws {
        try await withLoop { loop in
            let received = Locked<[Int32]>([])
            let onLoop = Locked(true)
            let handle = try await loop.submit {
                loop.onSignal(SIGUSR2) { signal in
                    if !loop.inLoop { onLoop.mutate { $0 = false } }
                    received.mutate { $0.append(signal) }
                }
            }
            kill(getpid(), SIGUSR2)
            #expect(await eventually { received.value == [SIGUSR2] })
            #expect(onLoop.value)
            #expect(handle.signal == SIGUSR2)
            try await loop.submit { handle.cancel() }
        }
    }
}
