import LibeventLoop
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Standard Webhooks signing (https://www.standardwebhooks.com; /work/shared/CLI.md "Webhook signing"):
/// `webhook-signature: v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>`, one per key,
/// separated by spaces, so a receiver can rotate keys.
package struct WebhookSignature: Sendable {
    /// The HMAC keys, one per `--webhook-secret`, in the order given.
    package let keys: [[UInt8]]

    /// Keys from secrets: the base64-decoded text after `whsec_` when a secret has that prefix (the format the
    /// Standard Webhooks libraries generate), otherwise the secret's UTF-8 bytes.
    package init(secrets: [String]) throws(SettingsError) {
        keys = try secrets.map { secret throws(SettingsError) -> [UInt8] in try Self.key(secret) }
    }

    /// The key of one secret.
    package static func key(_ secret: String) throws(SettingsError) -> [UInt8] {
        guard secret.hasPrefix("whsec_") else { return Array(secret.utf8) }
        guard let data = Data(base64Encoded: String(secret.dropFirst(6))), !data.isEmpty else {
            throw SettingsError("a secret starting with whsec_ must be base64 after the prefix")
        }
        return Array(data)
    }

    /// The `webhook-signature` header value for one attempt.
    package func header(id: String, timestamp: String, body: [UInt8]) -> String {
        var message = Array(id.utf8)
        message.append(UInt8(ascii: "."))
        message += Array(timestamp.utf8)
        message.append(UInt8(ascii: "."))
        message += body
        return keys.map { key in
            "v1," + Data(HMACSHA256.authenticationCode(key: key, message: message)).base64EncodedString()
        }.joined(separator: " ")
    }

    /// A new `webhook-id`: `msg_` and 26 Crockford base32 characters of a ULID (48 bits of milliseconds, then
    /// 80 random bits), so ids sort by creation time and do not repeat.
    package static func newID<Random: RandomNumberGenerator>(milliseconds: UInt64, random: inout Random) -> String {
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
        // 128 bits: the time in the top 48, randomness below.
        let high = (milliseconds & 0xFFFF_FFFF_FFFF) << 16 | UInt64.random(in: 0...0xFFFF, using: &random)
        let low = UInt64.random(in: 0...UInt64.max, using: &random)
        var out = Array("msg_".utf8)
        // 26 characters of 5 bits = 130 bits: the first character carries the top 3 bits.
        for i in 0..<26 {
            let shift = 125 - 5 * i  // bit position of this character's lowest bit, from 0
            let value: UInt64
            if shift >= 64 {
                value = high >> UInt64(shift - 64)
            } else if shift > 59 {
                value = high << UInt64(64 - shift) | low >> UInt64(shift)
            } else {
                value = low >> UInt64(shift)
            }
            out.append(alphabet[Int(value & 31)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
