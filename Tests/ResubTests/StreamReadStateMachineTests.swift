import RESP
import Resub
import TestSupport
import Testing

private func bulk(_ text: String) -> RESPValue { .bulkString(Array(text.utf8)) }

/// `[id, [f1, v1, …]]`.
private func entry(_ id: String, _ fields: [(String, String)] = [("k", "v")]) -> RESPValue {
    .array([bulk(id), .array(fields.flatMap { [bulk($0.0), bulk($0.1)] })])
}

/// A RESP3 XREAD / XREADGROUP reply: stream to entries.
private func readReply(_ streams: [(String, [RESPValue])]) -> RESPValue {
    .map(streams.map { RESPPair(bulk($0.0), .array($0.1)) })
}

/// An XAUTOCLAIM reply: the next cursor, the claimed entries, the deleted IDs.
private func claimReply(next: String, _ entries: [RESPValue]) -> RESPValue {
    .array([bulk(next), .array(entries), .array([])])
}

private func stored(_ stream: String, _ id: String) -> StreamEntry {
    StreamEntry(stream: stream, id: id, fields: [StreamEntry.Field(name: "k", value: Array("v".utf8))])
}

/// The stream reader's phases as a value: the resume ID of plain XREAD, a group's own pending entries,
/// claiming idle entries, new entries, and pausing.
@Suite("Stream read state machine")
struct StreamReadStateMachineTests {
    typealias Machine = StreamReadStateMachine<ManualInstant>

    static func configuration(
        streams: [(key: String, start: String)], group: StreamReaderConfiguration.Group? = nil
    ) -> StreamReaderConfiguration {
        var configuration = StreamReaderConfiguration(
            endpoint: RedisEndpoint(address: .tcp(host: "127.0.0.1", port: 6379)), streams: streams, group: group)
        configuration.count = 10
        configuration.block = .seconds(2)
        configuration.health = HealthConfiguration(pingInterval: .seconds(5), pingTimeout: .seconds(3))
        return configuration
    }

    @Test("plain XREAD resolves $ once, then reads after the last ID delivered, across reconnects")
    func plainResumeID() {
        var clock = ManualClock()
        var m = Machine(configuration: Self.configuration(streams: [(key: "orders", start: "$"), (key: "audit", start: "0")]))
        #expect(m.unresolved == ["orders"])
        m.resolved("orders", lastID: "7-0")
        #expect(m.unresolved.isEmpty)
        #expect(m.connected(now: clock.now) == [.send(["XREAD", "COUNT", "10", "BLOCK", "2000", "STREAMS", "orders", "audit", "7-0", "0"])])
        #expect(m.next(now: clock.now) == [], "one read at a time")

        let delivered = m.received(readReply([("orders", [entry("8-0"), entry("9-1")])]), now: clock.advance(by: .milliseconds(5)))
        #expect(delivered == [.deliver([stored("orders", "8-0"), stored("orders", "9-1")])])
        #expect(m.lastIDs == ["orders": "9-1", "audit": "0"])
        #expect(m.next(now: clock.now) == [.send(["XREAD", "COUNT", "10", "BLOCK", "2000", "STREAMS", "orders", "audit", "9-1", "0"])])

        m.disconnected()
        #expect(m.phase == .down)
        #expect(m.next(now: clock.now) == [])
        #expect(m.unresolved.isEmpty, "$ is resolved once, not again on reconnect")
        #expect(m.connected(now: clock.now) == [.send(["XREAD", "COUNT", "10", "BLOCK", "2000", "STREAMS", "orders", "audit", "9-1", "0"])])
        #expect(m.received(.null, now: clock.now) == [], "a block that timed out delivers nothing")
        #expect(m.lastIDs["orders"] == "9-1")
    }

    @Test("an empty stream's $ resolves to 0-0, so its first entry is read")
    func emptyStreamResolves() {
        var m = Machine(configuration: Self.configuration(streams: [(key: "orders", start: "$")]))
        m.resolved("orders", lastID: nil)
        #expect(m.lastIDs["orders"] == "0-0")
    }

