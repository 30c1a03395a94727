import Resub

extension AdminAPI {
    /// Sentinel mode's part of /readyz: `{"master_name","master","watch":{node,state},"sentinels":[{address,state,reason?}]}`.
    static func object(_ monitor: SentinelMonitor) -> [String: Any] {
        var result: [String: Any] = ["master_name": monitor.configuration.masterName]
        result["master"] = monitor.master?.description
        if let watch = monitor.watchState { result["watch"] = ["node": watch.node, "state": watch.state.rawValue] }
        result["sentinels"] = monitor.sentinels.map { sentinel -> [String: String] in
            switch sentinel.status {
            case .unasked: return ["address": sentinel.address.description, "state": "unasked"]
            case .answered: return ["address": sentinel.address.description, "state": "ok"]
            case .failed(let reason): return ["address": sentinel.address.description, "state": "failed", "reason": reason]
            }
        }
        return result
    }
}
