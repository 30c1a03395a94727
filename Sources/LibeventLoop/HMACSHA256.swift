internal import CLibevent

/// HMAC-SHA256 from OpenSSL's libcrypto, which the process already links for TLS (one crypto library, and no
/// second copy of one compiled into the binary).
public enum HMACSHA256 {
    /// The 32-byte authentication code of `message` under `key`.
    public static func authenticationCode(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var code = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let result = key.withUnsafeBufferPointer { k in
            message.withUnsafeBufferPointer { m in
                code.withUnsafeMutableBufferPointer { c in
                    HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), m.baseAddress, m.count, c.baseAddress, &length)
                }
            }
        }
        // HMAC fails only when OpenSSL cannot allocate or SHA-256 is missing: nothing a caller could handle.
        precondition(result != nil && length == 32, "OpenSSL HMAC-SHA256 failed")
        return Array(code.prefix(Int(length)))
    }
}
