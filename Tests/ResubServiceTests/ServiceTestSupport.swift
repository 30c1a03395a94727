#if canImport(Glibc)
import Glibc
#endif
import Resub
import RESP
import ResubService


/// One message as the tests describe it: kind, pattern, channel and payload bytes.
struct RawMessage: Equatable {
    var kind: MessageKind
    var pattern: [UInt8] = []
    var channel: [UInt8]
    var payload: [UInt8]

    init(_ kind: MessageKind = .message, pattern: [UInt8] = [], channel: [UInt8], payload: [UInt8]) {
        self.kind = kind
        self.pattern = pattern
        self.channel = channel
        self.payload = payload
    }

    init(_ kind: MessageKind = .message, pattern: String = "", channel: String, payload: String) {
        self.init(kind, pattern: Array(pattern.utf8), channel: Array(channel.utf8), payload: Array(payload.utf8))
    }
}

/// A batch holding `messages`, built the way the loop builds them.
func makeBatch(_ messages: [RawMessage], node: String = "127.0.0.1:6379") -> MessageBatch {
    var builder = MessageBatchBuilder()
    for m in messages {
        m.pattern.withUnsafeBytes { p in
            m.channel.withUnsafeBytes { c in
                m.payload.withUnsafeBytes { b in
                    builder.append(kind: m.kind, pattern: p, channel: c, payload: b)
                }
            }
        }
    }
    return builder.take(node: node)
}

/// The JSON line the encoder writes for one message.
func jsonLine(_ m: RawMessage) -> String {
    String(decoding: jsonLineBytes(m), as: UTF8.self)
}

/// The bytes of the JSON line the encoder writes for one message.
func jsonLineBytes(_ m: RawMessage) -> [UInt8] {
    let out = OutputBuffer(capacity: 64)
    m.pattern.withUnsafeBytes { p in
        m.channel.withUnsafeBytes { c in
            m.payload.withUnsafeBytes { b in
                JSONLineEncoder.appendMessage(kind: m.kind, pattern: p, channel: c, payload: b, to: out)
            }
        }
    }
    return Array(out.bytes)
}

/// The bytes `appendString` writes for `bytes`, and whether it succeeded.
func encodedString(_ bytes: [UInt8], lossy: Bool) -> (ok: Bool, text: [UInt8]) {
    let out = OutputBuffer(capacity: 64)
    let ok = bytes.withUnsafeBytes { JSONLineEncoder.appendString($0, to: out, lossy: lossy) }
    return (ok, Array(out.bytes))
}

/// Polls `condition` every millisecond until it holds or `timeout` passes.
func waitFor(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return condition()
}

extension BoundedSinkQueue.PushResult {
    /// Whether the item was taken (queued, with or without the high-water signal).
    var accepted: Bool { self == .queued || self == .queuedAboveHighWater }
}

/// Reads `fd` to end of file.
func readToEnd(_ fd: Int32) -> [UInt8] {
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return result }
        result += buffer[0..<n]
    }
}
