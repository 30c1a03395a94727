import Resub
import ResubService
import Testing

/// The `--emit-gaps` JSON line.
@Suite("Gap record")
struct GapRecordTests {
    @Test("a gap is one JSON line with its node, times and every name it covered, sorted per kind")
    func encode() throws {
        let gap = Gap(from: 0, to: 1.5, node: "127.0.0.1:6379",
                      subscriptions: SubscriptionSet(channels: ["b", "a\"q"], patterns: ["p.*"]))
        #expect(gap.subscriptionCount == 3)
        let line = String(decoding: GapRecord.encode(gap), as: UTF8.self)
        #expect(line == #"{"type":"gap","from":"1970-01-01T00:00:00.000Z","to":"1970-01-01T00:00:01.500Z","node":"127.0.0.1:6379","channels":["a\"q","b"],"patterns":["p.*"],"shard_channels":[]}"# + "\n")
    }
}
