/// A supervised link that follows a Sentinel-managed master (see ``MasterFollower``).
extension LinkSupervisor {
    /// Plugs `source` into the hooks: the endpoint of every reconnect is the master's, the link's own set-up
    /// (subscribe, prepare the streams) runs only on a node that says it is the master, and a failed
    /// connection sends the resolution back to the sentinels. Call once, before ``start()``. Loop-only.
    package func use(_ source: MasterSource) {
        nextEndpoint = source.endpoint
        let setUp = self.setUp
        self.setUp = { [unowned self] connection in
            source.verifyRole(connection) { [weak self] error in
                guard let self, connection === self.connection else { return }  // an older connection's answer
                if let error { self.fail(error) } else { setUp(connection) }
            }
        }
        let onEvent = self.onEvent
        self.onEvent = { event in
            onEvent(event)
            if case .disconnected(_, let reason) = event, reason.code != .shutDown { source.failed() }
        }
    }
}
