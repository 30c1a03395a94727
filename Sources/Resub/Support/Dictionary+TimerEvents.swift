import LibeventLoop

extension Dictionary where Key == Int, Value == TimerEvent {
    /// Cancels every armed timer and returns their ids, for a driver whose state machine should act now as if
    /// they had all expired (the machine ignores the ids it no longer waits for).
    mutating func cancelAllForFiringNow() -> [Int] {
        let armed = self
        removeAll()
        for timer in armed.values { timer.cancel() }
        return Array(armed.keys)
    }
}
