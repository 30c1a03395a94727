import ResubService

// Parse (usage errors exit 64 naming the option), then run until SIGTERM/SIGINT or --count.
var command = ResubCommand.parseOrExit()
do {
    try await command.runService()
} catch {
    ResubCommand.exit(withError: error)
}
