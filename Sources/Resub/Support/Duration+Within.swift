extension Duration {
    /// Runs `operation` in a task of its own and returns `true` when it finished within this duration, or
    /// `false` once the duration passed first (the operation then goes on in the background; a graceful
    /// drain must never hold a shutdown past its deadline).
    package func within(_ operation: @escaping @Sendable () async -> Void) async -> Bool {
        let (outcomes, outcome) = AsyncStream.makeStream(of: Bool.self, bufferingPolicy: .bufferingOldest(1))
        let work = Task {
            await operation()
            outcome.yield(true)
        }
        let timer = Task { [self] in
            try? await Task.sleep(for: self)
            outcome.yield(false)
        }
        var iterator = outcomes.makeAsyncIterator()
        let finished = await iterator.next() ?? false
        timer.cancel()
        outcome.finish()
        _ = work
        return finished
    }
}
