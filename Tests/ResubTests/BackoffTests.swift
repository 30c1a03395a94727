import TestSupport
import Resub
import Testing

/// Reconnect delays: floor, cap, growth, jitter and determinism, with a seeded random source.
@Suite("Backoff")
struct BackoffTests {
    private static let standard = BackoffConfiguration(minimum: .milliseconds(100), maximum: .seconds(10), multiplier: 2)

    private static func delays(seed: UInt64, attempts: some Sequence<Int>, configuration: BackoffConfiguration = standard) -> [Duration] {
        var rng = SplitMix64(seed: seed)
        return attempts.map { Backoff.delay(attempt: $0, configuration: configuration, random: &rng) }
    }

    @Test("no delay is ever below the minimum")
    func floor() {
        var rng = SplitMix64(seed: 7)
        for attempt in 0..<40 {
            for _ in 0..<200 {
                #expect(Backoff.delay(attempt: attempt, configuration: Self.standard, random: &rng) >= .milliseconds(100))
            }
        }
    }

    @Test("no delay is ever above the maximum, even at attempt 1000 or Int.max", arguments: [10, 64, 65, 1000, Int.max])
    func cap(attempt: Int) {
        var rng = SplitMix64(seed: UInt64(truncatingIfNeeded: attempt))
        #expect(Backoff.ceiling(attempt: attempt, configuration: Self.standard) == .seconds(10))
        for _ in 0..<500 {
            let delay = Backoff.delay(attempt: attempt, configuration: Self.standard, random: &rng)
            #expect(delay <= .seconds(10))
            #expect(delay >= .milliseconds(100))
        }
    }

    @Test("the ceiling starts at the minimum and doubles per attempt until the maximum")
    func ceilingDoubles() {
        let expected: [Double] = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10, 10, 10]
        for (attempt, seconds) in expected.enumerated() {
            let ceiling = Backoff.ceiling(attempt: attempt, configuration: Self.standard).seconds
            #expect(abs(ceiling - seconds) < 1e-9, "attempt \(attempt): \(ceiling) s")
        }
    }

    @Test("the ceiling follows the configured multiplier")
    func ceilingMultiplier() {
        let config = BackoffConfiguration(minimum: .milliseconds(10), maximum: .seconds(60), multiplier: 3)
        let ceilings = (0..<5).map { Backoff.ceiling(attempt: $0, configuration: config).seconds }
        for (ceiling, expected) in zip(ceilings, [0.01, 0.03, 0.09, 0.27, 0.81]) {
            #expect(abs(ceiling - expected) < 1e-9)
        }
    }

    @Test("a negative attempt is treated as the first")
    func negativeAttempt() {
        #expect(Backoff.ceiling(attempt: -5, configuration: Self.standard) == Backoff.ceiling(attempt: 0, configuration: Self.standard))
    }

    @Test("the first attempt waits exactly the minimum, since its ceiling is the minimum")
    func firstAttemptIsMinimum() {
        #expect(Self.delays(seed: 1, attempts: Array(repeating: 0, count: 50)).allSatisfy { $0 == .milliseconds(100) })
    }

    @Test("each attempt's delays stay between the minimum and that attempt's ceiling")
    func delayWithinCeiling() {
        var rng = SplitMix64(seed: 99)
        for attempt in 1..<12 {
            let ceiling = Backoff.ceiling(attempt: attempt, configuration: Self.standard)
            for _ in 0..<200 {
                let delay = Backoff.delay(attempt: attempt, configuration: Self.standard, random: &rng)
                #expect(delay >= .milliseconds(100) && delay <= ceiling, "attempt \(attempt): \(delay)")
            }
        }
    }

    @Test("jitter at a high attempt spreads over nearly all of minimum…maximum")
    func jitterSpread() {
        let samples = Self.delays(seed: 12345, attempts: Array(repeating: 30, count: 1000)).map(\.seconds)
        let low = 0.1, high = 10.0, span = high - low
        let smallest = samples.min()!, largest = samples.max()!
        #expect(smallest >= low && smallest <= low + 0.1 * span)
        #expect(largest <= high && largest >= high - 0.1 * span)
        // Ten equal buckets each get a fair share (100 expected) of the thousand draws.
        var buckets = [Int](repeating: 0, count: 10)
        for s in samples { buckets[min(9, Int((s - low) / span * 10))] += 1 }
        #expect(buckets.allSatisfy { $0 >= 60 }, "buckets \(buckets)")
        #expect(Set(samples).count > 990, "draws should almost never repeat")
    }

    @Test("the same seed gives the same delays; another seed gives others")
    func determinism() {
        let attempts = Array(0..<100).map { $0 % 12 }
        let first = Self.delays(seed: 2024, attempts: attempts)
        #expect(first == Self.delays(seed: 2024, attempts: attempts))
        #expect(first != Self.delays(seed: 2025, attempts: attempts))
    }

    @Test("a minimum equal to the maximum gives that constant at every attempt")
    func constantWhenEqual() {
        let config = BackoffConfiguration(minimum: .milliseconds(250), maximum: .milliseconds(250))
        #expect(Self.delays(seed: 3, attempts: [0, 1, 2, 10, 1000, Int.max], configuration: config).allSatisfy { $0 == .milliseconds(250) })
    }

    @Test("a multiplier of one keeps the delay at the minimum")
    func multiplierOne() {
        let config = BackoffConfiguration(minimum: .milliseconds(300), maximum: .seconds(5), multiplier: 1)
        #expect(Self.delays(seed: 4, attempts: 0..<50, configuration: config).allSatisfy { $0 == .milliseconds(300) })
    }

    @Test("a maximum below the minimum is ignored: the delay is the minimum")
    func maximumBelowMinimum() {
        let config = BackoffConfiguration(minimum: .seconds(2), maximum: .seconds(1))
        #expect(Self.delays(seed: 5, attempts: 0..<20, configuration: config).allSatisfy { $0 == .seconds(2) })
    }

    @Test("the defaults are 0.1 s to 10 s, doubling, reset after 30 s")
    func defaults() {
        let config = BackoffConfiguration()
        #expect(config.minimum == .milliseconds(100))
        #expect(config.maximum == .seconds(10))
        #expect(config.multiplier == 2)
        #expect(config.resetAfter == .seconds(30))
    }
}
