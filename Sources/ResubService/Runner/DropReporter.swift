import Logging

/// Counts messages the sink could not take and logs them at most once a second. Loop thread only.
final class DropReporter: @unchecked Sendable {
    private let logger: Logger
    private var total = 0
    private var unreported = 0
    private var lastReport = ContinuousClock.now - .seconds(10)

    init(logger: Logger) { self.logger = logger }

    func dropped(_ count: Int) {
        total += count
        unreported += count
        let now = ContinuousClock.now
        guard now - lastReport >= .seconds(1) else { return }
        lastReport = now
        logger.warning("sink queue full: messages dropped", metadata: ["dropped": "\(unreported)", "dropped_total": "\(total)"])
        unreported = 0
    }
}
