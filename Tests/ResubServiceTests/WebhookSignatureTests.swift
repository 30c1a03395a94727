import Foundation
import ResubService
import Testing
import TestSupport

/// Standard Webhooks signing against vectors computed outside Swift (python's hmac), and the id format.
@Suite("Webhook signature")
struct WebhookSignatureTests {
    @Test("the spec's own example: whsec_ key, id msg_p5jXN8AQM9LWM0D4loKWxJek, timestamp 1614265330")
    func specExample() throws {
        let signature = try WebhookSignature(secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        let header = signature.header(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: "1614265330", body: Array("{\"test\": 2432232314}".utf8))
        // python3: base64(hmac.new(b64decode(key), b"<id>.<ts>.<body>", sha256).digest())
        #expect(header == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test("two secrets (one whsec_, one plain UTF-8) give two space-separated v1 signatures, in the order given")
    func twoSecrets() throws {
        let signature = try WebhookSignature(secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "plain-secret"])
        let body = Array("[{\"type\":\"message\",\"channel\":\"orders\",\"payload\":\"hi\"}]".utf8)
        let header = signature.header(id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", timestamp: "1614265330", body: body)
        #expect(header == "v1,QUwpoReL0H9GxO+7UoPSQC24+ufN9HtFUmKStJPXe68= v1,ju8MuAsZgANsATpz6vZp5R9BvDMGAEKaFMtUZYGB5QI=")
        // Any change to what is signed changes the signature.
        #expect(signature.header(id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", timestamp: "1614265331", body: body) != header)
        #expect(signature.header(id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4X", timestamp: "1614265330", body: body) != header)
    }

    @Test("a whsec_ secret is base64-decoded; one that is not base64 is refused")
    func keys() throws {
        #expect(try WebhookSignature.key("whsec_aGVsbG8=") == Array("hello".utf8))
        #expect(try WebhookSignature.key("hello") == Array("hello".utf8))
        #expect(throws: SettingsError.self) { try WebhookSignature.key("whsec_not base64!") }
    }

    @Test("an id is msg_ and 26 Crockford base32 characters; ids differ, and sort by their milliseconds")
    func ids() {
        var random = SeededRandom(seed: 7)
        let alphabet = Set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        var ids: [String] = []
        for ms in stride(from: UInt64(1_700_000_000_000), to: 1_700_000_000_100, by: 1) {
            let id = WebhookSignature.newID(milliseconds: ms, random: &random)
            #expect(id.hasPrefix("msg_") && id.count == 30, "\(id)")
            #expect(id.dropFirst(4).allSatisfy { alphabet.contains($0) }, "\(id)")
            ids.append(id)
        }
        #expect(Set(ids).count == ids.count)
        #expect(ids == ids.sorted())
        // The time is in the first 10 characters (48 bits): 1_700_000_000_000 ms is 01HF7YAT00 in ULID terms.
        var again = SeededRandom(seed: 1)
        #expect(WebhookSignature.newID(milliseconds: 1_700_000_000_000, random: &again).prefix(14) == "msg_01HF7YAT00")
    }
}
