// Every failure is a ResubError with a stable code to match on, and context (server reply, node) to log.
import Resub

let subscriber = Subscriber(configuration: try .init(url: "redis://127.0.0.1:6379"))
do {
    try await subscriber.subscribe(channels: ["orders"])
} catch {
    switch error.code {   // `subscribe` throws ResubError (typed throws)
    case .serverError:
        print("refused by \(error.node ?? "the server"): \(error.serverError ?? error.message)")
    case .authenticationFailed:
        print("check the credentials: \(error.message)")
    case .disconnected, .shutDown:
        print("the subscriber was shut down")
    default:
        print("failed: \(error)")
    }
}
await subscriber.shutdown()
