import LibeventLoop

/// What a ``Subscriber`` drives in Sentinel mode: one ``NodeLink`` to the master, moved by a
/// ``SentinelMonitor`` on every failover. Loop-only.
package final class SentinelLink: LinkManager, @unchecked Sendable {
    /// The sentinels' side.
    package let monitor: SentinelMonitor
    private let link: NodeLink

    /// Creates the link and its monitor; nothing connects before ``start()``. Loop-only.
    package init(
        loop: EventLoop, sentinel: SentinelConfiguration, template: ConnectionConfiguration, health: HealthConfiguration,
        configured: SubscriptionTable, replayBatchSize: Int,
        onBatch: @escaping (MessageBatch) -> Void, onEvent: @escaping (SubscriberEvent) -> Void
    ) {
        monitor = SentinelMonitor(
            loop: loop, configuration: sentinel, template: template, dataNode: template.endpoint, health: health, onEvent: onEvent)
        var configuration = template
        // A placeholder until the sentinels name the master (the link starts there, never here).
        configuration.endpoint.address = .unix(path: "sentinel/\(sentinel.masterName)")
        link = NodeLink(
            environment: .loop(loop), configuration: configuration, health: health, configured: configured, replayBatchSize: replayBatchSize,
            onBatch: onBatch, onEvent: onEvent)
        monitor.attach(link)
    }

    package func start() { monitor.start() }
    package func apply(_ change: SubscriptionChange, completion: @escaping (SubscriptionChangeResult) -> Void) {
        link.apply(change, completion: completion)
    }
    package func stop() {
        monitor.stop()
        link.stop()
    }
    package var isReadingPaused: Bool {
        get { link.isReadingPaused }
        set { link.isReadingPaused = newValue }
    }
    package var desired: SubscriptionSet { link.desired }
    package var confirmed: SubscriptionSet { link.confirmed }
    package func desiredCount(_ kind: SubscriptionKind) -> Int { link.desiredCount(kind) }
    package var refusals: [SubscriptionRefusal] { link.refusals }
    package var linkStates: [(node: String, state: LinkState)] { link.linkStates }
    package var lastErrors: [String: ResubError] { link.lastErrors }
    package var nodeLocalLinks: [NodeLocalLinkState] { link.nodeLocalLinks }
}
