// Subscribe to a channel and a pattern, print every message and event, stop on "stop".
import Resub

let subscriber = Subscriber(configuration: try .init(url: "redis://127.0.0.1:6379"))
try await subscriber.subscribe(channels: ["orders"])
try await subscriber.subscribe(patterns: ["news.*"])

Task {
    for await event in subscriber.events { print("event:", event) }   // state changes, resubscribed, gap, …
}
for await message in subscriber.messages {                            // or `batches`, one batch per socket read
    print(message.kind, message.channel, message.payloadString ?? "<\(message.payload.count) bytes>")
    if message.payloadString == "stop" { break }
}
await subscriber.shutdown()
