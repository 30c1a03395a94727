// Watch the connection's health and the outages (gaps) during which messages may have been missed.
import Resub

let subscriber = Subscriber(configuration: try .init(url: "redis://127.0.0.1:6379"))
try await subscriber.subscribe(channels: ["orders"])

for await event in subscriber.events {
    switch event {
    case .stateChanged(let node, let from, let to, let reason):
        print("\(node): \(from) -> \(to)", reason.map { "(\($0))" } ?? "")
    case .gap(let gap):
        // Nothing published between these two instants reached us: re-read the source of truth for them.
        print("missed messages on \(gap.node) from \(gap.from) to \(gap.to) for \(gap.subscriptions.count) names")
    case .resubscribed(let node, let channels, let patterns, let shardChannels, let duration):
        print("\(node): \(channels + patterns + shardChannels) subscriptions replayed in \(duration)")
    case .messagesDropped(let count):
        print("the consumer fell behind: \(count) messages dropped")
    default:
        break
    }
}
