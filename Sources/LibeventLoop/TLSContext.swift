internal import CLibevent

/// TLS client settings shared by connections: certificate verification against the system CA bundle (or
/// a given CA file), optional client certificate. Verification of the chain and of the host name is on
/// unless explicitly disabled.
public final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer
    /// Whether peers are verified (chain and host name).
    public let verifiesPeer: Bool

    /// Creates a client context.
    /// - Parameters:
    ///   - caFile: PEM bundle of trusted CAs (nil: the system's).
    ///   - certificateFile, keyFile: a client certificate and its key (PEM), for servers that ask for one.
    ///   - verifyPeer: check the chain and the host name (default; turn off only for tests).
    /// - Throws: ``SocketError/invalidAddress(_:)`` with OpenSSL's reason when a file cannot be used.
    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, verifyPeer: Bool = true) throws(SocketError) {
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw Self.error("SSL_CTX_new") }
        self.context = context
        self.verifiesPeer = verifyPeer
        _ = resub_ssl_ctx_min_tls12(context)
        if let caFile {
            guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else { throw Self.error("CA file \(caFile)") }
        } else {
            SSL_CTX_set_default_verify_paths(context)
        }
        if let certificateFile {
            guard SSL_CTX_use_certificate_chain_file(context, certificateFile) == 1 else { throw Self.error("certificate \(certificateFile)") }
            guard SSL_CTX_use_PrivateKey_file(context, keyFile ?? certificateFile, SSL_FILETYPE_PEM) == 1 else {
                throw Self.error("key \(keyFile ?? certificateFile)")
            }
        }
        SSL_CTX_set_verify(context, verifyPeer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nil)
    }

    deinit { SSL_CTX_free(context) }

    /// The system CA bundle with full verification, made once.
    public static let systemDefault: TLSContext? = try? TLSContext()

    /// A new SSL object for a connection to `host`: SNI set and, when verifying, the host name checked.
    func makeSSL(host: String) -> OpaquePointer? {
        guard let ssl = SSL_new(context) else { return nil }
        let isIP = host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
        if !isIP { _ = resub_ssl_set_sni(ssl, host) }
        if verifiesPeer {
            let param = SSL_get0_param(ssl)
            if isIP {
                X509_VERIFY_PARAM_set1_ip_asc(param, host)
            } else {
                X509_VERIFY_PARAM_set1_host(param, host, 0)
            }
        }
        return ssl
    }

    static func lastError() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        resub_ssl_error(&buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func error(_ what: String) -> SocketError {
        .invalidAddress("TLS: \(what): \(lastError())")
    }
}
