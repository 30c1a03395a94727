import RESP
import Testing
import TestSupport

/// One confirmation handed out by the fast path, copied out of its view.
private struct DeliveredConfirmation: Equatable {
    var verb: String
    var name: [UInt8]
    var count: Int64
}

/// The wire verb of a confirmation, spelled back from the view's kind and direction.
private func verb(_ kind: MessageKind, subscribe: Bool) -> String {
    let prefix = [MessageKind.message: "", .pmessage: "p", .smessage: "s"][kind] ?? "?"
    return prefix + (subscribe ? "" : "un") + "subscribe"
}

/// Drains with both handlers and records everything in order; a value from `next()` ends the run.
private func drainAll(_ parser: inout RESPParser, allowArrays: Bool) -> (frames: [String], confirmations: [DeliveredConfirmation], messages: Int) {
    var frames: [String] = []
    var confirmations: [DeliveredConfirmation] = []
    var messages = 0
    _ = parser.drainPubSubFrames(
        allowArrays: allowArrays,
        message: { _ in messages += 1; frames.append("message") },
        confirmation: { view in
            let c = DeliveredConfirmation(verb: verb(view.kind, subscribe: view.subscribe), name: Array(view.name), count: view.count)
            confirmations.append(c)
            frames.append(c.verb)
        })
    return (frames, confirmations, messages)
}

@Suite("Confirmation fast path")
struct RESPConfirmationFastPathTests {
    @Test("all six confirmation verbs are recognised with their name and count, in RESP3 and RESP2", arguments: [true, false])
    func allVerbs(resp3: Bool) {
        var parser = RESPParser()
        let kinds: [RESPBuilder.SubscriptionKind] = [.subscribe, .psubscribe, .ssubscribe, .unsubscribe, .punsubscribe, .sunsubscribe]
        for (i, kind) in kinds.enumerated() {
            parser.feed(RESPBuilder.subscribeConfirmation(kind: kind, name: "name-\(i)", count: 100 + i, resp3: resp3))
        }
        let result = drainAll(&parser, allowArrays: true)
        #expect(result.confirmations == kinds.enumerated().map {
            DeliveredConfirmation(verb: $0.element.rawValue, name: bytes("name-\($0.offset)"), count: Int64(100 + $0.offset))
        })
        #expect(parser.bufferedByteCount == 0)
    }

    @Test("RESP2 confirmations are left to next() unless arrays are allowed")
    func resp2NeedsArrays() throws {
        var parser = RESPParser()
        parser.feed(RESPBuilder.subscribeConfirmation(kind: .subscribe, name: "a", count: 1, resp3: false))
        #expect(drainAll(&parser, allowArrays: false).confirmations.isEmpty)
        let value = try parser.next()
        #expect(value == RESPBuilder.subscribeConfirmationValue(kind: .subscribe, name: bytes("a"), count: 1, resp3: false))
    }

    @Test("confirmations and messages interleave in wire order")
    func interleaved() {
        var parser = RESPParser()
        parser.feed(RESPBuilder.subscribeConfirmation(kind: .subscribe, name: "a", count: 1))
        parser.feed(RESPBuilder.message(channel: "a", payload: "x"))
        parser.feed(RESPBuilder.subscribeConfirmation(kind: .psubscribe, name: "p*", count: 2))
        parser.feed(RESPBuilder.message(channel: "a", payload: "y"))
        let result = drainAll(&parser, allowArrays: false)
        #expect(result.frames == ["subscribe", "message", "psubscribe", "message"])
    }

    @Test("a confirmation split at every byte offset is consumed once, whole, when complete")
    func splitEverywhere() throws {
        let frame = RESPBuilder.subscribeConfirmation(kind: .sunsubscribe, name: "user:{42}", count: 7)
        for cut in 0...frame.count {
            var parser = RESPParser()
            parser.feed(frame[..<cut])
            var seen = drainAll(&parser, allowArrays: false).confirmations
            if seen.isEmpty, cut < frame.count {
                parser.feed(frame[cut...])
                // The first part may have been taken up by next() already: finish either way.
                seen = drainAll(&parser, allowArrays: false).confirmations
                if seen.isEmpty {
                    let value = try #require(try parser.next())
                    #expect(value == RESPBuilder.subscribeConfirmationValue(kind: .sunsubscribe, name: bytes("user:{42}"), count: 7))
                    continue
                }
            }
            #expect(seen == [DeliveredConfirmation(verb: "sunsubscribe", name: bytes("user:{42}"), count: 7)], "cut at \(cut)")
        }
    }

    @Test("lookalike frames are not taken: other verbs, a null name, a non-integer count")
    func lookalikes() throws {
        let frames: [RESPValue] = [
            .push([.bulkString(bytes("xsubscribe")), .bulkString(bytes("a")), .integer(1)]),
            .push([.bulkString(bytes("unsubscribe")), .null, .integer(0)]),
            .push([.bulkString(bytes("subscribe")), .bulkString(bytes("a")), .bulkString(bytes("1"))]),
        ]
        for frame in frames {
            var parser = RESPParser()
            parser.feed(RESPEncoder.encode(frame))
            #expect(drainAll(&parser, allowArrays: false).frames.isEmpty)
            #expect(try parser.next() == frame)
        }
    }

    @Test("the drain without a confirmation handler stops at a confirmation, as before")
    func messagesOnlyStops() throws {
        var parser = RESPParser()
        parser.feed(RESPBuilder.subscribeConfirmation(kind: .subscribe, name: "a", count: 1))
        #expect(parser.drainPubSubMessages(allowArrays: false) { _ in } == 0)
        #expect(try parser.next() != nil)
    }
}
