/// How reconnect delays grow.
public struct BackoffConfiguration: Sendable, Hashable {
    /// The smallest delay, and the first delay's upper bound.
    public var minimum: Duration
    /// The largest delay.
    public var maximum: Duration
    /// How much the upper bound grows per failed attempt.
    public var multiplier: Double
    /// A connection that stays healthy this long resets the attempt count.
    public var resetAfter: Duration

    /// Defaults: 0.1 s to 10 s, doubling, reset after 30 s of health.
    public init(minimum: Duration = .milliseconds(100), maximum: Duration = .seconds(10), multiplier: Double = 2, resetAfter: Duration = .seconds(30)) {
        self.minimum = minimum
        self.maximum = maximum
        self.multiplier = multiplier
        self.resetAfter = resetAfter
    }
}

/// Exponential backoff with full jitter, as a pure function of the attempt, the configuration and a random
/// source: attempt `n` (from 0) waits a uniformly random time between `minimum` and
/// `min(maximum, minimum × multiplierⁿ)`.
public enum Backoff {
    /// The upper bound of attempt `attempt`'s delay.
    public static func ceiling(attempt: Int, configuration c: BackoffConfiguration) -> Duration {
        let minSeconds = c.minimum.seconds
        let maxSeconds = max(c.maximum.seconds, minSeconds)
        let grown = minSeconds * pow(c.multiplier, Double(max(0, min(attempt, 64))))
        return .seconds(min(maxSeconds, grown.isFinite ? grown : maxSeconds))
    }

    /// The delay before attempt `attempt` (0 = the first retry).
    public static func delay<R: RandomNumberGenerator>(
        attempt: Int, configuration c: BackoffConfiguration, random: inout R
    ) -> Duration {
        let low = c.minimum.seconds
        let high = ceiling(attempt: attempt, configuration: c).seconds
        guard high > low else { return .seconds(low) }
        return .seconds(Double.random(in: low...high, using: &random))
    }

    private static func pow(_ base: Double, _ exponent: Double) -> Double {
        var result = 1.0
        var i = 0.0
        while i < exponent {
            result *= base
            i += 1
            if !result.isFinite { break }
        }
        return result
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    package var seconds: Double {
        let (s, a) = components
        return Double(s) + Double(a) / 1e18
    }
}

extension Duration {
    /// A short human form for logs: `850µs`, `12.3ms`, `2.50s`.
    package var short: String {
        let s = seconds
        func fixed(_ v: Double, _ digits: Int) -> String {
            var scale = 1.0
            for _ in 0..<digits { scale *= 10 }
            let r = (v * scale).rounded() / scale
            var text = String(r)
            if let dot = text.firstIndex(of: ".") {
                let decimals = text.distance(from: dot, to: text.endIndex) - 1
                if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
            }
            return text
        }
        if s < 0.001 { return "\(Int((s * 1e6).rounded()))µs" }
        if s < 1 { return fixed(s * 1000, 1) + "ms" }
        return fixed(s, 2) + "s"
    }
}
