import Foundation
import ResubService
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

// Helpers of the tests that run the `resub` executable as a subprocess: bounded polling, temporary
// directories, closed ports, webhook bodies and stdout lines as message objects, the spool's contents.

/// Polls `condition` every `interval` until it holds or `timeout` passed (bounded in time and in rounds).
/// - Returns: whether it held.
func pollUntil(timeout: Duration, interval: Duration = .milliseconds(20), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    let rounds = Int(timeout / interval) + 1
    for _ in 0..<rounds {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { break }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}

/// Runs `spawn` (which starts a child process) again, at most 5 tries in all, when it fails with EBADF.
/// Foundation's `Process` on Linux asks `posix_spawn` to close every descriptor from 3 up to the highest open
/// one; when another thread of the test process closes one of them meanwhile (a receiver's connection, a
/// client socket), the spawn fails with EBADF before any child started, so trying again is safe.
func retryingSpawn<T>(_ spawn: () throws -> T) throws -> T {
    var attempt = 1
    while true {
        do {
            return try spawn()
        } catch {
            guard attempt < 5, isEBADF(error) else { throw error }
            attempt += 1
            usleep(20_000)
        }
    }
}

private func isEBADF(_ error: any Error) -> Bool {
    let ns = error as NSError
    if ns.domain == NSPOSIXErrorDomain && ns.code == Int(EBADF) { return true }
    guard let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError else { return false }
    return underlying.domain == NSPOSIXErrorDomain && underlying.code == Int(EBADF)
}

/// A redis-server on a free loopback port (its spawn retried on EBADF, see ``retryingSpawn(_:)``).
func startRedis() throws -> RedisServer {
    try retryingSpawn { try RedisServer() }
}

/// A fresh temporary directory (the caller removes it).
func makeTemporaryDirectory(_ label: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("resub-\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A loopback port nothing listens on (bound and released): connections to it are refused.
func closedPort() throws -> Int { try RedisServer.freePort() }

/// One message object from a webhook body or a stdout line, as strings (every field of the contract is one).
typealias MessageObject = [String: String]

/// Parses a JSON object whose values are all strings.
func parseMessageObject(_ any: Any) throws -> MessageObject {
    guard let dictionary = any as? [String: Any] else { throw FixtureError("not a JSON object: \(any)") }
    var object: MessageObject = [:]
    for (key, value) in dictionary {
        guard let text = value as? String else { throw FixtureError("\(key) is not a string: \(dictionary)") }
        object[key] = text
    }
    return object
}

/// A webhook body: a JSON array of message objects.
func parseBatch(_ body: [UInt8]) throws -> [MessageObject] {
    let parsed = try JSONSerialization.jsonObject(with: Data(body))
    guard let array = parsed as? [Any] else { throw FixtureError("body is not a JSON array: \(String(decoding: body.prefix(200), as: UTF8.self))") }
    return try array.map(parseMessageObject)
}

/// The messages of every accepted (2xx) request, in arrival order.
func acceptedMessages(_ receiver: WebhookReceiver) throws -> [MessageObject] {
    try receiver.accepted.flatMap { try parseBatch($0.body) }
}

/// How many messages were accepted so far (-1 when a body does not parse), for failure messages.
func deliveredCount(_ receiver: WebhookReceiver) -> Int {
    (try? acceptedMessages(receiver).count) ?? -1
}

/// The payloads accepted so far, for failure messages.
func deliveredPayloads(_ receiver: WebhookReceiver) -> [String] {
    ((try? acceptedMessages(receiver)) ?? []).map { $0["payload"] ?? $0["payload_base64"] ?? "?" }
}

/// The payloads delivered on `channel`, in arrival order.
func payloads(on channel: String, in messages: [MessageObject]) -> [String] {
    messages.filter { $0["channel"] == channel }.compactMap { $0["payload"] }
}

/// Waits until resub's connection holds `channels` SUBSCRIBE and `patterns` PSUBSCRIBE subscriptions in all
/// (summed over every client, from CLIENT LIST).
func waitSubscribed(_ redis: RedisServer, channels: Int, patterns: Int = 0, _ process: ServiceProcess, timeout: Duration = .seconds(10)) async throws {
    var subscribed = false
    _ = try await pollUntil(timeout: timeout) {
        let counts = try redis.subscriptionCounts()
        subscribed = counts.channels >= channels && counts.patterns >= patterns
        return subscribed || !process.isRunning
    }
    if !subscribed { throw FixtureError("not subscribed within \(timeout) (\(try redis.subscriptionCounts())); \(process.diagnostics)") }
}

/// What a spool directory still holds, decoded with the service's own record format from the cursor on.
func spoolContents(_ directory: String) -> (records: Int, messages: Int, bodies: [[UInt8]], ids: [String?]) {
    var cursor = (segment: 1, offset: 0)
    if let text = try? String(contentsOfFile: directory + "/cursor", encoding: .utf8) {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int($0) }
        if parts.count == 2 { cursor = (parts[0], parts[1]) }
    }
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
        .filter { $0.hasPrefix("segment-") && $0.hasSuffix(".log") }.sorted()
    var records = 0, messages = 0
    var bodies: [[UInt8]] = []
    var ids: [String?] = []
    for name in names {
        guard let number = Int(name.dropFirst(8).dropLast(4)), number >= cursor.segment,
              let data = FileManager.default.contents(atPath: directory + "/" + name) else { continue }
        let bytes = [UInt8](data)
        var position = number == cursor.segment ? cursor.offset : 0
        for _ in 0..<1_000_000 {
            guard position < bytes.count, let (record, next) = Spool.decode(bytes, at: position) else { break }
            records += 1
            messages += record.count
            bodies.append(record.body)
            ids.append(record.id)
            position = next
        }
    }
    return (records, messages, bodies, ids)
}
