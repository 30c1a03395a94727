// A Subscriber as a swift-service-lifecycle Service, beside the app that consumes its messages. On SIGTERM
// the group shuts down in reverse order: the subscriber unsubscribes (no new messages; those already sent
// are still received) and closes within its shutdownDeadline, then the app drains what was received.
import Logging
import Resub
import ServiceLifecycle

/// The app: handles every message until the subscriber's sequence ends.
struct OrderProcessor: Service {
    let messages: MessageSequence

    func run() async throws {
        for await message in messages {
            print("order:", message.payloadString ?? "<binary>")
        }
        // The subscriber stopped and every message it received is handled: stay until the group stops us
        // (a service that returns early would make the group fail).
        try? await gracefulShutdown()
    }
}

var configuration = try SubscriberConfiguration(url: "redis://127.0.0.1:6379")
configuration.initialSubscriptions = SubscriptionSet(channels: ["orders"])
configuration.shutdownDeadline = .seconds(5)
let subscriber = Subscriber(configuration: configuration)

let group = ServiceGroup(
    services: [OrderProcessor(messages: subscriber.messages), subscriber],
    gracefulShutdownSignals: [.sigterm, .sigint],
    logger: Logger(label: "orders"))
try await group.run()
