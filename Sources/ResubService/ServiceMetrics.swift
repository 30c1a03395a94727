import Metrics
import Prometheus
import Resub
import Synchronization

/// The service's metrics, through swift-metrics into a Prometheus registry of its own (no global
/// bootstrap: several can coexist, e.g. in tests). Counters move on the loop and writer threads; gauges
/// that are cheaper to read than to track (queue depth, time since the last message, subscriptions) are
/// set when scraped.
package final class ServiceMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let receivedMessage: Metrics.Counter
    private let receivedPmessage: Metrics.Counter
    private let receivedSmessage: Metrics.Counter
    private let written: Metrics.Counter
    private let droppedQueueFull: Metrics.Counter
    private let reconnects: Metrics.Counter
    private let gaps: Metrics.Counter
    private let replayDuration: Metrics.Timer
    private let queueBytes: Metrics.Gauge
    private let sinceLastMessage: Metrics.Gauge
    private let subscriptionGauges: [Metrics.Gauge]
    private let state = Mutex(State())

    private struct State {
        var lastMessageAt: ContinuousClock.Instant?
        var writtenSoFar = 0
        var linkStates: [String: LinkState] = [:]
    }

    package init() {
        let factory = PrometheusMetricsFactory(registry: registry)
        self.factory = factory
        receivedMessage = Metrics.Counter(label: "resub_messages_received_total", dimensions: [("kind", "message")], factory: factory)
        receivedPmessage = Metrics.Counter(label: "resub_messages_received_total", dimensions: [("kind", "pmessage")], factory: factory)
        receivedSmessage = Metrics.Counter(label: "resub_messages_received_total", dimensions: [("kind", "smessage")], factory: factory)
        written = Metrics.Counter(label: "resub_messages_delivered_total", dimensions: [("sink", "stdout")], factory: factory)
        droppedQueueFull = Metrics.Counter(label: "resub_messages_dropped_total", dimensions: [("reason", "sink_queue_full")], factory: factory)
        reconnects = Metrics.Counter(label: "resub_reconnects_total", factory: factory)
        gaps = Metrics.Counter(label: "resub_gaps_total", factory: factory)
        replayDuration = Metrics.Timer(label: "resub_replay_duration_seconds", factory: factory)
        queueBytes = Metrics.Gauge(label: "resub_sink_queue_bytes", factory: factory)
        sinceLastMessage = Metrics.Gauge(label: "resub_seconds_since_last_message", factory: factory)
        subscriptionGauges = SubscriptionKind.allCases.map {
            Metrics.Gauge(label: "resub_subscriptions", dimensions: [("kind", $0.jsonKey)], factory: factory)
        }
    }

    /// A batch arrived from Redis (loop thread).
    package func received(_ batch: MessageBatch) {
        let counts = batch.kindCounts
        if counts.message > 0 { receivedMessage.increment(by: counts.message) }
        if counts.pmessage > 0 { receivedPmessage.increment(by: counts.pmessage) }
        if counts.smessage > 0 { receivedSmessage.increment(by: counts.smessage) }
        state.withLock { $0.lastMessageAt = .now }
    }

    /// Messages the sink could not take.
    package func dropped(_ count: Int) {
        droppedQueueFull.increment(by: count)
    }

    /// A subscriber event (loop thread).
    package func record(_ event: SubscriberEvent) {
        switch event {
        case .stateChanged(let node, let from, let to, _):
            if to == .waitingToReconnect && from != .idle { reconnects.increment() }
            let changed = state.withLock { s -> Bool in
                s.linkStates[node] = to
                return true
            }
            if changed {
                for candidate in LinkState.allCases {
                    Metrics.Gauge(label: "resub_link_state", dimensions: [("node", node), ("state", candidate.rawValue)], factory: factory)
                        .record(candidate == to ? 1 : 0)
                }
            }
        case .resubscribed(_, _, _, _, let duration):
            replayDuration.recordNanoseconds(Int64(duration.seconds * 1e9))
        case .gap:
            gaps.increment()
        default:
            break
        }
    }

    /// The Prometheus text, with the scrape-time gauges refreshed.
    package func scrape(writtenTotal: Int, queueBytes bytes: Int, desired: SubscriptionSet) -> String {
        let (delta, since) = state.withLock { s -> (Int, Double?) in
            let delta = max(0, writtenTotal - s.writtenSoFar)
            s.writtenSoFar = max(s.writtenSoFar, writtenTotal)
            return (delta, s.lastMessageAt.map { $0.duration(to: .now).seconds })
        }
        if delta > 0 { written.increment(by: delta) }
        queueBytes.record(bytes)
        if let since { sinceLastMessage.record(since) }
        for (kind, gauge) in zip(SubscriptionKind.allCases, subscriptionGauges) { gauge.record(desired[kind].count) }
        return registry.emitToString()
    }
}

extension Duration {
    fileprivate var seconds: Double {
        let (s, a) = components
        return Double(s) + Double(a) / 1e18
    }
}
