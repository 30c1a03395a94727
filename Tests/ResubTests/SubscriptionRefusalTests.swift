import Resub
import Testing
import TestSupport

/// Refusals (e.g. NOPERM from an ACL): isolating the refused names of a batch, keeping or dropping them,
/// retrying them on their own backoff, and the per-name answers of the one change path.
@Suite("Subscription refusals")
struct SubscriptionRefusalTests {
    typealias Machine = SubscriptionStateMachine<ManualInstant>
    typealias Command = Machine.Command

    static let noperm = "NOPERM User limited has no permissions to access the 'payments' channel"
    static let backoff = BackoffConfiguration(minimum: .milliseconds(100), maximum: .seconds(1))

    static func milliseconds(_ duration: Duration) -> Int { Int((duration.seconds * 1000).rounded()) }

    /// A connected machine with `desired` configured, its replay sent; returns the replay commands.
    static func replaying(_ desired: SubscriptionSet, batchSize: Int = 1000) -> (Machine, [Command]) {
        var m = Machine(desired: desired, batchSize: batchSize, retryBackoff: backoff)
        let commands = m.connected().commands
        return (m, commands)
    }

    /// Answers commands as an ACL that forbids `forbidden` would: Redis refuses a whole command naming one.
    /// Returns everything the machine asked for next, with the outputs merged.
    static func serve(
        _ m: inout Machine, _ commands: [Command], forbidden: Set<String>, now: ManualInstant,
        outputs: inout [Machine.Output]
    ) {
        var queue = commands
        while !queue.isEmpty {
            let command = queue.removeFirst()
            let output = m.names(command).contains(where: forbidden.contains)
                ? m.refused(command, error: noperm, now: now)
                : m.completed(command)
            outputs.append(output)
            queue += output.commands
        }
    }

    @Test("a refused batch is resent name by name: the refused name is isolated and the rest confirmed")
    func isolation() throws {
        let (machine, replay) = Self.replaying(SubscriptionSet(channels: ["orders.a", "orders.b", "payments"]))
        var m = machine
        #expect(replay.count == 1)
        let singles = m.refused(replay[0], error: Self.noperm, now: .zero)
        #expect(singles.commands.map(\.rows.count) == [1, 1, 1], "each name resent alone")
        #expect(Set(singles.commands.flatMap { m.names($0) }) == ["orders.a", "orders.b", "payments"])
        #expect(!singles.replayCompleted && singles.refusals.isEmpty, "nothing is known to be refused yet")
        var outputs: [Machine.Output] = []
        Self.serve(&m, singles.commands, forbidden: ["payments"], now: .zero, outputs: &outputs)
        #expect(m.confirmed.channels == ["orders.a", "orders.b"])
        #expect(m.desired.channels == ["orders.a", "orders.b", "payments"], "a configured name stays desired")
        #expect(m.refusals == [SubscriptionRefusal(kind: .channel, name: "payments", error: Self.noperm)])
        #expect(outputs.flatMap(\.refusals).map(\.name) == ["payments"], "reported once")
        #expect(outputs.filter(\.replayCompleted).count == 1, "the replay completes despite the refusal (no reconnect)")
        #expect(m.isFullyConfirmed)
    }

    @Test("a refused name is retried on its own backoff, reported once, and its ceiling grows to the maximum")
    func retryBackoff() throws {
        let (machine, replay) = Self.replaying(SubscriptionSet(channels: ["orders.a", "payments"]))
        var m = machine
        var clock = ManualClock()
        var outputs: [Machine.Output] = []
        Self.serve(&m, replay, forbidden: ["payments"], now: clock.now, outputs: &outputs)
        #expect(m.nextRetry.map { Self.milliseconds(clock.now.duration(to: $0)) } == 100)
        #expect(m.retryDue(now: clock.now).commands.isEmpty, "not due yet")
        var delays: [Duration] = []
        for _ in 0..<6 {
            let due = try #require(m.nextRetry)
            delays.append(clock.now.duration(to: due))
            clock.advance(to: due)
            let retry = m.retryDue(now: clock.now)
            #expect(retry.commands.count == 1)
            #expect(retry.commands.first.map { m.names($0) } == ["payments"])
            #expect(m.nextRetry == nil, "no second retry while one is in flight")
            Self.serve(&m, retry.commands, forbidden: ["payments"], now: clock.now, outputs: &outputs)
        }
        #expect(delays.map(Self.milliseconds) == [100, 200, 400, 800, 1000, 1000])
        #expect(outputs.flatMap(\.refusals).count == 1, "one report per refusal, not per retry")
        #expect(m.confirmed.channels == ["orders.a"], "the allowed name is served throughout")
    }

