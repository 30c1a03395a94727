// Read a stream as a consumer group member; acknowledge each entry once it is safely handled. One
// ResubClient (one loop thread) can carry any number of subscribers and readers.
import Resub

let client = ResubClient()
let reader = client.streamReader(StreamReaderConfiguration(
    endpoint: try RedisEndpoint(url: "redis://127.0.0.1:6379"),
    streams: [(key: "events", start: "$")],   // with a group the position is the group's
    group: .init(name: "billing", consumer: "worker-1")))

for await entry in reader.entries {
    for field in entry.fields {
        print(entry.stream, entry.id, field.name, String(decoding: field.value, as: UTF8.self))
    }
    _ = try await reader.acknowledge([entry])   // XACK only after the entry is handled
}
await client.shutdown(deadline: .seconds(2))
