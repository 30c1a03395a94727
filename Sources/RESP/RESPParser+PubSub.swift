/// The receive hot path: complete pub/sub frames read in place, without building ``RESPValue``s.
extension RESPParser {
    /// Consumes every complete pub/sub message frame at the front of the buffer, calling `body` for each
    /// without building ``RESPValue``s, and stops at the first frame of another shape or an incomplete one
    /// (which ``next()`` then handles). Only valid between values (``next()`` has no partial aggregate).
    ///
    /// - Parameter allowArrays: also accept RESP2 arrays (`*3`, `*4`); pass `true` only when the connection
    ///   is in RESP2 subscribed mode, where no ordinary reply can look like a message. RESP3 push frames
    ///   (`>3`, `>4`) are always accepted.
    /// - Returns: how many messages were consumed.
    /// - Throws: what `body` throws. The messages before the one it threw for stay consumed; that one and the
    ///   rest stay buffered.
    public mutating func drainPubSubMessages(
        allowArrays: Bool,
        _ body: (RESPMessageView) throws -> Void
    ) rethrows -> Int {
        try drainFrames(allowArrays: allowArrays, takesConfirmations: false, message: body, confirmation: { _ in })
    }

    /// Like ``drainPubSubMessages(allowArrays:_:)``, and also consumes (un)subscribe confirmation frames
    /// (`subscribe`, `psubscribe`, `ssubscribe`, `unsubscribe`, `punsubscribe`, `sunsubscribe` with a
    /// channel name and a count), calling `confirmation` for each: replaying 100,000 channels yields
    /// 100,000 of them, and building values for each would dominate the replay. What a frame is, is decided
    /// by ``PubSubFrame``, as on the general path (``RESPFrameRoute``); this path takes only frames whose
    /// parts are all complete bulk strings (a confirmation's count an integer) and leaves the rest to ``next()``.
    /// - Returns: how many frames (messages and confirmations) were consumed.
    public mutating func drainPubSubFrames(
        allowArrays: Bool,
        message body: (RESPMessageView) throws -> Void,
        confirmation: (RESPConfirmationView) throws -> Void
    ) rethrows -> Int {
        try drainFrames(allowArrays: allowArrays, takesConfirmations: true, message: body, confirmation: confirmation)
    }

    /// Both drains. The closures are non-escaping on purpose: an optional closure parameter escapes, and
    /// calling one retains its context; a context the optimizer put on the stack is immortal, whose retain and
    /// release take the runtime's slow path (measured: 15% of the loop thread's time in a 1M-channel replay).
    @inline(__always)
    private mutating func drainFrames(
        allowArrays: Bool,
        takesConfirmations: Bool,
        message body: (RESPMessageView) throws -> Void,
        confirmation: (RESPConfirmationView) throws -> Void
    ) rethrows -> Int {
        let maxBulk = configuration.maxBulkLength
        return try withUnconsumedBytes { raw, consumed -> Int in
            guard let base = raw.baseAddress else { return 0 }
            let end = raw.count
            var count = 0
            frames: while end - consumed >= 4 {
                // The header: ">3\r\n" or ">4\r\n" (arrays "*3", "*4" in RESP2 subscribed mode).
                let start = consumed
                let t = raw[start]
                guard t == 62 || (allowArrays && t == 42), raw[start + 2] == 13, raw[start + 3] == 10 else { break }
                let elements = Int(raw[start + 1]) &- 48
                guard elements == 3 || elements == 4,
                      let verb = Self.completeBulk(raw, at: start + 4, end: end, maxBulk: maxBulk),
                      let frame = PubSubFrame(elementCount: elements, verb: UnsafeRawBufferPointer(start: base + verb.start, count: verb.length))
                else { break }
                switch frame {
                case .message(let kind):
                    guard let first = Self.completeBulk(raw, at: verb.next, end: end, maxBulk: maxBulk),
                          let second = Self.completeBulk(raw, at: first.next, end: end, maxBulk: maxBulk)
                    else { break frames }
                    if kind == .pmessage {
                        guard let third = Self.completeBulk(raw, at: second.next, end: end, maxBulk: maxBulk) else { break frames }
                        try body(RESPMessageView(
                            kind: kind,
                            pattern: UnsafeRawBufferPointer(start: base + first.start, count: first.length),
                            channel: UnsafeRawBufferPointer(start: base + second.start, count: second.length),
                            payload: UnsafeRawBufferPointer(start: base + third.start, count: third.length)))
                        consumed = third.next
                    } else {
                        try body(RESPMessageView(
                            kind: kind,
                            pattern: UnsafeRawBufferPointer(start: base, count: 0),
                            channel: UnsafeRawBufferPointer(start: base + first.start, count: first.length),
                            payload: UnsafeRawBufferPointer(start: base + second.start, count: second.length)))
                        consumed = second.next
                    }
                case .confirmation(let kind, let subscribe):
                    // A null name (after a bare UNSUBSCRIBE) or another count is left to next().
                    guard takesConfirmations, elements == 3,
                          let name = Self.completeBulk(raw, at: verb.next, end: end, maxBulk: maxBulk),
                          let total = Self.completeInteger(raw, at: name.next, end: end)
                    else { break frames }
                    try confirmation(RESPConfirmationView(
                        kind: kind, subscribe: subscribe,
                        name: UnsafeRawBufferPointer(start: base + name.start, count: name.length), count: total.value))
                    consumed = total.next
                }
                count += 1
            }
            return count
        } ?? 0
    }

    /// A complete bulk string `$<len>\r\n<bytes>\r\n` at `start`: its bytes' start and length and where the
    /// next element starts; nil when it is anything else (null included), over `maxBulk`, or not all there yet.
    @inline(__always)
    static func completeBulk(_ raw: UnsafeRawBufferPointer, at start: Int, end: Int, maxBulk: Int) -> (start: Int, length: Int, next: Int)? {
        var p = start
        guard p < end, raw[p] == 36 else { return nil }
        p += 1
        var length = 0
        var digits = 0
        while p < end, raw[p] &- 48 < 10, digits < 11 {
            length = length &* 10 &+ Int(raw[p] &- 48)
            p += 1
            digits += 1
        }
        guard digits > 0, length <= maxBulk, end - p >= length + 4, raw[p] == 13, raw[p + 1] == 10,
              raw[p + 2 + length] == 13, raw[p + 3 + length] == 10
        else { return nil }
        return (p + 2, length, p + 4 + length)
    }

    /// A complete non-negative integer `:<digits>\r\n` (at most 18 digits) at `start`: its value and where
    /// the next element starts; nil for anything else or when not all there yet.
    @inline(__always)
    static func completeInteger(_ raw: UnsafeRawBufferPointer, at start: Int, end: Int) -> (value: Int64, next: Int)? {
        var p = start
        guard p < end, raw[p] == 58 else { return nil }
        p += 1
        var value: Int64 = 0
        var digits = 0
        while p < end, raw[p] &- 48 < 10, digits < 18 {
            value = value &* 10 &+ Int64(raw[p] &- 48)
            p += 1
            digits += 1
        }
        guard digits > 0, end - p >= 2, raw[p] == 13, raw[p + 1] == 10 else { return nil }
        return (value, p + 2)
    }
}
