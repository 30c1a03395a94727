/// The subscription state of one link, with no I/O and no clock reads: every name once in a
/// ``SubscriptionTable`` with its state bits (desired, requested, confirmed, refused), the commands in
/// flight, the changes waiting for their answers, and the refused names' retry times.
///
/// Desired state, not commands: callers change the desired set through ``apply(_:now:)``; the machine
/// answers with the commands that converge the server to it. On every (re)connect it replays every desired
/// name that is not refused. Because Redis applies commands in order, sending a command for every name whose
/// requested state changes is enough to converge, even when a name is added and removed again before the
/// first command is confirmed.
///
/// Refusals: Redis refuses a whole SUBSCRIBE when one of its names is forbidden (ACL), so a refused batch
/// is resent name by name to isolate the refused ones; the rest are served. A refused name that is kept
/// (configured, or replayed) stays desired, is reported once, and is retried on its own backoff (capped at
/// the reconnect maximum) without touching the link; a refused live request leaves the desired set and its
/// caller is told. Routing refusals (MOVED, ASK, …) are not isolated: the cluster manager re-routes them.
///
/// Confirmations are counted per command by the connection; the machine only learns that a command
/// completed or was refused (commands complete in the order they were sent).
package struct SubscriptionStateMachine<Instant: InstantProtocol & Sendable>: Sendable where Instant.Duration == Duration {
    package typealias Row = SubscriptionTable.Row

    /// One command to send.
    package struct Command: Sendable, Hashable {
        /// Identifies the command while it is in flight.
        package var id: Int
        /// The subscription kind.
        package var kind: SubscriptionKind
        /// Subscribe (true) or unsubscribe (false).
        package var subscribe: Bool
        /// The names' rows, at most the batch size; shard channels all of one hash slot.
        package var rows: [Row]
        /// The change (or replay) waiting for it; 0 for none.
        package var ticket: Int
    }

    /// What the driver does after an input.
    package struct Output: Sendable {
        /// Commands to send, in order.
        package var commands: [Command] = []
        /// Changes that are answered: the ticket ``apply(_:now:)`` returned, and the per-name result.
        package var finished: [Finished] = []
        /// The replay started by ``connected()`` is over: every replayed name confirmed or refused.
        package var replayCompleted = false
        /// Names refused now: first refusals (reported once, not again on each retry) and routing refusals.
        package var refusals: [SubscriptionRefusal] = []
        /// Refused names the server accepted on a retry.
        package var restored: [SubscriptionRefusal] = []
    }

    /// A change that is answered.
    package struct Finished: Sendable {
        /// The ticket of the change.
        package var ticket: Int
        /// The result, name by name.
        package var result: SubscriptionChangeResult
    }

    /// A change waiting for its commands. Rows in its lists are pinned until it finishes.
    private struct Ticket: Sendable {
        var remaining = 0
        var collects: Bool
        var confirmed: [Row] = []
        var queued: [Row] = []
        var refused: [(Row, String)] = []
        /// Names answered without a command.
        var direct = SubscriptionChangeResult()
    }

    /// A refused name's next retry.
    private struct Retry: Sendable {
        var attempt: Int
        var due: Instant
        var error: String
    }

    /// Every name with its state.
    package private(set) var table = SubscriptionTable()
    package private(set) var isConnected = false
    /// Commands sent and not yet confirmed or refused.
    package private(set) var inFlight: [Int: Command] = [:]
    private var tickets: [Int: Ticket] = [:]
    private var replayTicket: Int?
    private var retries: [Row: Retry] = [:]
    private var nextID = 0
    /// Names per command.
    package let batchSize: Int
    /// The refused names' retry delays (the reconnect backoff, no jitter: there is one retry per name).
    package let retryBackoff: BackoffConfiguration

    /// Creates the machine, disconnected, with an initial desired set (configured: kept when refused).
    package init(desired: SubscriptionSet = .init(), batchSize: Int = 1000, retryBackoff: BackoffConfiguration = .init()) {
        self.init(configured: SubscriptionTable(configured: desired), batchSize: batchSize, retryBackoff: retryBackoff)
    }

    /// Creates the machine, disconnected, from a table of configured names (``SubscriptionTable/init(configured:)``:
    /// every row desired and kept, nothing else), which it takes over without copying a name.
    package init(configured: SubscriptionTable, batchSize: Int = 1000, retryBackoff: BackoffConfiguration = .init()) {
        precondition(batchSize > 0, "batch size must be positive")
        let desired = SubscriptionKind.allCases.reduce(0) { $0 + configured.count($1, .desired) }
        let other = SubscriptionKind.allCases.reduce(0) { sum, kind in
            sum + configured.count(kind, .requested) + configured.count(kind, .confirmed) + configured.count(kind, .refused)
        }
        precondition(desired == configured.count && other == 0, "a configured table holds desired names only")
        self.batchSize = batchSize
        self.retryBackoff = retryBackoff
        self.table = configured
    }

    // MARK: Views

    /// The desired names (a view built on demand).
    package var desired: SubscriptionSet { table.set(.desired) }
    /// The names the server will hold once every command sent is applied (a view built on demand).
    package var requested: SubscriptionSet { table.set(.requested) }
    /// What the server has confirmed: the effect of every completed command, in order, and of the server's
    /// own drops (a view built on demand).
    package var confirmed: SubscriptionSet { table.set(.confirmed) }
    /// The desired keyspace/keyevent channels and patterns (``KeyspaceEvents/isNodeLocal(_:)``), without
    /// copying the other names.
    package var desiredNodeLocal: [String] {
        [SubscriptionKind.channel, .pattern].flatMap { table.names($0, .desired, where: KeyspaceEvents.isNodeLocal(bytes:)) }
    }
    /// How many names of `kind` are desired.
    package func desiredCount(_ kind: SubscriptionKind) -> Int { table.count(kind, .desired) }
    /// The desired names the server refuses, with its error text, sorted by kind and name.
    package var refusals: [SubscriptionRefusal] {
        retries.map { SubscriptionRefusal(kind: table.kind($0.key), name: table.name($0.key), error: $0.value.error) }
            .sorted { ($0.kind.rawValue, $0.name) < ($1.kind.rawValue, $1.name) }
    }
    /// Whether the server confirmed everything requested (which, while connected, is the desired set
    /// less the refused names).
    package var isFullyConfirmed: Bool { isConnected && inFlight.isEmpty }
    /// When the next refused name is due for a retry (none while every refused name is in flight).
    package var nextRetry: Instant? {
        retries.lazy.filter { !table.state($0.key).contains(.requested) }.map(\.value.due).min()
    }
    /// The names of a command, as strings to encode.
    package func names(_ command: Command) -> [String] { command.rows.map { table.name($0) } }

    // MARK: Inputs

    /// Adds or removes names. Returns the commands to send now (none while disconnected) and a ticket that a
    /// later output's ``Output/finished`` answers (at once when no command was needed).
    package mutating func apply(_ change: SubscriptionChange, now: Instant) -> (ticket: Int, output: Output) {
        nextID += 1
        let ticket = nextID
        var t = Ticket(collects: true)
        var send: [Row] = []
        for name in change.names {
            if change.subscribe {
                let row = table.insert(change.kind, name)
                table.update(row, set: change.keepsRefused ? [.desired, .kept] : .desired)
                let state = table.state(row)
                if !isConnected {
                    t.direct.queued.append(name)
                } else if state.contains(.requested) {
                    // Asked for already: confirmed, or on its way (e.g. in the replay: applied like a queued name).
                    if state.contains(.confirmed) { t.direct.confirmed.append(name) } else { t.direct.queued.append(name) }
                } else {
                    table.update(row, set: .requested)
                    table.pin(row)
                    send.append(row)
                }
            } else {
                guard let row = table.row(change.kind, name) else {
                    if isConnected { t.direct.confirmed.append(name) } else { t.direct.queued.append(name) }
                    continue
                }
                retries[row] = nil
                let unsubscribe = isConnected && table.state(row).contains(.requested)
                if unsubscribe { table.pin(row) }
                table.update(row, clear: unsubscribe ? [.desired, .kept, .refused, .requested] : [.desired, .kept, .refused])
                if unsubscribe {
                    send.append(row)
                } else if isConnected {
                    t.direct.confirmed.append(name)
                } else {
                    t.direct.queued.append(name)
                }
            }
        }
        tickets[ticket] = t
        var output = Output()
        output.commands = makeCommands(change.kind, subscribe: change.subscribe, send, ticket: ticket)
        finishIfDone(ticket, &output)
        return (ticket, output)
    }

    /// A connection is ready: replay every desired name that is not refused (those are retried on their own
    /// backoff). ``Output/replayCompleted`` tells when every replayed name was answered.
    package mutating func connected() -> Output {
        precondition(!isConnected, "connected twice without a disconnect")
        isConnected = true
        nextID += 1
        let ticket = nextID
        replayTicket = ticket
        tickets[ticket] = Ticket(collects: false)
        var output = Output()
        for kind in SubscriptionKind.allCases {
            let rows = table.rows(kind, all: .desired, none: .refused)
            for row in rows {
                table.update(row, set: .requested)
                table.pin(row)
            }
            output.commands += makeCommands(kind, subscribe: true, rows, ticket: ticket)
        }
        finishIfDone(ticket, &output)
        return output
    }

    /// The connection is gone: the server holds nothing for us any more. Waiting changes are answered with
    /// their unanswered names queued (the next replay applies them).
    package mutating func disconnected() -> Output {
        isConnected = false
        var output = Output()
        for command in inFlight.values.sorted(by: { $0.id < $1.id }) {
            if command.ticket != 0, tickets[command.ticket]?.collects == true {
                tickets[command.ticket]!.queued += command.rows
            } else {
                for row in command.rows { table.unpin(row) }
            }
        }
        inFlight = [:]
        table.clearAll([.requested, .confirmed])
        replayTicket = nil
        for ticket in tickets.keys.sorted() {
            if tickets[ticket]!.collects {
                tickets[ticket]!.remaining = 0
                finishIfDone(ticket, &output)
            }
        }
        tickets = [:]
        return output
    }

    /// Every name of a command was confirmed.
    package mutating func completed(_ command: Command) -> Output {
        var output = Output()
        guard inFlight.removeValue(forKey: command.id) != nil else { return output }
        for row in command.rows {
            if command.subscribe {
                table.update(row, set: .confirmed, clear: .refused)
                if let retry = retries.removeValue(forKey: row) {
                    output.restored.append(SubscriptionRefusal(kind: command.kind, name: table.name(row), error: retry.error))
                }
            } else {
                table.update(row, clear: .confirmed)
            }
        }
        answer(command, &output) { $0.confirmed += command.rows }
        return output
    }

    /// The server refused a command with `error` (its error text).
    package mutating func refused(_ command: Command, error: String, now: Instant) -> Output {
        var output = Output()
        guard inFlight.removeValue(forKey: command.id) != nil else { return output }
        if !command.subscribe {
            answer(command, &output) { $0.refused += command.rows.map { ($0, error) } }
            return output
        }
        if Self.isRouting(error) {
            for row in command.rows {
                table.update(row, clear: .requested)
                output.refusals.append(SubscriptionRefusal(kind: command.kind, name: table.name(row), error: error))
            }
            answer(command, &output) { $0.queued += command.rows }
            return output
        }
        if command.rows.count > 1 {
            // Isolate the refused names: each alone, pins handed over, same ticket.
            if command.ticket != 0 { tickets[command.ticket]!.remaining += command.rows.count - 1 }
            for row in command.rows {
                nextID += 1
                let single = Command(id: nextID, kind: command.kind, subscribe: true, rows: [row], ticket: command.ticket)
                inFlight[single.id] = single
                output.commands.append(single)
            }
            return output
        }
        let row = command.rows[0]
        table.update(row, clear: .requested)
        let state = table.state(row)
        let live = command.ticket != 0 && command.ticket != replayTicket
        if state.contains(.desired) && (state.contains(.kept) || !live) {
            if var retry = retries[row] {
                retry.attempt += 1
                retry.due = now.advanced(by: Backoff.ceiling(attempt: retry.attempt, configuration: retryBackoff))
                retry.error = error
                retries[row] = retry
            } else {
                retries[row] = Retry(attempt: 0, due: now.advanced(by: Backoff.ceiling(attempt: 0, configuration: retryBackoff)), error: error)
                table.update(row, set: .refused)
                output.refusals.append(SubscriptionRefusal(kind: command.kind, name: table.name(row), error: error))
            }
        } else if state.contains(.desired) {
            table.update(row, clear: .desired)  // a live request that failed: its caller is told
            output.refusals.append(SubscriptionRefusal(kind: command.kind, name: table.name(row), error: error))
        }
        answer(command, &output) { $0.refused.append((row, error)) }
        return output
    }

    /// The server dropped a name on its own (e.g. a shard channel's slot moved away). With `resubscribe`
    /// (standalone) a still-desired name is asked for again on this link; without (a cluster shard link) it
    /// is no longer requested here and the owner re-routes it.
    package mutating func lost(_ kind: SubscriptionKind, name: String, resubscribe: Bool) -> Output {
        var output = Output()
        guard let row = table.row(kind, name) else { return output }
        if resubscribe, isConnected, table.state(row).contains(.desired) {
            table.update(row, set: .requested, clear: .confirmed)
            table.pin(row)
            output.commands = makeCommands(kind, subscribe: true, [row], ticket: 0)
        } else {
            table.update(row, clear: [.confirmed, .requested])
        }
        return output
    }

    /// Sends every refused name whose retry is due, each alone, without touching the rest of the link.
    package mutating func retryDue(now: Instant) -> Output {
        var output = Output()
        guard isConnected else { return output }
        let due = retries.filter { $0.value.due <= now && !table.state($0.key).contains(.requested) }.keys.sorted()
        for row in due {
            table.update(row, set: .requested)
            table.pin(row)
            output.commands += makeCommands(table.kind(row), subscribe: true, [row], ticket: 0)
        }
        return output
    }

    /// Whether a server error is about routing (cluster) rather than a refusal of the name.
    package static func isRouting(_ error: String) -> Bool {
        error.hasPrefix("MOVED") || error.hasPrefix("ASK") || error.hasPrefix("CLUSTERDOWN") || error.hasPrefix("TRYAGAIN")
    }

    // MARK: Bookkeeping

    /// Hands a finished command's pinned rows to its ticket (or unpins them), and answers the ticket when it
    /// was the last command.
    private mutating func answer(_ command: Command, _ output: inout Output, _ record: (inout Ticket) -> Void) {
        guard command.ticket != 0, tickets[command.ticket] != nil else {
            for row in command.rows { table.unpin(row) }
            return
        }
        if tickets[command.ticket]!.collects {
            record(&tickets[command.ticket]!)
        } else {
            for row in command.rows { table.unpin(row) }
        }
        tickets[command.ticket]!.remaining -= 1
        finishIfDone(command.ticket, &output)
    }

    private mutating func finishIfDone(_ ticket: Int, _ output: inout Output) {
        guard let t = tickets[ticket], t.remaining == 0 else { return }
        tickets[ticket] = nil
        if ticket == replayTicket {
            replayTicket = nil
            output.replayCompleted = true
        }
        guard t.collects else { return }
        var result = t.direct
        for row in t.confirmed { result.confirmed.append(table.name(row)) }
        for row in t.queued { result.queued.append(table.name(row)) }
        for (row, error) in t.refused { result.refused.append(.init(name: table.name(row), error: error)) }
        for row in t.confirmed + t.queued + t.refused.map({ $0.0 }) { table.unpin(row) }
        output.finished.append(Finished(ticket: ticket, result: result))
    }

    /// Splits pinned rows into commands of at most `batchSize` names (pins handed to the commands) and
    /// records them in flight; shard channels are grouped by hash slot (a cluster rejects an SSUBSCRIBE
    /// naming several slots with CROSSSLOT).
    private mutating func makeCommands(_ kind: SubscriptionKind, subscribe: Bool, _ rows: [Row], ticket: Int) -> [Command] {
        guard !rows.isEmpty else { return [] }
        var groups: [ArraySlice<Row>] = []
        if kind == .shardChannel {
            var bySlot: [UInt16: [Row]] = [:]
            for row in rows { bySlot[table.withName(row) { HashSlot(key: $0).rawValue }, default: []].append(row) }
            for slot in bySlot.keys.sorted() { groups += Self.chunks(bySlot[slot]!, batchSize) }
        } else {
            groups = Self.chunks(rows, batchSize)
        }
        var result: [Command] = []
        result.reserveCapacity(groups.count)
        for group in groups {
            nextID += 1
            let command = Command(id: nextID, kind: kind, subscribe: subscribe, rows: Array(group), ticket: ticket)
            inFlight[command.id] = command
            result.append(command)
        }
        if ticket != 0 { tickets[ticket]!.remaining += result.count }
        return result
    }

    private static func chunks(_ rows: [Row], _ size: Int) -> [ArraySlice<Row>] {
        stride(from: 0, to: rows.count, by: size).map { rows[$0..<min($0 + size, rows.count)] }
    }
}
