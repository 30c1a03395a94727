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
    private let authFailures: Metrics.Counter
    private let replayDuration: Metrics.Timer
    private let queueBytes: Metrics.Gauge
    private let sinceLastMessage: Metrics.Gauge
    private let subscriptionGauges: [Metrics.Gauge]
    private let state = Mutex(State())
    private let webhookLatency: Metrics.Timer
    private let webhookDelivered: Metrics.Counter
    private let webhookDeadLettered: Metrics.Counter
    private let webhookSpooled: Metrics.Counter
    private let webhookRetries: Metrics.Counter
    private let webhookDropped: Metrics.Counter
    private let webhookUndelivered: Metrics.Gauge
    private let spoolBytes: Metrics.Gauge
    private let streamEntriesRead: Metrics.Counter

    private struct State {
        var lastMessageAt: ContinuousClock.Instant?
        var writtenSoFar = 0
        var linkStates: [String: LinkState] = [:]
        var webhookSoFar = WebhookCounters()
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
        authFailures = Metrics.Counter(label: "resub_authentication_failures_total", factory: factory)
        replayDuration = Metrics.Timer(label: "resub_replay_duration_seconds", factory: factory)
        queueBytes = Metrics.Gauge(label: "resub_sink_queue_bytes", factory: factory)
        sinceLastMessage = Metrics.Gauge(label: "resub_seconds_since_last_message", factory: factory)
        webhookLatency = Metrics.Timer(label: "resub_webhook_request_duration_seconds", factory: factory)
        webhookDelivered = Metrics.Counter(label: "resub_messages_delivered_total", dimensions: [("sink", "webhook")], factory: factory)
        webhookDeadLettered = Metrics.Counter(label: "resub_messages_dead_lettered_total", factory: factory)
        webhookSpooled = Metrics.Counter(label: "resub_messages_spooled_total", factory: factory)
        webhookRetries = Metrics.Counter(label: "resub_webhook_retries_total", factory: factory)
        webhookDropped = Metrics.Counter(label: "resub_messages_dropped_total", dimensions: [("reason", "webhook_queue_or_spool_full")], factory: factory)
        webhookUndelivered = Metrics.Gauge(label: "resub_webhook_undelivered_messages", factory: factory)
        spoolBytes = Metrics.Gauge(label: "resub_spool_bytes", factory: factory)
        streamEntriesRead = Metrics.Counter(label: "resub_stream_entries_read_total", factory: factory)
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

    /// Stream entries read.
    package func streamEntries(_ count: Int) {
        streamEntriesRead.increment(by: count)
    }

    /// Messages the sink could not take.
    package func dropped(_ count: Int) {
        droppedQueueFull.increment(by: count)
    }

    /// A subscriber event (loop thread).
    package func record(_ event: SubscriberEvent) {
        switch event {
        case .stateChanged(let node, let from, let to, let reason):
            if to == .waitingToReconnect && from != .idle { reconnects.increment() }
            if let reason, reason.code == .authenticationFailed { authFailures.increment() }
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
        case .masterChanged(_, let from, _) where from != nil:
            Metrics.Counter(label: "resub_sentinel_master_changes_total", factory: factory).increment()
        case .sentinelSkipped:
            Metrics.Counter(label: "resub_sentinel_errors_total", factory: factory).increment()
        default:
            break
        }
    }

    /// Brings the webhook metrics up to the sink's counters (called at scrape, on the loop).
    package func webhook(_ counters: WebhookCounters, undelivered: Int, spoolBytes bytes: Int?) {
        let previous = state.withLock { s -> WebhookCounters in
            let previous = s.webhookSoFar
            s.webhookSoFar = counters
            return previous
        }
        func delta(_ now: Int, _ before: Int) -> Int { max(0, now - before) }
        if delta(counters.delivered, previous.delivered) > 0 { webhookDelivered.increment(by: delta(counters.delivered, previous.delivered)) }
        if delta(counters.deadLettered, previous.deadLettered) > 0 { webhookDeadLettered.increment(by: delta(counters.deadLettered, previous.deadLettered)) }
        if delta(counters.spooled, previous.spooled) > 0 { webhookSpooled.increment(by: delta(counters.spooled, previous.spooled)) }
        if delta(counters.retried, previous.retried) > 0 { webhookRetries.increment(by: delta(counters.retried, previous.retried)) }
        if delta(counters.dropped, previous.dropped) > 0 { webhookDropped.increment(by: delta(counters.dropped, previous.dropped)) }
        for (status, count) in counters.statusCounts {
            let d = delta(count, previous.statusCounts[status] ?? 0)
            if d > 0 { Metrics.Counter(label: "resub_webhook_responses_total", dimensions: [("code", String(status))], factory: factory).increment(by: d) }
        }
        webhookUndelivered.record(undelivered)
        if let bytes { spoolBytes.record(bytes) }
    }

    /// One webhook request's latency.
    package func webhookLatency(_ duration: Duration) {
        webhookLatency.recordNanoseconds(Int64(duration.seconds * 1e9))
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

