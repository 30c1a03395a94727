import LibeventLoop

/// A ``Transport`` with no socket: records what is written and lets a test play the server, byte by byte if
/// it likes. Single-threaded: the test drives it from one thread, as the loop would.
public final class FakeTransport: Transport, @unchecked Sendable {
    /// Receives the transport's events; held weakly, as a real socket does.
    public weak var delegate: (any TransportDelegate)?
    /// Everything written so far, in order.
    public private(set) var written: [UInt8] = []
    /// Whether the owner paused reading.
    public var isReadingPaused = false
    /// Whether ``close()`` was called (or the test closed it from the server's side).
    public private(set) var isClosed = false
    /// How many times the owner called ``close()``.
    public private(set) var closeCount = 0

    /// A transport not yet connected; call ``connect()`` to report the connection.
    public init() {}

    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        guard !isClosed else { return false }
        written += bytes
        return true
    }

    public func close() {
        closeCount += 1
        isClosed = true
    }

    // MARK: Playing the server

    /// Reports the connection as established.
    public func connect() {
        delegate?.transportDidConnect(self)
    }

    /// Delivers `bytes` as one read (one chunk, then the end of the read).
    public func receive(_ bytes: [UInt8]) {
        guard !isClosed else { return }
        bytes.withUnsafeBytes { delegate?.transport(self, didRead: $0) }
        delegate?.transportDidFinishReading(self)
    }

    /// Delivers `text` (RESP written out, e.g. `"+OK\r\n"`) as one read.
    public func receive(_ text: String) {
        receive(Array(text.utf8))
    }

    /// Closes from the server's side (EOF or an error) and tells the delegate.
    public func fail(_ error: SocketError = .endOfFile) {
        guard !isClosed else { return }
        isClosed = true
        delegate?.transport(self, didCloseWith: error)
    }

    /// Returns what was written since the last call, and forgets it.
    public func takeWritten() -> [UInt8] {
        defer { written = [] }
        return written
    }

    /// What was written since the last ``takeWritten()``, as text (commands are RESP arrays of bulk strings).
    public var writtenText: String { String(decoding: written, as: UTF8.self) }
}
