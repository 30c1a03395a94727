import Resub
import RESP

/// Encodes messages as the service's JSON lines, straight from a batch's bytes:
/// `{"type":"message","channel":"orders","payload":"…"}` (pmessage adds `"pattern"` before `"channel"`).
/// A payload that is not valid UTF-8 is written as `"payload_base64"`. Invalid UTF-8 in a channel or pattern
/// name is replaced by U+FFFD. Hot path: ASCII runs are checked and copied 32 bytes at a time, then 8.
package enum JSONLineEncoder {
    /// Appends one JSON line for a message.
    /// With `newline` false, writes the object alone (for the webhook's JSON arrays).
    @inline(__always)
    package static func appendMessage(
        kind: MessageKind, pattern: UnsafeRawBufferPointer, channel: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer, to out: OutputBuffer, newline: Bool = true
    ) {
        switch kind {
        case .message: out.append("{\"type\":\"message\",\"channel\":")
        case .pmessage:
            out.append("{\"type\":\"pmessage\",\"pattern\":")
            appendString(pattern, to: out, lossy: true)
            out.append(",\"channel\":")
        case .smessage: out.append("{\"type\":\"smessage\",\"channel\":")
        }
        appendString(channel, to: out, lossy: true)
        let mark = out.count
        out.append(",\"payload\":")
        if !appendString(payload, to: out, lossy: false) {
            out.count = mark
            out.append(",\"payload_base64\":\"")
            Base64.append(payload, to: out)
            out.append(UInt8(ascii: "\""))
        }
        if newline { out.append("}\n") } else { out.append(UInt8(ascii: "}")) }
    }

    /// Appends `bytes` as a quoted JSON string. With `lossy` false, returns false (leaving partial output for
    /// the caller to roll back) at the first invalid UTF-8 sequence; with `lossy`, writes U+FFFD for it.
    @discardableResult
    package static func appendString(_ bytes: UnsafeRawBufferPointer, to out: OutputBuffer, lossy: Bool) -> Bool {
        let n = bytes.count
        // Worst case: every byte becomes \u00XX (6 bytes), or 3 bytes of U+FFFD; plus quotes.
        out.reserve(n * 6 + 2)
        let dst = out.base
        var o = out.count
        dst[o] = 34
        o += 1
        guard let src = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            dst[o] = 34
            out.count = o + 1
            return true
        }
        var i = 0
        while i < n {
            // 32 bytes at a time while nothing needs escaping (four words checked together: twice the
            // throughput of one word per step on 1 KiB payloads), then 8, then byte by byte.
            if n - i >= 32 {
                let from = UnsafeRawPointer(src + i)
                let a = from.loadUnaligned(as: UInt64.self), b = from.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                let c = from.loadUnaligned(fromByteOffset: 16, as: UInt64.self), d = from.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
                if (needsEscape(a) | needsEscape(b) | needsEscape(c) | needsEscape(d)) == 0 {
                    let to = UnsafeMutableRawPointer(dst + o)
                    to.storeBytes(of: a, as: UInt64.self)
                    to.storeBytes(of: b, toByteOffset: 8, as: UInt64.self)
                    to.storeBytes(of: c, toByteOffset: 16, as: UInt64.self)
                    to.storeBytes(of: d, toByteOffset: 24, as: UInt64.self)
                    o += 32
                    i += 32
                    continue
                }
            }
            if n - i >= 8 {
                let w = UnsafeRawPointer(src + i).loadUnaligned(as: UInt64.self)
                if needsEscape(w) == 0 {
                    UnsafeMutableRawPointer(dst + o).storeBytes(of: w, as: UInt64.self)
                    o += 8
                    i += 8
                    continue
                }
            }
            let c = src[i]
            if c >= 0x20 && c != 34 && c != 92 && c < 0x80 {
                dst[o] = c
                o += 1
                i += 1
                continue
            }
            if c < 0x80 {
                dst[o] = 92
                switch c {
                case 34: dst[o + 1] = 34; o += 2
                case 92: dst[o + 1] = 92; o += 2
                case 10: dst[o + 1] = UInt8(ascii: "n"); o += 2
                case 13: dst[o + 1] = UInt8(ascii: "r"); o += 2
                case 9: dst[o + 1] = UInt8(ascii: "t"); o += 2
                default:
                    dst[o + 1] = UInt8(ascii: "u")
                    dst[o + 2] = 48
                    dst[o + 3] = 48
                    dst[o + 4] = hex[Int(c >> 4)]
                    dst[o + 5] = hex[Int(c & 15)]
                    o += 6
                }
                i += 1
                continue
            }
            let length = utf8SequenceLength(src, i, n)
            if length == 0 {
                guard lossy else {
                    out.count = o
                    return false
                }
                dst[o] = 0xEF; dst[o + 1] = 0xBF; dst[o + 2] = 0xBD
                o += 3
                i += 1
                continue
            }
            for k in 0..<length { dst[o + k] = src[i + k] }
            o += length
            i += length
        }
        dst[o] = 34
        out.count = o + 1
        return true
    }

    /// The high bit of each byte of `w` that is < 0x20, >= 0x80, '"' (0x22) or '\\' (0x5C): zero when all eight
    /// bytes are copied as they are.
    @inline(__always)
    private static func needsEscape(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let control = (w &- ones &* 0x20) & ~w & highs
        let quote = ((w ^ (ones &* 0x22)) &- ones) & ~(w ^ (ones &* 0x22)) & highs
        let backslash = ((w ^ (ones &* 0x5C)) &- ones) & ~(w ^ (ones &* 0x5C)) & highs
        return control | quote | backslash | (w & highs)
    }

    /// Appends a Swift string as a quoted JSON string (invalid UTF-8 cannot occur in a `String`).
    package static func appendString(_ text: String, to out: OutputBuffer) {
        var text = text
        _ = text.withUTF8 { appendString(UnsafeRawBufferPointer($0), to: out, lossy: true) }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// The length of the valid UTF-8 sequence starting at `i` (2…4), or 0 if it is invalid (overlong forms,
    /// surrogates, values above U+10FFFF and truncated sequences included).
    @inline(__always)
    static func utf8SequenceLength(_ s: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> Int {
        let c = s[i]
        @inline(__always) func cont(_ k: Int) -> Bool { i + k < n && s[i + k] & 0xC0 == 0x80 }
        switch c {
        case 0xC2...0xDF:
            return cont(1) ? 2 : 0
        case 0xE0:
            return i + 2 < n && (0xA0...0xBF).contains(s[i + 1]) && cont(2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF:
            return cont(1) && cont(2) ? 3 : 0
        case 0xED:
            return i + 2 < n && (0x80...0x9F).contains(s[i + 1]) && cont(2) ? 3 : 0
        case 0xF0:
            return i + 3 < n && (0x90...0xBF).contains(s[i + 1]) && cont(2) && cont(3) ? 4 : 0
        case 0xF1...0xF3:
            return cont(1) && cont(2) && cont(3) ? 4 : 0
        case 0xF4:
            return i + 3 < n && (0x80...0x8F).contains(s[i + 1]) && cont(2) && cont(3) ? 4 : 0
        default:
            return 0
        }
    }
}

/// Standard base64 (RFC 4648, with padding).
package enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Appends the base64 form of `bytes`.
    package static func append(_ bytes: UnsafeRawBufferPointer, to out: OutputBuffer) {
        let n = bytes.count
        out.reserve((n + 2) / 3 * 4)
        let dst = out.base
        var o = out.count
        var i = 0
        alphabet.withUnsafeBufferPointer { a in
            while i + 3 <= n {
                let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
                dst[o] = a[Int(v >> 18)]; dst[o + 1] = a[Int(v >> 12 & 63)]
                dst[o + 2] = a[Int(v >> 6 & 63)]; dst[o + 3] = a[Int(v & 63)]
                o += 4
                i += 3
            }
            if n - i == 1 {
                let v = UInt32(bytes[i]) << 16
                dst[o] = a[Int(v >> 18)]; dst[o + 1] = a[Int(v >> 12 & 63)]
                dst[o + 2] = 61; dst[o + 3] = 61
                o += 4
            } else if n - i == 2 {
                let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
                dst[o] = a[Int(v >> 18)]; dst[o + 1] = a[Int(v >> 12 & 63)]
                dst[o + 2] = a[Int(v >> 6 & 63)]; dst[o + 3] = 61
                o += 4
            }
        }
        out.count = o
    }

    /// The base64 text of `bytes`.
    package static func encode(_ bytes: [UInt8]) -> String {
        let out = OutputBuffer(capacity: bytes.count * 2 + 8)
        bytes.withUnsafeBytes { append($0, to: out) }
        return String(decoding: out.bytes, as: UTF8.self)
    }
}