    @Test("a permission granted later is picked up by the next retry, with no reconnect")
    func restored() throws {
        let (machine, replay) = Self.replaying(SubscriptionSet(channels: ["orders.a", "payments"]))
        var m = machine
        var outputs: [Machine.Output] = []
        Self.serve(&m, replay, forbidden: ["payments"], now: .zero, outputs: &outputs)
        let due = try #require(m.nextRetry)
        let retry = m.retryDue(now: due)
        outputs = []
        Self.serve(&m, retry.commands, forbidden: [], now: due, outputs: &outputs)
        #expect(outputs.flatMap(\.restored).map(\.name) == ["payments"])
        #expect(m.refusals.isEmpty)
        #expect(m.nextRetry == nil)
        #expect(m.confirmed.channels == ["orders.a", "payments"])
    }

    @Test("refused names are left out of the replay after a reconnect and keep their retry")
    func reconnectKeepsRefusal() throws {
        let (machine, replay) = Self.replaying(SubscriptionSet(channels: ["orders.a", "payments"]))
        var m = machine
        var outputs: [Machine.Output] = []
        Self.serve(&m, replay, forbidden: ["payments"], now: .zero, outputs: &outputs)
        _ = m.disconnected()
        #expect(m.refusals.map(\.name) == ["payments"])
        let again = m.connected()
        #expect(again.commands.flatMap { m.names($0) } == ["orders.a"])
        #expect(m.nextRetry != nil)
        outputs = []
        Self.serve(&m, again.commands, forbidden: ["payments"], now: .zero, outputs: &outputs)
        #expect(outputs.flatMap(\.refusals).isEmpty, "no new report on reconnect")
    }

    @Test("a live change is answered per name: confirmed, refused with the server's text (and dropped)")
    func liveChangeResult() throws {
        let (machine, replay) = Self.replaying(SubscriptionSet(channels: ["orders.a"]))
        var m = machine
        var outputs: [Machine.Output] = []
        Self.serve(&m, replay, forbidden: [], now: .zero, outputs: &outputs)
        let (ticket, output) = m.apply(SubscriptionChange(.channel, ["orders.b", "payments", "orders.a"], subscribe: true), now: .zero)
        #expect(output.finished.isEmpty)
        outputs = [output]
        Self.serve(&m, output.commands, forbidden: ["payments"], now: .zero, outputs: &outputs)
        let finished = try #require(outputs.flatMap(\.finished).first)
        #expect(finished.ticket == ticket)
        #expect(Set(finished.result.confirmed) == ["orders.a", "orders.b"])
        #expect(finished.result.queued.isEmpty)
        #expect(finished.result.refused == [SubscriptionChangeResult.Refusal(name: "payments", error: Self.noperm)])
        #expect(m.desired.channels == ["orders.a", "orders.b"], "a refused live request leaves the desired set")
        #expect(m.refusals.isEmpty, "and is not retried: its caller was told")
    }

    @Test("a change while disconnected is answered at once as queued; the replay applies it")
    func queuedWhileDown() throws {
        var m = Machine(retryBackoff: Self.backoff)
        let (ticket, output) = m.apply(SubscriptionChange(.pattern, ["p.*"], subscribe: true), now: .zero)
        #expect(output.commands.isEmpty)
        #expect(output.finished.map(\.ticket) == [ticket])
        #expect(output.finished.first?.result.queued == ["p.*"])
        let replay = m.connected().commands
        #expect(replay.flatMap { m.names($0) } == ["p.*"])
    }

    @Test("a change waiting for the server when the link drops is answered with its names queued")
    func queuedOnDisconnect() throws {
        var (m, _) = Self.replaying(SubscriptionSet())
        let (ticket, output) = m.apply(SubscriptionChange(.channel, ["x", "y"], subscribe: true), now: .zero)
        #expect(output.commands.count == 1)
        let down = m.disconnected()
        #expect(down.finished.map(\.ticket) == [ticket])
        #expect(Set(down.finished.first?.result.queued ?? []) == ["x", "y"])
        #expect(m.desired.channels == ["x", "y"])
        #expect(m.completed(output.commands[0]).finished.isEmpty, "a stale confirmation is ignored")
    }

    @Test("routing refusals (MOVED) are not isolated or retried: the names are queued for re-routing")
    func routing() throws {
        let (machine, replay) = Self.replaying(SubscriptionSet(shardChannels: ["{a}1", "{a}2"]))
        var m = machine
        let output = m.refused(replay[0], error: "MOVED 1234 127.0.0.1:7001", now: .zero)
        #expect(output.commands.isEmpty)
        #expect(output.refusals.map(\.name).sorted() == ["{a}1", "{a}2"])
        #expect(output.replayCompleted)
        #expect(m.refusals.isEmpty && m.nextRetry == nil)
        #expect(m.requested.isEmpty)
    }
}
