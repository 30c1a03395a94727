import Resub

extension AdminAPI.Readiness {
    /// Sentinel mode's part of /readyz: `{"master_name","master","watch":{node,state},"sentinels":[{address,state,reason?}]}`.
    struct Sentinel: Encodable {
        /// The `+switch-master` link's sentinel and state.
        struct Watch: Encodable {
            let node: String, state: String
        }
        let master_name: String
        let master: String?
        let watch: Watch?
        let sentinels: [[String: String]]
    }
}

extension AdminAPI {
    /// The /readyz `sentinel` object of `monitor` (loop thread).
    static func sentinel(_ monitor: SentinelMonitor) -> Readiness.Sentinel {
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
