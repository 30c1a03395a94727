import LibeventLoop
import RESP
import Resub

/// Opens ``Connection``s over ``FakeTransport``s on a ``ManualScheduler``, and keeps every transport so a
/// test can play the server of each connection a driver opened, in order. Single-threaded.
public final class FakeConnections: @unchecked Sendable {
    /// The scheduler the connections' timers run on.
    public let scheduler: ManualScheduler
    /// The transport of every connection opened so far, oldest first.
    public private(set) var transports: [FakeTransport] = []
    /// The configuration of every connection opened so far, oldest first (where each one went).
    public private(set) var configurations: [ConnectionConfiguration] = []

    /// No connection opened yet.
    public init(scheduler: ManualScheduler) {
        self.scheduler = scheduler
    }

    /// Opens a connection over a new fake transport (pass as a ``LinkEnvironment``'s `open`).
    package func open(_ configuration: ConnectionConfiguration, _ delegate: any ConnectionDelegate) -> Connection {
        let transport = FakeTransport()
        transports.append(transport)
        configurations.append(configuration)
        return Connection(scheduler: scheduler, configuration: configuration, delegate: delegate) { transportDelegate in
            transport.delegate = transportDelegate
            return transport
        }
    }

    /// The transport of the last connection opened.
    public var last: FakeTransport? { transports.last }

    /// The `HELLO 3` reply of a Redis 7 server.
    public static let helloReply = RESPBuilder.wire(.map([
        RESPPair(.bulkString(Array("server".utf8)), .bulkString(Array("redis".utf8))),
        RESPPair(.bulkString(Array("proto".utf8)), .integer(3)),
    ]))

    /// Connects `transport` and answers its handshake (`HELLO 3`, with SETNAME when a client name is set).
    /// Returns the commands of the handshake, for the test to check; they are taken from the transport.
    @discardableResult
    public static func handshake(_ transport: FakeTransport) -> [[String]] {
        transport.connect()
        let sent = commands(transport.takeWritten())
        transport.receive(helloReply)
        return sent
    }

    /// The commands in `bytes` (RESP arrays of bulk strings, as a client writes them).
    public static func commands(_ bytes: [UInt8]) -> [[String]] {
        var parser = RESPParser()
        parser.feed(bytes)
        var result: [[String]] = []
        while let value = try? parser.next() {
            result.append((value.elements ?? []).map { $0.string ?? "" })
        }
        return result
    }
}
