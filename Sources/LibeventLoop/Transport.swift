/// The seam between a connection's logic and its bytes: what a Redis connection needs of a socket, in the
/// spirit of hiredis's adapter hooks. ``BufferedSocket`` adopts it over libevent; tests use a fake that
/// records writes and feeds bytes, with no socket and no loop.
///
/// Every call is made, and every delegate method called, on the owner's thread (the loop thread for a real
/// socket).
public protocol Transport: AnyObject {
    /// Receives the transport's events; held weakly.
    var delegate: (any TransportDelegate)? { get set }
    /// Queues bytes for sending. Returns false when the transport is closed (the bytes are dropped).
    @discardableResult func write(_ bytes: [UInt8]) -> Bool
    /// Stops (true) or resumes (false) reading; bytes already read are still delivered.
    var isReadingPaused: Bool { get set }
    /// Closes at once, dropping unsent output. The delegate is not called. Harmless when already closed.
    func close()
}

/// Events of a ``Transport``, on the owner's thread.
public protocol TransportDelegate: AnyObject {
    /// The connection is established (for a socket: TCP_NODELAY and keepalive are set, TLS is up).
    func transportDidConnect(_ transport: any Transport)
    /// One contiguous chunk of received bytes; valid only during the call. Several may come per read.
    func transport(_ transport: any Transport, didRead chunk: UnsafeRawBufferPointer)
    /// The chunks of one read have all been delivered.
    func transportDidFinishReading(_ transport: any Transport)
    /// The transport closed because of the peer or an error (never called for ``Transport/close()``).
    func transport(_ transport: any Transport, didCloseWith error: SocketError)
}
