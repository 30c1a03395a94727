// Cluster mode: the URLs are seeds; shard channels go to the master that owns their slot, and follow it
// through failovers and resharding.
import Resub

var configuration = try SubscriberConfiguration(url: "redis://10.0.0.1:7000")
configuration.cluster = ClusterConfiguration(
    seeds: [try RedisEndpoint(url: "redis://10.0.0.1:7000"), try RedisEndpoint(url: "redis://10.0.0.2:7000")],
    slots: .all)
let subscriber = Subscriber(configuration: configuration)
try await subscriber.subscribe(shardChannels: ["user:{42}", "user:{43}"])
try await subscriber.subscribe(channels: ["announcements"])   // plain channels: one node is enough

for await message in subscriber.messages {
    print(message.channel, message.payloadString ?? "<binary>")
}
