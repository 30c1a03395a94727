// The stdout writer's own cost: JSON lines encoded from message bytes, no socket and no write.
// usage: swift build -c release --product resub-json-bench && .build/release/resub-json-bench [messages] [payload bytes]
// Prints the encoder's throughput for ASCII payloads (the receive benchmark's blaster sends the same pattern),
// best of five rounds, so that a change to JSONLineEncoder can be compared before and after on its own.
import RESP
import ResubService

let arguments = CommandLine.arguments
let messages = arguments.count > 1 ? Int(arguments[1]) ?? 1_000_000 : 1_000_000
let size = arguments.count > 2 ? Int(arguments[2]) ?? 1024 : 1024
let pattern = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_".utf8)
let payload = (0..<size).map { pattern[$0 % pattern.count] }
let channel = Array("bench".utf8)
let out = OutputBuffer(capacity: 4 << 20)
var best = Double.infinity
var written = 0
for _ in 0..<5 {
    let start = ContinuousClock.now
    written = 0
    payload.withUnsafeBytes { payload in
        channel.withUnsafeBytes { channel in
            for _ in 0..<messages {
                JSONLineEncoder.appendMessage(kind: .message, pattern: UnsafeRawBufferPointer(start: nil, count: 0),
                                              channel: channel, payload: payload, to: out)
                if out.count > 3 << 20 {
                    written += out.count
                    out.reset()
                }
            }
        }
    }
    written += out.count
    out.reset()
    let elapsed = start.duration(to: .now)
    best = min(best, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}
print("\(messages) messages of \(size) B: best of 5 \(Int(best * 1000)) ms, \(Int(Double(messages) / best)) msg/s, \(Int(Double(written) / best / 1e6)) MB/s of JSON")
