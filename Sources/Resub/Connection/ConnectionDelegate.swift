import RESP

/// What a ``Connection`` tells its owner, on the loop thread.
package protocol ConnectionDelegate: AnyObject {
    /// The socket connected; the handshake starts.
    func connectionDidConnect(_ connection: Connection)
    /// The handshake finished; commands may be sent.
    func connectionDidBecomeReady(_ connection: Connection)
    /// A pub/sub message; the view is valid only during the call.
    func connection(_ connection: Connection, didReceive message: RESPMessageView)
    /// Everything of one socket read has been delivered (a good moment to flush a batch).
    func connectionDidFinishReading(_ connection: Connection)
    /// A (un)subscribe confirmation that no command of ours was waiting for: the server changed a
    /// subscription on its own (e.g. it unsubscribed a shard channel whose slot moved away). Confirmations of
    /// our own commands are only counted, on the command's queue entry.
    func connection(_ connection: Connection, unsolicited kind: SubscriptionKind, subscribe: Bool, name: [UInt8])
    /// A push frame that is neither a message nor a confirmation.
    func connection(_ connection: Connection, didReceivePush value: RESPValue)
    /// The connection closed because of the server, the network or a protocol error. Not called for
    /// ``Connection/disconnect()`` or ``Connection/quit()``, whose caller knows.
    func connection(_ connection: Connection, didCloseWith error: ResubError)
}
