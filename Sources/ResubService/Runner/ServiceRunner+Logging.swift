import Logging
import Resub

extension ServiceRunner {
    /// One line per link state change; the finer events at debug level.
    static func log(_ event: SubscriberEvent, _ logger: Logger) {
        switch event {
        case .stateChanged(_, _, let to, let reason):
            if to == .waitingToReconnect || reason != nil {
                logger.warning("\(event)")
            } else {
                logger.info("\(event)")
            }
        case .gap, .messagesDropped, .subscriptionLost, .topologyRefreshFailed, .keyspaceEventsDisabled, .sentinelSkipped:
            logger.warning("\(event)")
        case .topologyChanged, .shardChannelsIgnored, .masterChanged, .subscriptionRestored:
            logger.info("\(event)")
        case .splitChanged(let change):
            if change.reason == "lease lost" { logger.warning("\(event)") } else { logger.info("\(event)") }
        case .subscriptionFailed:
            logger.error("\(event)")
        case .resubscribed, .shutdown:
            logger.info("\(event)")
        case .connecting, .connected, .subscribed, .unsubscribed, .disconnected, .reconnectScheduled:
            logger.debug("\(event)")
        }
    }
}
