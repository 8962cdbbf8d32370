import Foundation
import Testing

/// schemathesis (installed by scripts/test) generates requests from the served OpenAPI
/// document — valid, boundary and invalid — and sends them to a real manager process with
/// an admin token and a held message: no request may get a 5xx, and every answer must be
/// one the document allows (status codes, content types, the problem document's shape).
@Suite(.serialized)
struct APIFuzzTests {
    @Test("schemathesis against a real manager: no 5xx for anything it generates")
    func schemathesis() async throws {
        let setup = try ReleaseSetup(filters: #"hold_it: if (subject == '^hold') { quarantine("Policy"); }"#)
        defer { setup.stop() }
        let token = try setup.token(for: "fuzz", role: "admin")
        let base = "http://127.0.0.1:\(setup.webPort)/api/v1"
        try Harness.waitUntil("the API answering /health") { (try? APIProcessTests.curl("GET", base + "/health", token: nil).0) == 200 }
        try setup.send(subject: "hold for the fuzzer", messageID: "fuzz-1@sender.example")
        try Harness.waitUntil("the message stored") { setup.storedCount() == 1 }
        let python = try Harness.tool("python3")
        let (status, output) = try Harness.run(python, [
            "-m", "schemathesis.cli", "run", base + "/openapi.json", "--url", base,
            "-H", "Authorization: Bearer \(token)",
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance",
            "--max-examples", "25", "--seed", "20261123", "--no-color",
        ])
        #expect(status == 0, "schemathesis found problems:\n\(output.suffix(6000))")
        #expect(output.contains("passed"), "\(output.suffix(2000))")
        #expect(!setup.managerLogs.contains("Critical:"), "\(setup.managerLogs.suffix(2000))")
    }
}
