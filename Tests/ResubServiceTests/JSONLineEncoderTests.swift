import TestSupport
import Foundation
import Resub
import RESP
import ResubService
import Testing

/// The service's JSON lines: exact output, escaping, UTF-8 validation, base64 fallback, and the 8-byte fast path.
@Suite("JSON line encoder")
struct JSONLineEncoderTests {
    private static func bytes(_ text: String) -> [UInt8] {
        Array(text.utf8)
    }

    private static func base64(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
    }

    /// A plain reference for valid UTF-8 input: quote, escape `"` `\` and the C0 controls, copy the rest.
    private static func reference(_ input: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x22]
        let hex = Array("0123456789abcdef".utf8)
        for b in input {
            switch b {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0..<0x20: out += [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out.append(0x22)
        return out
    }

    /// Parses one output line (which must end with exactly one newline) as a JSON object.
    private static func parse(_ line: [UInt8]) throws -> [String: String] {
        try #require(line.last == 0x0A)
        try #require(!line.dropLast().contains(0x0A), "a JSON line must not contain a raw newline")
        let object = try JSONSerialization.jsonObject(with: Data(line.dropLast()))
        return try #require(object as? [String: String])
    }

    // MARK: Exact output

    @Test("a message is {type, channel, payload} on one line")
    func messageLine() {
        #expect(jsonLine(RawMessage(.message, channel: "orders", payload: "hello")) == "{\"type\":\"message\",\"channel\":\"orders\",\"payload\":\"hello\"}\n")
    }

    @Test("a pmessage puts its pattern before the channel")
    func pmessageLine() {
        #expect(jsonLine(RawMessage(.pmessage, pattern: "ord*", channel: "orders:eu", payload: "hi"))
            == "{\"type\":\"pmessage\",\"pattern\":\"ord*\",\"channel\":\"orders:eu\",\"payload\":\"hi\"}\n")
    }

    @Test("an smessage is typed smessage")
    func smessageLine() {
        #expect(jsonLine(RawMessage(.smessage, channel: "{user1}.events", payload: "x"))
            == "{\"type\":\"smessage\",\"channel\":\"{user1}.events\",\"payload\":\"x\"}\n")
    }

    @Test("empty channel and payload are empty strings")
    func emptyStrings() {
        #expect(jsonLine(RawMessage(.message, channel: "", payload: "")) == "{\"type\":\"message\",\"channel\":\"\",\"payload\":\"\"}\n")
    }

    // MARK: Escapes

    @Test("quote, backslash, newline, return and tab get short escapes; other controls get \\u00XX")
    func escapes() {
        let payload = Self.bytes("a\"b\\c\nd\re\tf") + [0x01, 0x1F, 0x00, 0x08, 0x0C]
        let expected = Self.bytes("{\"type\":\"message\",\"channel\":\"c\",\"payload\":\"a\\\"b\\\\c\\nd\\re\\tf\\u0001\\u001f\\u0000\\u0008\\u000c\"}\n")
        #expect(jsonLineBytes(RawMessage(channel: Self.bytes("c"), payload: payload)) == expected)
    }

    @Test("DEL (0x7f) is not escaped")
    func delPassesThrough() {
        let line = jsonLineBytes(RawMessage(channel: [0x7F], payload: [0x61, 0x7F]))
        #expect(line == Self.bytes("{\"type\":\"message\",\"channel\":\"") + [0x7F] + Self.bytes("\",\"payload\":\"a") + [0x7F] + Self.bytes("\"}\n"))
    }

