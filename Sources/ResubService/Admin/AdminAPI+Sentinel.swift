import Resub

extension AdminAPI.Readiness {
    /// Sentinel mode's part of /readyz: `{"master_name","master","watch":{node,state},"sentinels":[{address,state,reason?}]}`.
    package struct Sentinel: Encodable, Sendable {
        /// The `+switch-master` link's sentinel and state.
        package struct Watch: Encodable, Sendable {
            package let node: String, state: String
        }
        package let master_name: String
        package let master: String?
        package let watch: Watch?
        package let sentinels: [[String: String]]
    }
}

extension AdminAPI {
    /// The /readyz `sentinel` object of `monitor` (loop thread).
    package static func sentinel(_ monitor: SentinelMonitor) -> Readiness.Sentinel {
        Readiness.Sentinel(
            master_name: monitor.configuration.masterName,
            master: monitor.master?.description,
            watch: monitor.watchState.map { .init(node: $0.node, state: $0.state.rawValue) },
            sentinels: monitor.sentinels.map { sentinel -> [String: String] in
                switch sentinel.status {
                case .unasked: return ["address": sentinel.address.description, "state": "unasked"]
                case .answered: return ["address": sentinel.address.description, "state": "ok"]
                case .failed(let reason): return ["address": sentinel.address.description, "state": "failed", "reason": reason]
                }
            })
    }
}
