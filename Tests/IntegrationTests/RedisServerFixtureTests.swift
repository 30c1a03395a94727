import Testing
import TestSupport

@Suite("Redis server fixture")
struct RedisServerFixtureTests {
    @Test("a started server answers PING and is gone after stop")
    func startStop() throws {
        let server = try RedisServer()
        #expect(try server.command("PING").string == "PONG")
        let port = server.port
        server.stop()
        #expect(throws: (any Error).self) { try SyncRedisClient(port: port, timeout: 1) }
    }
}