    @Test("channel and pattern names are escaped like payloads")
    func namesEscaped() {
        #expect(jsonLine(RawMessage(.pmessage, pattern: "a\"*", channel: "b\\\n", payload: "p"))
            == "{\"type\":\"pmessage\",\"pattern\":\"a\\\"*\",\"channel\":\"b\\\\\\n\",\"payload\":\"p\"}\n")
    }

    // MARK: UTF-8

    @Test("valid 2-, 3- and 4-byte UTF-8 passes through unchanged, boundaries included", arguments: [
        "é", "€", "😀", "\u{80}", "\u{7FF}", "\u{800}", "\u{D7FF}", "\u{E000}", "\u{FFFD}", "\u{FFFF}", "\u{10000}", "\u{10FFFF}",
        "naïve café – 東京 🚀 done",
    ])
    func validUTF8(text: String) {
        #expect(jsonLine(RawMessage(.message, channel: text, payload: text))
            == "{\"type\":\"message\",\"channel\":\"\(text)\",\"payload\":\"\(text)\"}\n")
    }

    @Test("an invalid UTF-8 payload is written as payload_base64", arguments: [
        [0x80], [0xC0, 0x80], [0xC1, 0xBF], [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], [0xE2, 0x82], [0xE0, 0x80, 0x80],
        [0xF0, 0x80, 0x80, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xF4, 0x90], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0xFE],
        [0xC3], [0x61, 0x62, 0xC3, 0x28], [0xF0, 0x9F, 0x98],
    ] as [[UInt8]])
    func invalidPayload(payload: [UInt8]) {
        #expect(jsonLine(RawMessage(channel: Self.bytes("c"), payload: payload))
            == "{\"type\":\"message\",\"channel\":\"c\",\"payload_base64\":\"\(Self.base64(payload))\"}\n")
    }

    @Test("known base64 forms of invalid payloads")
    func invalidPayloadKnownBase64() {
        #expect(jsonLine(RawMessage(channel: Self.bytes("c"), payload: [0x80])).contains("\"payload_base64\":\"gA==\""))
        #expect(jsonLine(RawMessage(channel: Self.bytes("c"), payload: [0xC0, 0x80])).contains("\"payload_base64\":\"wIA=\""))
        #expect(jsonLine(RawMessage(channel: Self.bytes("c"), payload: [0xED, 0xA0, 0x80])).contains("\"payload_base64\":\"7aCA\""))
    }

    @Test("an invalid byte after a long valid run rolls the partial payload back entirely")
    func rollback() {
        let payload = Self.bytes("abcdefghijklmnopqrstuvwxyz \"quoted\" é") + [0x80] + Self.bytes("tail")
        #expect(jsonLine(RawMessage(.pmessage, pattern: Self.bytes("p*"), channel: Self.bytes("c"), payload: payload))
            == "{\"type\":\"pmessage\",\"pattern\":\"p*\",\"channel\":\"c\",\"payload_base64\":\"\(Self.base64(payload))\"}\n")
    }

    @Test("invalid UTF-8 in a channel or pattern name becomes U+FFFD", arguments: [
        [0x80], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80], [0xFF],
    ] as [[UInt8]])
    func invalidNames(bad: [UInt8]) throws {
        let name = Self.bytes("ch:") + bad + Self.bytes(":end")
        let line = jsonLineBytes(RawMessage(.pmessage, pattern: name, channel: name, payload: Self.bytes("p")))
        let text = try #require(String(validating: line, as: UTF8.self), "the line must be valid UTF-8")
        let object = try Self.parse(line)
        for key in ["channel", "pattern"] {
            let value = try #require(object[key])
            #expect(value.hasPrefix("ch:") && value.hasSuffix(":end"))
            let middle = value.dropFirst(3).dropLast(4)
            #expect(!middle.isEmpty && middle.allSatisfy { $0 == "\u{FFFD}" }, "\(key): \(value)")
        }
        #expect(object["payload"] == "p")
        #expect(text.hasPrefix("{\"type\":\"pmessage\""))
    }

    @Test("a lone continuation byte in a channel is exactly one U+FFFD")
    func loneContinuationInChannel() {
        #expect(jsonLineBytes(RawMessage(channel: [0x63, 0x80], payload: Self.bytes("x")))
            == Self.bytes("{\"type\":\"message\",\"channel\":\"c\u{FFFD}\",\"payload\":\"x\"}\n"))
    }

    // MARK: Fast path

    @Test("strings of length 0…80 with a special byte at every position match a byte-at-a-time reference")
    func fastPathBoundaries() {
        let specials: [[UInt8]] = [
            [0x22], [0x5C], [0x0A], [0x0D], [0x09], [0x00], [0x01], [0x1F], [0x7F], [0x20], [0x21], [0x7E],
            [0x5B], [0x5D], [0x2F], Self.bytes("é"), Self.bytes("€"), Self.bytes("😀"),
        ]
        let filler = (0x20...0x7E).map(UInt8.init).filter { $0 != 0x22 && $0 != 0x5C }
        var checked = 0
        for length in 0...80 {  // two 32-byte blocks, 8-byte words and single bytes, every seam
            let base = (0..<length).map { filler[($0 * 7) % filler.count] }
            let plain = encodedString(base, lossy: false)
            #expect(plain.ok && plain.text == Self.reference(base), "plain, length \(length)")
            for position in 0..<length {
                for special in specials {
                    var input = base
                    input.replaceSubrange(position...position, with: special)
                    let (ok, text) = encodedString(input, lossy: false)
                    #expect(ok)
                    #expect(text == Self.reference(input), "length \(length), \(special) at \(position)")
                    checked += 1
                }
            }
        }
        #expect(checked == 3240 * 18)
    }

    @Test("an invalid byte at any position of 0…80 fails strictly and becomes U+FFFD when lossy")
    func fastPathInvalidAtEveryPosition() {
        for length in 1...80 {
            for position in 0..<length {
                for bad: UInt8 in [0x80, 0xBF, 0xC0, 0xF8, 0xFF] {
                    var input = [UInt8](repeating: UInt8(ascii: "k"), count: length)
                    input[position] = bad
                    #expect(encodedString(input, lossy: false).ok == false, "length \(length), \(bad) at \(position)")
                    var replaced = input
                    replaced.replaceSubrange(position...position, with: [0xEF, 0xBF, 0xBD])
                    let lossy = encodedString(input, lossy: true)
                    #expect(lossy.ok && lossy.text == Self.reference(replaced), "length \(length), \(bad) at \(position)")
                }
            }
        }
    }

    @Test("bytes whose low bits look like a quote, backslash or control but have the high bit set are not escaped")
    func highBitLookalikes() {
        // U+00A2 (C2 A2), U+00DC (C3 9C), U+0080 (C2 80): 0xA2 = 0x80|'"', 0xDC = 0x80|'\', 0x80 = 0x80|NUL.
        let text = Self.bytes(String(repeating: "¢Ü\u{80}abc", count: 5))
        let encoded = encodedString(text, lossy: false)
        #expect(encoded.ok)
        #expect(encoded.text == Self.reference(text))
    }

    // MARK: Round trips

    @Test("every line parses as JSON and gives back the exact channel and payload")
    func jsonRoundTrip() throws {
        var rng = SplitMix64(seed: 77)
        let pieces = ["a", "Z", "0", " ", "\"", "\\", "\n", "\r", "\t", "\u{01}", "\u{1F}", "\u{7F}", "/", "é", "€", "😀", "東", "{", "}"]
        func randomText() -> String {
            (0..<Int.random(in: 0...24, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
        }
        for i in 0..<2000 {
            let channel = randomText()
            let payload: [UInt8]
            if i.isMultiple(of: 2) {
                payload = Self.bytes(randomText())
            } else {
                payload = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
            let kind: MessageKind = [.message, .pmessage, .smessage][i % 3]
            let pattern = kind == .pmessage ? randomText() : ""
            let line = jsonLineBytes(RawMessage(kind, pattern: Self.bytes(pattern), channel: Self.bytes(channel), payload: payload))
            let object = try Self.parse(line)
            #expect(object["type"] == kind.name)
            #expect(object["channel"] == channel)
            #expect(object["pattern"] == (kind == .pmessage ? pattern : nil))
            if let text = String(validating: payload, as: UTF8.self) {
                #expect(object["payload"] == text)
                #expect(object["payload_base64"] == nil)
            } else {
                #expect(object["payload"] == nil)
                let decoded = try #require(object["payload_base64"].flatMap { Data(base64Encoded: $0) })
                #expect(Array(decoded) == payload)
            }
        }
    }

    @Test("a megabyte payload is encoded exactly")
    func largePayload() {
        var rng = SplitMix64(seed: 5)
        let pieces = ["a", "b", " ", "\"", "\\", "\n", "\t", "\u{01}", "\u{7F}", "é", "€", "😀"].map(Self.bytes)
        var payload: [UInt8] = []
        while payload.count < 1 << 20 {
            payload += pieces[Int.random(in: 0..<pieces.count, using: &rng)]
        }
        let line = jsonLineBytes(RawMessage(channel: Self.bytes("big"), payload: payload))
        #expect(line == Self.bytes("{\"type\":\"message\",\"channel\":\"big\",\"payload\":") + Self.reference(payload) + Self.bytes("}\n"))
    }

    // MARK: Base64

    @Test("base64 matches Foundation for random inputs of every length 0…100")
    func base64MatchesFoundation() {
        var rng = SplitMix64(seed: 64)
        for length in 0...100 {
            for _ in 0..<5 {
                let input = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
                #expect(Base64.encode(input) == Self.base64(input), "length \(length)")
            }
        }
    }

    @Test("base64 known vectors from RFC 4648")
    func base64Vectors() {
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (input, output) in vectors {
            #expect(Base64.encode(Self.bytes(input)) == output)
        }
        #expect(Base64.encode([0xFF, 0xFE, 0xFD]) == "//79")
        #expect(Base64.encode([0xFB, 0xFF]) == "+/8=")
    }

    // MARK: Output buffer

    @Test("the output buffer grows past its capacity and keeps what was written")
    func outputBufferGrows() {
        let out = OutputBuffer(capacity: 64)
        var expected: [UInt8] = []
        for i in 0..<1000 {
            let chunk = [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: i % 17)
            chunk.withUnsafeBytes { out.append($0) }
            out.append(UInt8(ascii: ","))
            expected += chunk + [UInt8(ascii: ",")]
        }
        #expect(out.count == expected.count)
        #expect(Array(out.bytes) == expected)
        #expect(out.capacity >= expected.count)
        out.reset(shrinkingTo: 128)
        #expect(out.count == 0)
        #expect(out.capacity == 128)
    }
}
