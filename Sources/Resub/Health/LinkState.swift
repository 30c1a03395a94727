/// The health of one link, as logged and exported.
public enum LinkState: String, Sendable, Hashable, CaseIterable {
    /// Not started yet.
    case idle
    /// Opening the socket (DNS and TCP/Unix connect).
    case connecting
    /// Connected; HELLO / AUTH / SETNAME in progress.
    case handshaking
    /// Logged in; replaying every desired subscription and counting the confirmations.
    case replaying
    /// Every desired subscription confirmed; PINGed when idle.
    case healthy
    /// Declared dead (closed); waiting for the backoff delay before the next attempt.
    case waitingToReconnect = "waiting-to-reconnect"
    /// Shut down; nothing more will happen.
    case stopped
}

/// What the health monitor watches for.
public struct HealthConfiguration: Sendable, Hashable {
    /// A link idle (nothing received) this long is sent a PING.
    public var pingInterval: Duration
    /// No byte of any kind within this long after a PING (or, while handshaking, after the interval) and
    /// the link is dead.
    public var pingTimeout: Duration
    /// Reconnect delays.
    public var backoff: BackoffConfiguration

    /// Defaults: PING after 5 s idle, dead 3 s later; backoff 0.1 s to 10 s.
    public init(pingInterval: Duration = .seconds(5), pingTimeout: Duration = .seconds(3), backoff: BackoffConfiguration = .init()) {
        self.pingInterval = pingInterval
        self.pingTimeout = pingTimeout
        self.backoff = backoff
    }
}
