import LibeventLoop
import RESP
import Resub
import Testing
import TestSupport

/// Finding the master through the sentinels: order, skipping, backoff, switches and stale sentinels, with no
/// sockets (the machine's actions are read, its inputs made up).
@Suite("Sentinel resolution")
struct SentinelResolutionStateMachineTests {
    typealias Machine = SentinelResolutionStateMachine<SeededRandom>
    static let s1 = SocketAddress.tcp(host: "10.0.0.1", port: 26379)
    static let s2 = SocketAddress.tcp(host: "10.0.0.2", port: 26379)
    static let s3 = SocketAddress.tcp(host: "10.0.0.3", port: 26379)
    static let m1 = SocketAddress.tcp(host: "10.0.1.1", port: 6379)
    static let m2 = SocketAddress.tcp(host: "10.0.1.2", port: 6379)
    static let backoff = BackoffConfiguration(minimum: .milliseconds(100), maximum: .seconds(10), multiplier: 2)

    static func machine(_ sentinels: [SocketAddress] = [s1, s2, s3]) -> Machine {
        Machine(sentinels: sentinels, queryTimeout: .seconds(1), backoff: backoff, random: SeededRandom(seed: 1))
    }

    /// The sentinel and query of the one `.ask` in `actions`.
    static func asked(_ actions: [Machine.Action]) -> (SocketAddress, Int)? {
        for case .ask(let sentinel, let query) in actions { return (sentinel, query) }
        return nil
    }

    static func timers(_ actions: [Machine.Action]) -> [Machine.Timer] {
        actions.compactMap { if case .schedule(let t) = $0 { t } else { nil } }
    }

    @Test("the first sentinel is asked first, with a query timeout")
    func asksFirst() throws {
        var m = Self.machine()
        let actions = m.resolve()
        let (sentinel, _) = try #require(Self.asked(actions))
        #expect(sentinel == Self.s1)
        #expect(Self.timers(actions).map(\.delay) == [.seconds(1)])
        #expect(m.isAsking)
    }

    @Test("an answer resolves the master and adds the sentinels it knows")
    func answer() throws {
        var m = Self.machine([Self.s1])
        let (_, query) = try #require(Self.asked(m.resolve()))
        let actions = m.answered(query, .master(Self.m1, peers: [Self.s2, Self.s1, Self.s3]))
        #expect(actions == [.resolved(Self.m1)])
        #expect(m.master == Self.m1)
        #expect(m.sentinels == [Self.s1, Self.s2, Self.s3])
        #expect(m.status[Self.s1] == .answered)
        #expect(m.status[Self.s2] == .unasked)
    }

    @Test("a sentinel that is down, does not know the name, or times out is skipped with one action each, in order")
    func skipping() throws {
        var m = Self.machine()
        let (first, q1) = try #require(Self.asked(m.resolve()))
        #expect(first == Self.s1)
        var actions = m.answered(q1, .failed(ResubError(.connectionFailed, "refused")))
        #expect(actions.filter { if case .skipped(Self.s1, _) = $0 { true } else { false } }.count == 1)
        let (second, q2) = try #require(Self.asked(actions))
        #expect(second == Self.s2)
        actions = m.answered(q2, .unknownName)
        #expect(actions.contains { if case .skipped(Self.s2, let reason) = $0 { reason.message.contains("does not know") } else { false } })
        let (third, q3) = try #require(Self.asked(actions))
        #expect(third == Self.s3)
        let timer = try #require(Self.timers(actions).first)
        actions = m.timerFired(timer.id)
        #expect(actions.first == .cancel(query: q3))
        #expect(actions.contains { if case .skipped(Self.s3, let reason) = $0 { reason.code == .timeout } else { false } })
        #expect(!m.isAsking)
        #expect(m.status[Self.s1] != .answered && m.status[Self.s3] != .unasked)
    }

    @Test("the sentinel that answered moves to the front and is asked first next time")
    func answeredMovesFront() throws {
        var m = Self.machine()
        let (_, q1) = try #require(Self.asked(m.resolve()))
        let (_, q2) = try #require(Self.asked(m.answered(q1, .failed(ResubError(.connectionFailed, "refused")))))
        #expect(m.answered(q2, .master(Self.m1, peers: [])) == [.resolved(Self.m1)])
        #expect(m.sentinels == [Self.s2, Self.s1, Self.s3])
        let (next, _) = try #require(Self.asked(m.resolve()))
        #expect(next == Self.s2)
    }

    @Test("when none answers, the next round waits a backoff delay that grows and starts again from the first")
    func backoffRounds() throws {
        var m = Self.machine([Self.s1, Self.s2])
        var actions = m.resolve()
        var delays: [Duration] = []
        for _ in 0..<6 {
            for _ in 0..<2 {
                let (_, q) = try #require(Self.asked(actions))
                actions = m.answered(q, .failed(ResubError(.connectionFailed, "refused")))
            }
            let retry = try #require(actions.compactMap { if case .retryScheduled(_, let d) = $0 { d } else { nil } }.first)
            let timer = try #require(Self.timers(actions).first)
            #expect(timer.delay == retry)
            #expect(retry >= Self.backoff.minimum && retry <= Backoff.ceiling(attempt: delays.count, configuration: Self.backoff))
            delays.append(retry)
            #expect(m.resolve().isEmpty)  // a resolution asked for while waiting is covered by the retry
            actions = m.timerFired(timer.id)
            let (first, _) = try #require(Self.asked(actions))
            #expect(first == Self.s1)
        }
        #expect(m.failedRounds == 6)
        #expect(delays.last! > .milliseconds(800))  // 0.1 s × 2⁵ = 3.2 s ceiling; the floor of the jitter is not reached
        // An answer resets the backoff.
        let (_, q) = try #require(Self.asked(actions))
        _ = m.answered(q, .master(Self.m1, peers: []))
        #expect(m.failedRounds == 0)
    }

