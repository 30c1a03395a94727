/// A point in test time: a ``Duration`` from an arbitrary zero. Nothing advances it but the test, so state
/// machines that are generic over an `InstantProtocol` can be driven step by step, with exact durations.
public struct ManualInstant: InstantProtocol, CustomStringConvertible {
    /// The time since zero.
    public var offset: Duration

    /// The instant `offset` after zero.
    public init(offset: Duration = .zero) {
        self.offset = offset
    }

    /// The zero instant.
    public static let zero = ManualInstant()

    /// The instant `duration` later (earlier when negative).
    public func advanced(by duration: Duration) -> ManualInstant {
        ManualInstant(offset: offset + duration)
    }

    /// The duration from `self` to `other` (negative when `other` is earlier).
    public func duration(to other: ManualInstant) -> Duration {
        other.offset - offset
    }

    /// Orders instants by their offset.
    public static func < (a: ManualInstant, b: ManualInstant) -> Bool {
        a.offset < b.offset
    }

    /// `t+1.5 seconds`, for test failure messages.
    public var description: String { "t+\(offset)" }

    /// The instant `duration` after `instant`.
    public static func + (instant: ManualInstant, duration: Duration) -> ManualInstant {
        instant.advanced(by: duration)
    }

    /// The instant `duration` before `instant`.
    public static func - (instant: ManualInstant, duration: Duration) -> ManualInstant {
        instant.advanced(by: .zero - duration)
    }
}

/// A clock that moves only when told: `now` starts at ``ManualInstant/zero`` and ``advance(by:)`` moves it.
/// A value, not a `Clock`: state-machine tests pass `now` explicitly and never sleep.
public struct ManualClock: Sendable {
    /// The current instant.
    public private(set) var now: ManualInstant

    /// A clock at `start`.
    public init(start: ManualInstant = .zero) {
        now = start
    }

    /// Moves `now` forward by `duration` (which must not be negative) and returns the new instant.
    @discardableResult
    public mutating func advance(by duration: Duration) -> ManualInstant {
        precondition(duration >= .zero, "a manual clock only moves forward")
        now = now + duration
        return now
    }

    /// Moves `now` forward to `instant` (no-op when it is not later) and returns the new `now`.
    @discardableResult
    public mutating func advance(to instant: ManualInstant) -> ManualInstant {
        if instant > now { now = instant }
        return now
    }
}
