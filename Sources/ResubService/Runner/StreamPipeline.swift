import LibeventLoop
import Logging
import Resub
import Synchronization

/// The stream side of the service: a reader on a connection of its own feeding the sink, and what it owes
/// after the sink took the entries: XACK (with a group) or the last ID in the state file (plain XREAD), each
/// only once the sink wrote or delivered them.
final class StreamPipeline: Sendable {
    private let reader: BlockingReader
    private let state: StreamState
    private let acks: AckTracker
    private let loop: EventLoop
    private let stateTick = Mutex<TimerEvent?>(nil)

    /// Reads the stream state and creates the reader (it connects at once).
    init(options: ServiceOptions, loop: EventLoop, sink: any MessageSink, flow: FlowControlDriver, metrics: ServiceMetrics,
         logger: Logger, log: @escaping @Sendable (SubscriberEvent) -> Void) throws {
        let state = try StreamState(directory: options.stateDirectory)
        let starts = options.streams.map { (key: $0, start: state.lastID($0) ?? options.streamStart) }
        var configuration = StreamReaderConfiguration(
            endpoint: options.endpoints[0], streams: starts,
            group: options.group.map { StreamReaderConfiguration.Group(name: $0.name, consumer: $0.consumer) },
            clientName: options.clientName,
            health: HealthConfiguration(pingInterval: options.pingInterval, pingTimeout: options.pingTimeout, backoff: options.backoff),
            connectTimeout: options.connectTimeout)
        configuration.tls = options.tls
        configuration.sentinel = options.sentinel
        let box = ReaderBox()
        let acks = AckTracker()
        self.acks = acks
        let grouped = options.group != nil
        let handler: ([StreamEntry]) -> Void = { entries in
            metrics.streamEntries(entries.count)
            for (stream, list) in Dictionary(grouping: entries, by: \.stream) {
                let lastID = list[list.count - 1].id
                let accepted: @Sendable () -> Void
                if grouped {
                    accepted = {
                        acks.started()
                        loop.execute {
                            guard let reader = box.reader else { return acks.finished() }
                            reader.acknowledgeOnLoop(list) { _ in acks.finished() }
                        }
                    }
                } else {
                    accepted = { state.written(stream, lastID) }
                }
                for (i, entry) in list.enumerated() {
                    let result = sink.push(record: StreamRecord.encode(entry), stream: stream, onAccepted: i == list.count - 1 ? accepted : nil)
                    if result == .queuedAboveHighWater { flow.readerAboveHighWater() }
                }
            }
        }
        let eventHandler: (SubscriberEvent) -> Void = { event in
            log(event)
            metrics.record(event)
        }
        reader = BlockingReader(configuration: configuration, loop: loop, ownsLoop: false, handler: handler, eventHandler: eventHandler)
        box.reader = reader
        flow.reader = reader
        self.state = state
        self.loop = loop
        logger.info("reading streams", metadata: [
            "streams": "\(options.streams.joined(separator: ","))",
            "group": "\(options.group.map { "\($0.name)/\($0.consumer)" } ?? "none")",
            "starts": "\(starts.map { "\($0.key)=\($0.start)" }.joined(separator: ","))",
        ])
    }

    /// Saves the state file five times a second (loop thread).
    func startOnLoop() {
        let state = self.state
        stateTick.withLock { $0 = loop.scheduleTimer(after: .milliseconds(200), repeating: true) { state.save() } }
    }

    /// After the sink is drained and closed: the last acknowledgements of what the sink accepted go out before
    /// the reader's side connection closes (bounded); anything read after the sink closed is neither written
    /// nor acknowledged, so it is read again after a restart.
    func stop() async {
        await acks.waitUntilIdle(timeout: .seconds(1))
        reader.disconnect()
        state.save()
        let tick = stateTick.withLock { $0 }
        loop.execute { tick?.cancel() }
    }
}

/// The stream reader, reachable from its own handler.
private final class ReaderBox: @unchecked Sendable {
    var reader: BlockingReader?
}

/// XACKs sent and not yet answered, so shutdown can let them finish.
private final class AckTracker: Sendable {
    private let count = Mutex(0)
    func started() { count.withLock { $0 += 1 } }
    func finished() { count.withLock { $0 -= 1 } }
    func waitUntilIdle(timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while count.withLock({ $0 }) > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}
