import Foundation
import Testing

/// The REST API of a real `lazaret manager` process over HTTP (curl), with a real gateway:
/// users and tokens made with the CLI, a message quarantined, found and released through
/// the API, and delivered once at smtp-sink, with the outcome in the API's answer.
@Suite(.serialized)
struct APIProcessTests {
    /// `curl` with a bearer token; returns (HTTP status, body).
    static func curl(_ method: String, _ url: String, token: String?, body: String? = nil) throws -> (Int, String) {
        var arguments = ["-sS", "-X", method, "-o", "-", "-w", "\n%{http_code}", url]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        if let body {
            // Large bodies from a file: the command line has a limit.
            if body.utf8.count > 64 * 1024 {
                let path = NSTemporaryDirectory() + "lazaret-curl-" + UUID().uuidString
                try body.write(toFile: path, atomically: true, encoding: .utf8)
                arguments += ["-H", "Content-Type: application/json", "--data-binary", "@" + path]
            } else {
                arguments += ["-H", "Content-Type: application/json", "--data-binary", body]
            }
        }
        let (status, output) = try Harness.run(try Harness.tool("curl"), arguments)
        guard status == 0, let split = output.lastIndex(of: "\n"), let code = Int(output[output.index(after: split)...]) else {
            throw Harness.Failure("curl \(method) \(url) failed: \(output)")
        }
        return (code, String(output[..<split]))
    }

    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
    }

    @Test("the API over HTTP: tokens from the CLI, a released message arrives once at smtp-sink, roles enforced")
    func releaseThroughTheAPI() async throws {
        let setup = try ReleaseSetup(filters: #"hold_it: if (subject == '^hold me') { quarantine("Policy"); }"#)
        defer { setup.stop() }
        let lazaret = try Harness.lazaretBinary
        func cli(_ args: [String]) throws -> String {
            let (status, output) = try Harness.run(lazaret, ["manager"] + args + ["--config", setup.managerConfig])
            guard status == 0 else { throw Harness.Failure("lazaret manager \(args.joined(separator: " ")): \(output)") }
            return output
        }
        _ = try cli(["user", "add", "olivia", "--role", "operator"])
        _ = try cli(["user", "add", "rita", "--role", "read-only"])
        let operatorToken = try cli(["token", "create", "olivia"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let readerToken = try cli(["token", "create", "rita"]).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(operatorToken.hasPrefix("lzt_"))
        let base = "http://127.0.0.1:\(setup.webPort)/api/v1"
        try Harness.waitUntil("the API answering /health") { (try? Self.curl("GET", base + "/health", token: nil).0) == 200 }

        try setup.send(subject: "hold me", messageID: "api-1@sender.example")
        try Harness.waitUntil("the message stored on the manager") { setup.storedCount() == 1 }

        // Without a token, with a read-only one, with bad input: problems, nothing changes.
        let (anonymous, anonymousBody) = try Self.curl("GET", base + "/messages", token: nil)
        #expect(anonymous == 401 && anonymousBody.contains("\"type\":\"https://lazaret.dev/problems/unauthorized\""), "\(anonymousBody)")
        let (listed, listBody) = try Self.curl("GET", base + "/messages?limit=10", token: readerToken)
        #expect(listed == 200, "\(listBody)")
        let items = try #require(try Self.object(listBody)["items"] as? [[String: Any]])
        let id = try #require(items.first?["id"] as? String)
        #expect(items.first?["subject"] as? String == "hold me")
        let (forbidden, _) = try Self.curl("POST", base + "/messages/\(id)/release", token: readerToken)
        #expect(forbidden == 403)
        let (badLimit, badLimitBody) = try Self.curl("GET", base + "/messages?limit=99999", token: readerToken)
        #expect(badLimit == 400 && badLimitBody.contains("\"field\":\"limit\""), "\(badLimitBody)")
        let (traversal, _) = try Self.curl("GET", base + "/messages/..%2F..%2Fquarantine.sqlite/raw", token: operatorToken)
        #expect(traversal == 400)
        let (malformed, malformedBody) = try Self.curl("POST", base + "/messages/\(id)/release", token: operatorToken, body: "{\"quarantines\":")
        #expect(malformed == 400, "\(malformedBody)")
        #expect(setup.sink.messages.isEmpty)

        // The operator releases it: it goes to the gateway and arrives once.
        let (released, releasedBody) = try Self.curl("POST", base + "/messages/\(id)/release", token: operatorToken, body: "{}")
        #expect(released == 200, "\(releasedBody)")
        #expect(try Self.object(releasedBody)["release_id"] as? String != nil)
        try Harness.waitUntil("the delivered report on the manager", seconds: 120) {
            setup.managerLogs.contains("to <bob@rcpt.example>: delivered")
        }
        #expect(setup.sinkCount("api-1@sender.example") == 1)
        #expect(setup.managerLogs.contains("QID \(id) released by api:olivia from all quarantines"), "\(setup.managerLogs)")
        let (shown, shownBody) = try Self.curl("GET", base + "/messages/\(id)", token: readerToken)
        #expect(shown == 200)
        let releases = try #require(try Self.object(shownBody)["releases"] as? [[String: Any]])
        #expect(releases.first?["requested_by"] as? String == "api:olivia")
        #expect(releases.first?["state"] as? String == "accepted")
        let outcomes = try #require(releases.first?["outcomes"] as? [[String: Any]])
        #expect(outcomes.contains { $0["status"] as? String == "delivered" && ($0["reply"] as? String)?.hasPrefix("250") == true }, "\(outcomes)")
        // Released again: nothing new is sent.
        let (again, againBody) = try Self.curl("POST", base + "/messages/\(id)/release", token: operatorToken)
        #expect(again == 200 || again == 409, "\(againBody)")
        #expect(setup.sinkCount("api-1@sender.example") == 1)
    }
}
