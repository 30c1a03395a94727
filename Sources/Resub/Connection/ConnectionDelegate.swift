import RESP

/// What a ``Connection`` tells its owner, on the loop thread: its lifecycle as ``ConnectionEvent``s, and
/// (subscriber links only) the messages it receives.
package protocol ConnectionDelegate: AnyObject {
    /// The connection moved on: connected, ready, a read finished, a frame nothing was waiting for, closed.
    func connection(_ connection: Connection, didReport event: ConnectionEvent)
    /// A pub/sub message; the view is valid only during the call. Only subscriber links receive any, so
    /// this has a default that ignores it.
    func connection(_ connection: Connection, didReceive message: RESPMessageView)
}

extension ConnectionDelegate {
    /// Connections that never subscribe never receive a message.
    package func connection(_ connection: Connection, didReceive message: RESPMessageView) {}
}

/// One step in a ``Connection``'s life, as its delegate hears of it.
package enum ConnectionEvent {
    /// The socket connected; the handshake starts.
    case connected
    /// The handshake finished; commands may be sent.
    case ready
    /// Everything of one socket read has been delivered (a good moment to flush a batch).
    case readFinished
    /// A (un)subscribe confirmation that no command of ours was waiting for: the server changed a
    /// subscription on its own (e.g. it unsubscribed a shard channel whose slot moved away). Confirmations of
    /// our own commands are only counted, on the command's queue entry.
    case unsolicited(kind: SubscriptionKind, subscribe: Bool, name: [UInt8])
    /// A push frame that is neither a message nor a confirmation.
    case push(RESPValue)
    /// The connection closed because of the server, the network or a protocol error. Not reported for
    /// ``Connection/disconnect()`` or ``Connection/quit()``, whose caller knows.
    case closed(ResubError)
}
