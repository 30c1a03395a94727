import Resub
import ResubService
import Testing

/// The admin API's answers to subscription changes and readiness, from the per-name results of the one
/// change path (no HTTP, no loop).
@Suite("Admin API answers")
struct AdminAPITests {
    static let noperm = "NOPERM User limited has no permissions to access the 'payments' channel"

    static func result(confirmed: [String] = [], queued: [String] = [], refused: [(String, String)] = []) -> SubscriptionChangeResult {
        var result = SubscriptionChangeResult()
        result.confirmed = confirmed
        result.queued = queued
        result.refused = refused.map { .init(name: $0.0, error: $0.1) }
        return result
    }

    @Test("200 with the confirmed names once the server confirmed every one")
    func confirmed() {
        let (status, body) = AdminAPI.answer([
            .channel: Self.result(confirmed: ["b", "a"]), .pattern: Self.result(confirmed: ["p.*"]),
        ])
        #expect(status == 200)
        #expect(body.channels == ["a", "b"])
        #expect(body.patterns == ["p.*"])
        #expect(body.shard_channels == [])
    }

    @Test("202 while the link is down: the change is queued for the replay")
    func queued() {
        let (status, body) = AdminAPI.answer([.channel: Self.result(queued: ["a"])])
        #expect(status == 202)
        #expect(body.queued?["channels"] == ["a"])
    }

    @Test("403 with the server's text when it refused a name with NOPERM; the confirmed names are listed too")
    func forbidden() throws {
        let (status, body) = AdminAPI.answer([.channel: Self.result(confirmed: ["orders.a"], refused: [("payments", Self.noperm)])])
        #expect(status == 403)
        #expect(body.error == Self.noperm)
        let refused = try #require(body.refused)
        #expect(refused == [.init(kind: "channels", name: "payments", error: Self.noperm)])
        #expect(body.confirmed?["channels"] == ["orders.a"])
    }

    @Test("422 for another refusal, which wins over queued names")
    func otherRefusal() {
        let (status, body) = AdminAPI.answer([
            .pattern: Self.result(refused: [("bad", "ERR something")]), .channel: Self.result(queued: ["q"]),
        ])
        #expect(status == 422)
        #expect(body.error == "ERR something")
    }

    @Test("/readyz: not ready while a configured subscription is refused, naming it and the error")
    func readiness() throws {
        var status = SubscriberStatus(links: [(node: "127.0.0.1:6379", state: .healthy)], lastErrors: [:], refusals: [])
        #expect(AdminAPI.readiness(status).status == 200)
        status.refusals = [SubscriptionRefusal(kind: .channel, name: "payments", error: Self.noperm)]
        let (code, body) = AdminAPI.readiness(status)
        #expect(code == 503)
        #expect(body.ready == false)
        #expect(body.refused == [.init(kind: "channels", name: "payments", error: Self.noperm)])
        status.refusals = []
        status.links = [(node: "127.0.0.1:6379", state: .waitingToReconnect)]
        #expect(AdminAPI.readiness(status).status == 503)
    }
}
