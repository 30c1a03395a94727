import Resub
import Testing

/// How the sharded manager answers a change that went to several links (a node-local name goes to every master).
@Suite("Sharded manager answers")
struct ShardedAnswerTests {
    private func result(confirmed: [String] = [], queued: [String] = [], refused: [(String, String)] = []) -> SubscriptionChangeResult {
        var result = SubscriptionChangeResult()
        result.confirmed = confirmed
        result.queued = queued
        result.refused = refused.map { SubscriptionChangeResult.Refusal(name: $0.0, error: $0.1) }
        return result
    }

    @Test("a name confirmed by all three masters' links is confirmed once; queued by one of them, it is queued")
    func allOrQueued() {
        let change = SubscriptionChange(.pattern, ["__keyspace@0__:a*", "__keyspace@0__:b*"], subscribe: true)
        let merged = result(
            confirmed: ["__keyspace@0__:a*", "__keyspace@0__:a*", "__keyspace@0__:a*", "__keyspace@0__:b*", "__keyspace@0__:b*"],
            queued: ["__keyspace@0__:b*"])
        let answer = ShardedManager.answer(change, from: merged)
        #expect(answer.confirmed == ["__keyspace@0__:a*"])
        #expect(answer.queued == ["__keyspace@0__:b*"])
        #expect(answer.refused.isEmpty)
    }

    @Test("a refusal by any link wins, once; a name no link answered is queued for a subscribe, confirmed for a removal")
    func refusedAndUnanswered() {
        let merged = result(confirmed: ["x"], refused: [("x", "NOPERM"), ("x", "NOPERM")])
        let answer = ShardedManager.answer(SubscriptionChange(.channel, ["x", "y"], subscribe: true), from: merged)
        #expect(answer.refused == [SubscriptionChangeResult.Refusal(name: "x", error: "NOPERM")])
        #expect(answer.queued == ["y"])
        #expect(answer.confirmed.isEmpty)
        let removal = ShardedManager.answer(SubscriptionChange(.shardChannel, ["p", "q"], subscribe: false), from: result(queued: ["p"]))
        #expect(removal.confirmed == ["p", "q"])
        #expect(removal.queued.isEmpty)
    }
}