    @Test("a group reads its own pending entries from 0, then new entries with >")
    func groupPhases() {
        let clock = ManualClock()
        var m = Machine(configuration: Self.configuration(
            streams: [(key: "orders", start: "$")], group: .init(name: "g", consumer: "c1")))
        #expect(m.unresolved.isEmpty, "a group's position is the group's")
        #expect(m.connected(now: clock.now) == [.send(["XREADGROUP", "GROUP", "g", "c1", "COUNT", "10", "STREAMS", "orders", "0"])])
        #expect(m.phase == .ownPending)

        #expect(m.received(readReply([("orders", [entry("3-0"), entry("4-0", [])])]), now: clock.now) == [
            .deliver([stored("orders", "3-0")]),
            .acknowledge([StreamEntry(stream: "orders", id: "4-0", fields: [])]),
        ])
        #expect(m.next(now: clock.now) == [.send(["XREADGROUP", "GROUP", "g", "c1", "COUNT", "10", "STREAMS", "orders", "4-0"])])
        #expect(m.received(readReply([("orders", [])]), now: clock.now) == [])
        #expect(m.phase == .newEntries)
        #expect(m.next(now: clock.now) == [.send(["XREADGROUP", "GROUP", "g", "c1", "COUNT", "10", "BLOCK", "2000", "STREAMS", "orders", ">"])])
        #expect(m.received(readReply([("orders", [entry("5-0")])]), now: clock.now) == [.deliver([stored("orders", "5-0")])])
        #expect(m.lastIDs["orders"] == "4-0", "new entries do not move the pending position")

        m.disconnected()
        #expect(m.connected(now: clock.now) == [.send(["XREADGROUP", "GROUP", "g", "c1", "COUNT", "10", "STREAMS", "orders", "0"])],
                "a reconnect starts again from the group's own pending entries")
    }

    @Test("with claimIdle a group claims idle entries stream by stream after its pending ones, and again every claimIdle")
    func claimIdle() {
        var clock = ManualClock()
        var m = Machine(configuration: Self.configuration(
            streams: [(key: "a", start: "$"), (key: "b", start: "$")],
            group: .init(name: "g", consumer: "c1", claimIdle: .seconds(30))))
        _ = m.connected(now: clock.now)
        #expect(m.received(readReply([("a", []), ("b", [])]), now: clock.now) == [])
        #expect(m.next(now: clock.now) == [.send(["XAUTOCLAIM", "a", "g", "c1", "30000", "0-0", "COUNT", "10"])])
        #expect(m.received(claimReply(next: "12-0", [entry("11-0")]), now: clock.now) == [.deliver([stored("a", "11-0")])])
        #expect(m.phase == .claiming(stream: 0, start: "12-0"))
        #expect(m.next(now: clock.now) == [.send(["XAUTOCLAIM", "a", "g", "c1", "30000", "12-0", "COUNT", "10"])])
        #expect(m.received(claimReply(next: "0-0", []), now: clock.now) == [])
        #expect(m.next(now: clock.now) == [.send(["XAUTOCLAIM", "b", "g", "c1", "30000", "0-0", "COUNT", "10"])])
        #expect(m.received(.error(Array("ERR boom".utf8)), now: clock.now) == [], "a refused claim skips to the next stream")
        #expect(m.phase == .newEntries)
        #expect(m.next(now: clock.now) == [.send(["XREADGROUP", "GROUP", "g", "c1", "COUNT", "10", "BLOCK", "2000", "STREAMS", "a", "b", ">", ">"])])
        _ = m.received(.null, now: clock.advance(by: .seconds(29)))
        #expect(m.next(now: clock.now).first == .send(["XREADGROUP", "GROUP", "g", "c1", "COUNT", "10", "BLOCK", "2000", "STREAMS", "a", "b", ">", ">"]))
        _ = m.received(.null, now: clock.advance(by: .seconds(1)))
        #expect(m.next(now: clock.now) == [.send(["XAUTOCLAIM", "a", "g", "c1", "30000", "0-0", "COUNT", "10"])],
                "claimIdle after the last claim began, claim again")
    }

    @Test("a paused reader sends nothing until resumed, and resuming twice reads once")
    func pause() {
        let clock = ManualClock()
        var m = Machine(configuration: Self.configuration(streams: [(key: "orders", start: "0")]))
        m.pause()
        #expect(m.connected(now: clock.now) == [])
        let read = StreamReadStateMachine<ManualInstant>.Action.send(["XREAD", "COUNT", "10", "BLOCK", "2000", "STREAMS", "orders", "0"])
        #expect(m.resume(now: clock.now) == [read])
        #expect(m.resume(now: clock.now) == [])
        m.pause()
        #expect(m.received(readReply([("orders", [entry("1-0")])]), now: clock.now) == [.deliver([stored("orders", "1-0")])])
        #expect(m.next(now: clock.now) == [], "paused while the entries were handed over")
    }

    @Test("a deleted group is set up again; another refusal fails the connection")
    func refusals() {
        let clock = ManualClock()
        var m = Machine(configuration: Self.configuration(
            streams: [(key: "orders", start: "$")], group: .init(name: "g", consumer: "c1")))
        _ = m.connected(now: clock.now)
        #expect(m.received(.error(Array("NOGROUP No such key".utf8)), now: clock.now) == [.setUpAgain])
        #expect(m.phase == .down)
        _ = m.connected(now: clock.now)
        let actions = m.received(.error(Array("NOPERM no".utf8)), now: clock.now)
        guard case .fail(let error) = actions.first else {
            Issue.record("expected a failure, got \(actions)")
            return
        }
        #expect(error.code == .serverError)
        #expect(error.serverError == "NOPERM no")
    }
}
