// A connection for blocking commands that follows a Sentinel-managed master: a BLPOP blocked on a master
// that fails over ends with `disconnected` ("the master changed to …") instead of hanging, and the next
// command goes to the new master.
import Resub

let client = ResubClient()
let (sentinel, dataNode) = try SentinelConfiguration.parse(url: "redis+sentinel://10.0.0.11:26379,10.0.0.12:26379/mymaster")
let jobs = client.blockingConnection(sentinel: sentinel, dataNode: dataNode)
for _ in 0..<100 {
    do {
        let job = try await jobs.command(["BLPOP", "jobs", "0"])
        print(job.elements?.last?.string ?? "")
    } catch {
        // Failed over: the next BLPOP goes to the new master. Anything else ends the loop.
        guard error.code == .disconnected, error.message.contains("master changed") else { throw error }
    }
}
await client.shutdown(deadline: .seconds(2))
