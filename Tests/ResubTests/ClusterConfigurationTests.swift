import Resub
import Testing

/// The periodic topology refresh: slower when healthy, faster while degraded or while keyspace names are wanted.
@Suite("Cluster refresh interval")
struct ClusterConfigurationTests {
    private let seeds = [try! RedisEndpoint(url: "redis://127.0.0.1:7000")]

    @Test("healthy with shard channels only: the refresh interval; degraded: the degraded one")
    func plain() {
        let configuration = ClusterConfiguration(seeds: seeds)
        #expect(configuration.refreshDelay(degraded: false, nodeLocal: false) == .seconds(30))
        #expect(configuration.refreshDelay(degraded: true, nodeLocal: false) == .seconds(1))
        #expect(configuration.refreshDelay(degraded: true, nodeLocal: true) == .seconds(1))
    }

    @Test("keyspace names wanted: at most the node-local interval (a master that gains slots is found within it), never slower than configured")
    func nodeLocal() {
        var configuration = ClusterConfiguration(seeds: seeds)
        #expect(configuration.refreshDelay(degraded: false, nodeLocal: true) == .seconds(5))
        configuration.refreshInterval = .seconds(2)
        #expect(configuration.refreshDelay(degraded: false, nodeLocal: true) == .seconds(2))
    }
}
