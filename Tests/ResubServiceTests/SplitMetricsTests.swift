import Resub
import ResubService
import Testing

@Suite("Metrics of the automatic split")
struct SplitMetricsTests {
    @Test("range changes count handoffs by direction and set the owned slots")
    func handoffsAndOwnedSlots() {
        let metrics = ServiceMetrics()
        let change = SplitChange(
            member: "m", serving: "0-47", slots: 48, gained: "0-47", released: "none",
            gainedBlocks: 3, releasedBlocks: 0, reason: "assignment")
        metrics.record(.splitChanged(change))
        var second = change
        second.slots = 32
        second.gainedBlocks = 0
        second.releasedBlocks = 1
        metrics.record(.splitChanged(second))
        let text = metrics.scrape(desiredCount: { _ in 0 })
        #expect(text.contains("resub_split_handoffs_total{direction=\"gained\"} 3"), "\(text)")
        #expect(text.contains("resub_split_handoffs_total{direction=\"released\"} 1"))
        #expect(text.contains("resub_split_owned_slots 32"))
    }
}
