import RESP

/// What a stream reader reads next, as a value with no I/O: it is told that the reading connection is set
/// up or gone, that the consumer paused or resumed, and each reply, with the current time; it answers with
/// the command to send and the entries to deliver. ``StreamLink`` drives it.
///
/// Plain XREAD resolves `$` to the stream's last ID once (``unresolved``), then always reads after the last
/// ID delivered, so a reconnect resumes with no gap and no duplicate. A consumer group reads in phases:
/// its own pending entries first (from ID 0, which also recovers what a read interrupted by a disconnect
/// had already claimed), then, with `claimIdle`, stale entries of dead consumers (XAUTOCLAIM, stream by
/// stream, again every `claimIdle` while running), then new entries (`>`). One command is outstanding at
/// a time, and none while paused (reads are pulled, so pausing costs nothing on the server side).
package struct StreamReadStateMachine<Instant: InstantProtocol> where Instant.Duration == Duration {
    /// Where the reader is.
    package enum Phase: Equatable, Sendable {
        /// Not set up on a connection: nothing is read.
        case down
        /// A group's own pending entries, after the position in ``StreamReadStateMachine/lastIDs``.
        case ownPending
        /// Claiming idle entries of dead consumers: stream number `stream`, from `start`.
        case claiming(stream: Int, start: String)
        /// New entries: `>` for a group, after the last delivered ID for plain XREAD.
        case newEntries
    }

    /// What the driver must do, in order.
    package enum Action: Equatable {
        /// Send this command on the reading connection and pass its reply to ``received(_:now:)``.
        case send([String])
        /// Hand these entries to the consumer.
        case deliver([StreamEntry])
        /// XACK these entries (pending entries deleted from the stream: they can never be processed).
        case acknowledge([StreamEntry])
        /// The group (or stream) was deleted: set the streams up again, then call ``connected(now:)``.
        case setUpAgain
        /// The read was refused or its reply is malformed: give up on the connection.
        case fail(ResubError)
    }

    /// The current phase.
    package private(set) var phase: Phase = .down
    /// The resume position per stream: the last ID delivered (plain XREAD) or the pending-phase position
    /// (group).
    package private(set) var lastIDs: [String: String] = [:]
    /// Whether the consumer asked to hold reads back.
    package private(set) var isPaused = false
    /// Whether a command is outstanding.
    package private(set) var isReading = false
    private let keys: [String]
    private let group: StreamReaderConfiguration.Group?
    private let count: String
    private let blockMilliseconds: String
    private var claimedSinceStart = false
    private var lastClaim: Instant?

    /// A reader of `configuration`'s streams, down until ``connected(now:)``.
    package init(configuration: StreamReaderConfiguration) {
        keys = configuration.streams.map(\.key)
        group = configuration.group
        count = String(configuration.count)
        blockMilliseconds = String(Self.milliseconds(configuration.effectiveBlock))
        for (key, start) in configuration.streams { lastIDs[key] = start }
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    /// Streams whose `$` start must be resolved to their last ID before the first read (plain XREAD only).
    package var unresolved: [String] {
        group == nil ? keys.filter { lastIDs[$0] == "$" } : []
    }

    /// `key`'s last ID, for a `$` start (nil: the stream is empty, so everything is new).
    package mutating func resolved(_ key: String, lastID: String?) {
        guard lastIDs[key] == "$" else { return }
        lastIDs[key] = lastID ?? "0-0"
    }

    // MARK: Inputs

    /// The reading connection is set up: start reading (a group from its own pending entries).
    package mutating func connected(now: Instant) -> [Action] {
        isReading = false
        claimedSinceStart = false
        if group != nil {
            for key in keys { lastIDs[key] = "0" }
            phase = .ownPending
        } else {
            phase = .newEntries
        }
        return next(now: now)
    }

    /// The reading connection is gone; its outstanding reply will never come.
    package mutating func disconnected() {
        phase = .down
        isReading = false
    }

    /// Hold the next read back.
    package mutating func pause() {
        isPaused = true
    }

    /// Read again (when paused).
    package mutating func resume(now: Instant) -> [Action] {
        guard isPaused else { return [] }
        isPaused = false
        return next(now: now)
    }

    /// The reply to the outstanding command. Returns what to deliver; call ``next(now:)`` once the entries
    /// were handed over (the consumer may pause in between).
    package mutating func received(_ reply: RESPValue, now: Instant) -> [Action] {
        precondition(isReading, "a stream reply with no command outstanding in phase \(phase)")
        isReading = false
        switch phase {
        case .down:
            preconditionFailure("a stream reply in phase \(phase)")
        case .claiming(let stream, _):
            return claimed(reply, stream: stream)
        case .ownPending, .newEntries:
            break
        }
        let command = group == nil ? "XREAD" : "XREADGROUP"
        if reply.isError {
            let text = reply.string ?? ""
            if text.hasPrefix("NOGROUP"), group?.create == true {
                phase = .down
                return [.setUpAgain]
            }
            return [.fail(ResubError(.serverError, "\(command) refused", serverError: text, command: command))]
        }
        let entries: [StreamEntry]
        do throws(ResubError) {
            entries = try StreamEntry.parseRead(reply)
        } catch {
            return [.fail(error)]
        }
        if phase == .ownPending {
            for entry in entries { lastIDs[entry.stream] = entry.id }
            if entries.isEmpty { phase = .newEntries }
            var actions: [Action] = []
            let withFields = entries.filter { !$0.fields.isEmpty }
            if !withFields.isEmpty { actions.append(.deliver(withFields)) }
            let deleted = entries.filter(\.fields.isEmpty)
            if !deleted.isEmpty { actions.append(.acknowledge(deleted)) }
            return actions
        }
        if group == nil {
            for entry in entries { lastIDs[entry.stream] = entry.id }
        }
        return entries.isEmpty ? [] : [.deliver(entries)]
    }

    /// An XAUTOCLAIM reply: deliver what was claimed, then go on in the same stream or the next one. An
    /// error or malformed reply skips to the next stream.
    private mutating func claimed(_ reply: RESPValue, stream: Int) -> [Action] {
        guard !reply.isError, let parts = reply.elements, parts.count >= 2 else {
            advanceClaim(to: stream + 1, start: "0-0")
            return []
        }
        let entries = (parts[1].elements ?? []).compactMap { try? StreamEntry.parseEntry($0, stream: keys[stream]) }
        let next = parts[0].string ?? "0-0"
        if next == "0-0" {
            advanceClaim(to: stream + 1, start: "0-0")
        } else {
            advanceClaim(to: stream, start: next)
        }
        return entries.isEmpty ? [] : [.deliver(entries)]
    }

    private mutating func advanceClaim(to stream: Int, start: String) {
        if stream < keys.count {
            phase = .claiming(stream: stream, start: start)
        } else {
            claimedSinceStart = true
            phase = .newEntries
        }
    }

    /// The next command, unless one is outstanding, reads are paused or the reader is down.
    package mutating func next(now: Instant) -> [Action] {
        guard !isPaused, !isReading else { return [] }
        let command: [String]
        switch phase {
        case .down:
            return []
        case .ownPending:
            guard let group else { preconditionFailure("a pending-entries read without a group in phase \(phase)") }
            command = ["XREADGROUP", "GROUP", group.name, group.consumer, "COUNT", count, "STREAMS"] + keys + keys.map { lastIDs[$0] ?? "0" }
        case .claiming(let stream, let start):
            command = claimCommand(stream: stream, start: start)
        case .newEntries:
            if let group {
                if let idle = group.claimIdle, !claimedSinceStart || (lastClaim.map { $0.duration(to: now) >= idle } ?? true), !keys.isEmpty {
                    // Claim stale entries of dead consumers on start, and again every claimIdle while running,
                    // so entries of a consumer that died after this one started are taken over too.
                    lastClaim = now
                    claimedSinceStart = false
                    phase = .claiming(stream: 0, start: "0-0")
                    command = claimCommand(stream: 0, start: "0-0")
                } else {
                    command = ["XREADGROUP", "GROUP", group.name, group.consumer, "COUNT", count, "BLOCK", blockMilliseconds, "STREAMS"] + keys + keys.map { _ in ">" }
                }
            } else {
                command = ["XREAD", "COUNT", count, "BLOCK", blockMilliseconds, "STREAMS"] + keys + keys.map { lastIDs[$0] ?? "$" }
            }
        }
        isReading = true
        return [.send(command)]
    }

    private func claimCommand(stream: Int, start: String) -> [String] {
        guard let group, let idle = group.claimIdle else { preconditionFailure("a claim without claimIdle in phase \(phase)") }
        return ["XAUTOCLAIM", keys[stream], group.name, group.consumer, String(Self.milliseconds(idle)), start, "COUNT", count]
    }
}
