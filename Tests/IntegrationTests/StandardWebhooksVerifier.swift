import Foundation
import TestSupport

/// Verifies webhook requests with the `standardwebhooks` Python package's own `Webhook.verify` (installed by
/// scripts/install-deps.sh): one `python3` run for all requests and secrets. A `whsec_` secret is given to the
/// package as text (it base64-decodes it), any other as its UTF-8 bytes, as /work/shared/CLI.md specifies.
enum StandardWebhooksVerifier {
    private static let script = """
        import base64, json, sys
        from standardwebhooks.webhooks import Webhook
        data = json.load(sys.stdin)
        out = []
        for secret in data["secrets"]:
            hook = Webhook(secret if secret.startswith("whsec_") else secret.encode())
            row = []
            for request in data["requests"]:
                try:
                    hook.verify(base64.b64decode(request["body"]), request["headers"])
                    row.append("ok")
                except Exception as e:
                    row.append(type(e).__name__ + ": " + str(e))
            out.append(row)
        print(json.dumps(out))
        """

    /// For each secret, for each request: "ok" or the verifier's error.
    static func verify(_ requests: [WebhookReceiver.Request], secrets: [String]) throws -> [[String]] {
        let input: [String: Any] = [
            "secrets": secrets,
            "requests": requests.map { ["headers": $0.headers, "body": Data($0.body).base64EncodedString()] },
        ]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: input))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0, let rows = try JSONSerialization.jsonObject(with: output) as? [[String]] else {
            throw FixtureError("standardwebhooks verifier failed (is it installed? scripts/install-deps.sh): \(errors)")
        }
        return rows
    }
}
