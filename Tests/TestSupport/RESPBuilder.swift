public import RESP

/// Wire bytes for tests: what a Redis server sends, built from ``RESPValue``s instead of typed by hand.
///
/// Pub/sub frames are pushes (`>N`) when `resp3` is true and arrays (`*N`) otherwise, with bulk-string
/// parts, as Redis sends them. Every function is pure and may run on any thread.
public enum RESPBuilder {
    /// The command a subscription confirmation answers, spelled as the first element of the frame.
    public enum SubscriptionKind: String, Sendable, CaseIterable {
        /// `subscribe`: SUBSCRIBE to a channel.
        case subscribe
        /// `unsubscribe`: UNSUBSCRIBE from a channel.
        case unsubscribe
        /// `psubscribe`: PSUBSCRIBE to a pattern.
        case psubscribe
        /// `punsubscribe`: PUNSUBSCRIBE from a pattern.
        case punsubscribe
        /// `ssubscribe`: SSUBSCRIBE to a shard channel.
        case ssubscribe
        /// `sunsubscribe`: SUNSUBSCRIBE from a shard channel (also pushed when its slot moves away).
        case sunsubscribe
    }

    // MARK: Values and bytes

    /// The UTF-8 bytes of `text`.
    public static func bytes(_ text: String) -> [UInt8] {
        Array(text.utf8)
    }

    /// The wire form of `value`, as a server would send it (`.null` becomes the RESP3 `_`).
    public static func wire(_ value: RESPValue) -> [UInt8] {
        RESPEncoder.encode(value)
    }

    /// The wire forms of `values`, back to back.
    public static func wire(_ values: [RESPValue]) -> [UInt8] {
        var buffer: [UInt8] = []
        for value in values { RESPEncoder.append(value, to: &buffer) }
        return buffer
    }

    /// A pub/sub frame made of `parts` as bulk strings: a push in RESP3, an array in RESP2.
    public static func frameValue(_ parts: [[UInt8]], resp3: Bool) -> RESPValue {
        let elements = parts.map(RESPValue.bulkString)
        return resp3 ? .push(elements) : .array(elements)
    }

    // MARK: Messages

    /// The value of a `message` frame (a SUBSCRIBE channel's message).
    public static func messageValue(channel: [UInt8], payload: [UInt8], resp3: Bool = true) -> RESPValue {
        frameValue([bytes("message"), channel, payload], resp3: resp3)
    }

    /// The wire bytes of a `message` frame.
    public static func message(channel: [UInt8], payload: [UInt8], resp3: Bool = true) -> [UInt8] {
        wire(messageValue(channel: channel, payload: payload, resp3: resp3))
    }

    /// The wire bytes of a `message` frame, from UTF-8 text.
    public static func message(channel: String, payload: String, resp3: Bool = true) -> [UInt8] {
        message(channel: bytes(channel), payload: bytes(payload), resp3: resp3)
    }

    /// The value of a `pmessage` frame (a PSUBSCRIBE pattern's message).
    public static func pmessageValue(pattern: [UInt8], channel: [UInt8], payload: [UInt8], resp3: Bool = true) -> RESPValue {
        frameValue([bytes("pmessage"), pattern, channel, payload], resp3: resp3)
    }

    /// The wire bytes of a `pmessage` frame.
    public static func pmessage(pattern: [UInt8], channel: [UInt8], payload: [UInt8], resp3: Bool = true) -> [UInt8] {
        wire(pmessageValue(pattern: pattern, channel: channel, payload: payload, resp3: resp3))
    }

    /// The wire bytes of a `pmessage` frame, from UTF-8 text.
    public static func pmessage(pattern: String, channel: String, payload: String, resp3: Bool = true) -> [UInt8] {
        pmessage(pattern: bytes(pattern), channel: bytes(channel), payload: bytes(payload), resp3: resp3)
    }

    /// The value of an `smessage` frame (an SSUBSCRIBE shard channel's message).
    public static func smessageValue(channel: [UInt8], payload: [UInt8], resp3: Bool = true) -> RESPValue {
        frameValue([bytes("smessage"), channel, payload], resp3: resp3)
    }

    /// The wire bytes of an `smessage` frame.
    public static func smessage(channel: [UInt8], payload: [UInt8], resp3: Bool = true) -> [UInt8] {
        wire(smessageValue(channel: channel, payload: payload, resp3: resp3))
    }

    /// The wire bytes of an `smessage` frame, from UTF-8 text.
    public static func smessage(channel: String, payload: String, resp3: Bool = true) -> [UInt8] {
        smessage(channel: bytes(channel), payload: bytes(payload), resp3: resp3)
    }

    // MARK: Confirmations

    /// The value of a subscription confirmation: kind, name, and the connection's subscription count after it.
    public static func subscribeConfirmationValue(kind: SubscriptionKind, name: [UInt8], count: Int, resp3: Bool = true) -> RESPValue {
        let elements: [RESPValue] = [.bulkString(bytes(kind.rawValue)), .bulkString(name), .integer(Int64(count))]
        return resp3 ? .push(elements) : .array(elements)
    }

    /// The wire bytes of a subscription confirmation.
    public static func subscribeConfirmation(kind: SubscriptionKind, name: [UInt8], count: Int, resp3: Bool = true) -> [UInt8] {
        wire(subscribeConfirmationValue(kind: kind, name: name, count: count, resp3: resp3))
    }

    /// The wire bytes of a subscription confirmation, with a UTF-8 name.
    public static func subscribeConfirmation(kind: SubscriptionKind, name: String, count: Int, resp3: Bool = true) -> [UInt8] {
        subscribeConfirmation(kind: kind, name: bytes(name), count: count, resp3: resp3)
    }
}