    @Test("a resolution in flight covers another request, and stale answers and timers are ignored")
    func coalescing() throws {
        var m = Self.machine()
        let first = m.resolve()
        let (_, q1) = try #require(Self.asked(first))
        #expect(m.resolve().isEmpty)
        let timer = try #require(Self.timers(first).first)
        let (_, q2) = try #require(Self.asked(m.answered(q1, .unknownName)))
        #expect(m.timerFired(timer.id).isEmpty)          // the first query's timer is stale
        #expect(m.answered(q1, .master(Self.m2, peers: [])).isEmpty)  // and so is its answer
        #expect(m.answered(q2, .master(Self.m1, peers: [])) == [.resolved(Self.m1)])
    }

    @Test("+switch-master names the master at once and cancels a query in flight")
    func switchMaster() throws {
        var m = Self.machine()
        let (_, q) = try #require(Self.asked(m.resolve()))
        #expect(m.switched(to: Self.m2) == [.cancel(query: q), .resolved(Self.m2)])
        #expect(m.master == Self.m2)
        #expect(m.answered(q, .master(Self.m1, peers: [])).isEmpty)
    }

    @Test("a master that refuses the role sends the sentinel that named it to the back, and the others are asked")
    func staleSentinel() throws {
        var m = Self.machine()
        let (_, q) = try #require(Self.asked(m.resolve()))
        _ = m.answered(q, .master(Self.m1, peers: []))
        let actions = m.masterRefused(ResubError(.serverError, "ROLE slave"))
        #expect(actions.contains { if case .skipped(Self.s1, _) = $0 { true } else { false } })
        let (next, _) = try #require(Self.asked(actions))
        #expect(next == Self.s2)
        #expect(m.sentinels == [Self.s2, Self.s3, Self.s1])
        #expect(m.master == nil)
    }

    @Test("after stop nothing is asked and a query in flight is cancelled")
    func stop() throws {
        var m = Self.machine()
        let (_, q) = try #require(Self.asked(m.resolve()))
        #expect(m.stop() == [.cancel(query: q)])
        #expect(m.resolve().isEmpty)
        #expect(m.switched(to: Self.m1).isEmpty)
    }
}

/// Sentinel URLs and the Sentinel conversation's replies.
@Suite("Sentinel configuration and replies")
struct SentinelConfigurationTests {
    @Test("redis+sentinel:// lists the sentinels and the master's name; the credentials are the data nodes'")
    func url() throws {
        let (sentinel, data) = try SentinelConfiguration.parse(url: "redis+sentinel://app:s%40cret@10.0.0.1:26379,10.0.0.2,[::1]:26380/mymaster")
        #expect(sentinel.sentinels == [.tcp(host: "10.0.0.1", port: 26379), .tcp(host: "10.0.0.2", port: 26379), .tcp(host: "::1", port: 26380)])
        #expect(sentinel.masterName == "mymaster")
        #expect(sentinel.password == nil && !sentinel.tls)
        #expect(data.username == "app" && data.password == "s@cret" && !data.tls)
        let (tlsSentinel, tlsData) = try SentinelConfiguration.parse(url: "rediss+sentinel://h:26379/m")
        #expect(tlsSentinel.tls && tlsData.tls)
    }

    @Test("a Sentinel URL without a master name or a sentinel is refused", arguments: [
        "redis+sentinel://h1:26379", "redis+sentinel://h1:26379/", "redis+sentinel:///m", "redis+sentinel://h1:99999/m",
    ])
    func badURL(_ url: String) {
        #expect(throws: ResubError.self) { try SentinelConfiguration.parse(url: url) }
    }

    @Test("replies: the master's address, an unknown name, peers in RESP2 and RESP3, ROLE and +switch-master")
    func replies() throws {
        #expect(try SentinelReply.masterAddress(.array([.bulkString(Array("10.0.0.9".utf8)), .bulkString(Array("6380".utf8))])) == .tcp(host: "10.0.0.9", port: 6380))
        #expect(try SentinelReply.masterAddress(.null) == nil)
        #expect(throws: ResubError.self) { try SentinelReply.masterAddress(.error(Array("ERR no".utf8))) }
        func b(_ s: String) -> RESPValue { .bulkString(Array(s.utf8)) }
        let resp2 = RESPValue.array([.array([b("name"), b("x"), b("ip"), b("10.0.0.2"), b("port"), b("26379")])])
        let resp3 = RESPValue.array([.map([RESPPair(b("ip"), b("10.0.0.3")), RESPPair(b("port"), b("26380"))])])
        #expect(SentinelReply.peers(resp2) == [.tcp(host: "10.0.0.2", port: 26379)])
        #expect(SentinelReply.peers(resp3) == [.tcp(host: "10.0.0.3", port: 26380)])
        #expect(SentinelReply.role(.array([b("slave"), b("h"), .integer(1)])) == "slave")
        #expect(SentinelReply.switchedMaster("mymaster 10.0.0.1 6379 10.0.0.2 6380", masterName: "mymaster") == .tcp(host: "10.0.0.2", port: 6380))
        #expect(SentinelReply.switchedMaster("other 10.0.0.1 6379 10.0.0.2 6380", masterName: "mymaster") == nil)
    }
}
