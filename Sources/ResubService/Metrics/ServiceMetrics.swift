import Prometheus
import Resub
import Synchronization

/// The service's metrics, in a Prometheus registry of its own (no global bootstrap: several can coexist, e.g.
/// in tests), following Prometheus's conventions: a `# HELP` line for every family, base units (seconds,
/// bytes), `_total` on counters and only there, and the `process_*` families (``ProcessMetrics``). Counters
/// move on the loop and writer threads; gauges that are cheaper to read than to track (queue depth, time since
/// the last message, subscriptions, the process's figures) are set when scraped.
package final class ServiceMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let receivedMessage: Counter
    private let receivedPmessage: Counter
    private let receivedSmessage: Counter
    private let written: Counter
    private let droppedQueueFull: Counter
    private let reconnects: Counter
    private let gaps: Counter
    private let authFailures: Counter
    private let replayDuration: DurationHistogram
    private let queueBytes: Gauge
    private let lastMessageAge: Gauge
    private let subscriptionGauges: [Gauge]
    private let state = Mutex(State())
    private let webhookLatency: DurationHistogram
    private let webhookDelivered: Counter
    private let webhookDeadLettered: Counter
    private let webhookSpooled: Counter
    private let webhookRetries: Counter
    private let webhookDropped: Counter
    private let webhookUndelivered: Gauge
    private let spoolBytes: Gauge
    private let streamEntriesRead: Counter
    private let sentinelMasterChanges: Counter
    private let sentinelErrors: Counter

    private struct State {
        var lastMessageAt: ContinuousClock.Instant?
        var writtenSoFar = 0
        var linkStates: [String: LinkState] = [:]
        var webhookSoFar = WebhookCounters()
        var nodeLocalNodes: Set<String> = []
    }

    /// The help text of every family, by name (one place, so a family's help is the same for every label set).
    private static let help: [String: String] = [
        "resub_messages_received_total": "Messages received from Redis, by kind (message, pmessage, smessage).",
        "resub_messages_delivered_total": "Messages written to stdout or delivered to the webhook, by sink.",
        "resub_messages_dropped_total": "Messages dropped because a sink's bounded queue (or the spool) was full, by reason.",
        "resub_messages_dead_lettered_total": "Messages in webhook requests the receiver rejected (4xx other than 408 and 429).",
        "resub_messages_spooled_total": "Messages written ahead to the webhook spool.",
        "resub_reconnects_total": "Connections to Redis lost and reconnected.",
        "resub_gaps_total": "Outages during which messages may have been missed.",
        "resub_authentication_failures_total": "Connections refused by Redis for wrong credentials.",
        "resub_replay_duration_seconds": "Time to resubscribe everything after a reconnect.",
        "resub_sink_queue_bytes": "Bytes waiting in the stdout sink's queue.",
        "resub_last_message_age_seconds": "Seconds since the last message was received.",
        "resub_subscriptions": "Subscriptions wanted, by kind.",
        "resub_link_state": "1 for the state each link to a Redis node is in, 0 for the others.",
        "resub_webhook_request_duration_seconds": "Webhook request latency, responses and failures alike.",
        "resub_webhook_retries_total": "Webhook requests retried (3xx, 408, 429, 5xx, timeouts, connection errors).",
        "resub_webhook_responses_total": "Webhook responses, by status code.",
        "resub_webhook_undelivered_messages": "Messages accepted by the webhook sink and not yet delivered or dead-lettered.",
        "resub_spool_bytes": "Bytes of unacknowledged requests in the webhook spool.",
        "resub_stream_entries_read_total": "Stream entries read.",
        "resub_sentinel_master_changes_total": "Sentinel mode: moves to a new master after a failover.",
        "resub_sentinel_errors_total": "Sentinel mode: sentinels skipped (down, refusing, naming a node that is not the master).",
        "resub_keyspace_subscriptions": "Keyspace/keyevent channels and patterns each node carries, desired and confirmed.",
        "resub_split_handoffs_total": "--slots auto: slot blocks (16 slots; or the plain channels) taken on or given up, by direction.",
        "resub_split_owned_slots": "--slots auto: hash slots this member serves.",
    ]

    private static func descriptor(_ name: String) -> MetricNameDescriptor {
        guard let text = help[name] else { preconditionFailure("metric \(name) has no help text") }
        return MetricNameDescriptor(metricName: name, unitName: "", helpText: text)
    }

    /// Families with labels known only at run time (link nodes, response codes).
    private func counter(_ name: String, _ labels: [(String, String)]) -> Counter { Self.counter(registry, name, labels) }
    private func gauge(_ name: String, _ labels: [(String, String)]) -> Gauge { Self.gauge(registry, name, labels) }

    package init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        receivedMessage = Self.counter(registry, "resub_messages_received_total", [("kind", "message")])
        receivedPmessage = Self.counter(registry, "resub_messages_received_total", [("kind", "pmessage")])
        receivedSmessage = Self.counter(registry, "resub_messages_received_total", [("kind", "smessage")])
        written = Self.counter(registry, "resub_messages_delivered_total", [("sink", "stdout")])
        droppedQueueFull = Self.counter(registry, "resub_messages_dropped_total", [("reason", "sink_queue_full")])
        reconnects = Self.counter(registry, "resub_reconnects_total")
        gaps = Self.counter(registry, "resub_gaps_total")
        authFailures = Self.counter(registry, "resub_authentication_failures_total")
        replayDuration = Self.histogram(registry, "resub_replay_duration_seconds")
        queueBytes = Self.gauge(registry, "resub_sink_queue_bytes")
        lastMessageAge = Self.gauge(registry, "resub_last_message_age_seconds")
        webhookLatency = Self.histogram(registry, "resub_webhook_request_duration_seconds")
        webhookDelivered = Self.counter(registry, "resub_messages_delivered_total", [("sink", "webhook")])
        webhookDeadLettered = Self.counter(registry, "resub_messages_dead_lettered_total")
        webhookSpooled = Self.counter(registry, "resub_messages_spooled_total")
        webhookRetries = Self.counter(registry, "resub_webhook_retries_total")
        webhookDropped = Self.counter(registry, "resub_messages_dropped_total", [("reason", "webhook_queue_or_spool_full")])
        webhookUndelivered = Self.gauge(registry, "resub_webhook_undelivered_messages")
        spoolBytes = Self.gauge(registry, "resub_spool_bytes")
        streamEntriesRead = Self.counter(registry, "resub_stream_entries_read_total")
        sentinelMasterChanges = Self.counter(registry, "resub_sentinel_master_changes_total")
        sentinelErrors = Self.counter(registry, "resub_sentinel_errors_total")
        subscriptionGauges = SubscriptionKind.allCases.map { Self.gauge(registry, "resub_subscriptions", [("kind", $0.jsonKey)]) }
    }

    private static func counter(_ registry: PrometheusCollectorRegistry, _ name: String, _ labels: [(String, String)] = []) -> Counter {
        registry.makeCounter(descriptor: descriptor(name), labels: labels)
    }

    private static func gauge(_ registry: PrometheusCollectorRegistry, _ name: String, _ labels: [(String, String)] = []) -> Gauge {
        registry.makeGauge(descriptor: descriptor(name), labels: labels)
    }

    private static func histogram(_ registry: PrometheusCollectorRegistry, _ name: String) -> DurationHistogram {
        registry.makeDurationHistogram(descriptor: descriptor(name), buckets: [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        ])
    }

    /// A batch arrived from Redis (loop thread).
    package func received(_ batch: MessageBatch) {
        let counts = batch.kindCounts
        if counts.message > 0 { receivedMessage.increment(by: Int64(counts.message)) }
        if counts.pmessage > 0 { receivedPmessage.increment(by: Int64(counts.pmessage)) }
        if counts.smessage > 0 { receivedSmessage.increment(by: Int64(counts.smessage)) }
        state.withLock { $0.lastMessageAt = .now }
    }

    /// Stream entries read.
    package func streamEntries(_ count: Int) {
        streamEntriesRead.increment(by: Int64(count))
    }

    /// Messages the sink could not take.
    package func dropped(_ count: Int) {
        droppedQueueFull.increment(by: Int64(count))
    }

    /// A subscriber event (loop thread).
    package func record(_ event: SubscriberEvent) {
        switch event {
        case .stateChanged(let node, let from, let to, let reason):
            if to == .waitingToReconnect && from != .idle { reconnects.increment() }
            if let reason, reason.code == .authenticationFailed { authFailures.increment() }
            state.withLock { $0.linkStates[node] = to }
            for candidate in LinkState.allCases {
                // The registry hands back the same gauge for the same name and labels.
                gauge("resub_link_state", [("node", node), ("state", candidate.rawValue)]).set(Int64(candidate == to ? 1 : 0))
            }
        case .resubscribed(_, _, _, _, let duration):
            replayDuration.record(duration)
        case .gap:
            gaps.increment()
        case .masterChanged(_, let from, _) where from != nil:
            sentinelMasterChanges.increment()
        case .sentinelSkipped:
            sentinelErrors.increment()
        case .splitChanged(let change):
            // --slots auto: blocks handed over in each direction, and the slots owned now.
            for (direction, blocks) in [("gained", change.gainedBlocks), ("released", change.releasedBlocks)] where blocks > 0 {
                counter("resub_split_handoffs_total", [("direction", direction)]).increment(by: Int64(blocks))
            }
            gauge("resub_split_owned_slots", []).set(Int64(change.slots))
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
        func add(_ counter: Counter, _ now: Int, _ before: Int) {
            if now > before { counter.increment(by: Int64(now - before)) }
        }
        add(webhookDelivered, counters.delivered, previous.delivered)
        add(webhookDeadLettered, counters.deadLettered, previous.deadLettered)
        add(webhookSpooled, counters.spooled, previous.spooled)
        add(webhookRetries, counters.retried, previous.retried)
        add(webhookDropped, counters.dropped, previous.dropped)
        for (status, count) in counters.statusCounts {
            add(counter("resub_webhook_responses_total", [("code", String(status))]), count, previous.statusCounts[status] ?? 0)
        }
        webhookUndelivered.set(Int64(undelivered))
        if let bytes { spoolBytes.set(Int64(bytes)) }
    }

    /// One webhook request's latency.
    package func webhookLatency(_ duration: Duration) {
        webhookLatency.record(duration)
    }

    /// Brings the stdout metrics up to the sink's figures (called at scrape).
    package func stdout(writtenTotal: Int, queueBytes bytes: Int) {
        let delta = state.withLock { s -> Int in
            let delta = max(0, writtenTotal - s.writtenSoFar)
            s.writtenSoFar = max(s.writtenSoFar, writtenTotal)
            return delta
        }
        if delta > 0 { written.increment(by: Int64(delta)) }
        queueBytes.set(Int64(bytes))
    }

    /// Keyspace/keyevent subscriptions per node (called at scrape, on the loop):
    /// `resub_keyspace_subscriptions{node,status="desired"|"confirmed"}`. A node no longer carrying them is
    /// set to 0 rather than left at its last value.
    package func nodeLocal(_ links: [NodeLocalLinkState]) {
        let current = Dictionary(links.map { ($0.node, ($0.desired, $0.confirmed)) }, uniquingKeysWith: { a, _ in a })
        let nodes = state.withLock { s -> Set<String> in
            defer { s.nodeLocalNodes = Set(current.keys) }
            return s.nodeLocalNodes.union(current.keys)
        }
        for node in nodes {
            let (desired, confirmed) = current[node] ?? (0, 0)
            Self.gauge(registry, "resub_keyspace_subscriptions", [("node", node), ("status", "desired")]).set(Int64(desired))
            Self.gauge(registry, "resub_keyspace_subscriptions", [("node", node), ("status", "confirmed")]).set(Int64(confirmed))
        }
    }

    /// The Prometheus text, with the scrape-time gauges refreshed and the process's figures read.
    /// `desiredCount` answers how many names of a kind are desired (a count, so a scrape copies no name).
    package func scrape(desiredCount: (SubscriptionKind) -> Int) -> String {
        if let since = state.withLock({ $0.lastMessageAt }) { lastMessageAge.set(since.duration(to: .now).seconds) }
        for (kind, gauge) in zip(SubscriptionKind.allCases, subscriptionGauges) { gauge.set(Int64(desiredCount(kind))) }
        return registry.emitToString() + (ProcessMetrics.read()?.text ?? "")
    }
}
