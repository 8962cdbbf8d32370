import Foundation
import Testing

/// Copies and release options with real processes (manager, gateway, smtp-sink).
@Suite(.serialized)
struct ManagementProcessTests {
    @Test("POST /messages/{id}/copy: the copy arrives once at the address through the gateway; the message stays held")
    func copyThroughTheGateway() async throws {
        let setup = try ReleaseSetup(filters: #"hold_it: if (subject == '^hold me') { quarantine("Policy"); }"#)
        defer { setup.stop() }
        let admin = try setup.token(for: "ada", role: "admin")
        let op = try setup.token(for: "olivia", role: "operator")
        let base = "http://127.0.0.1:\(setup.webPort)/api/v1"
        try Harness.waitUntil("the API answering /health") { (try? APIProcessTests.curl("GET", base + "/health", token: nil).0) == 200 }
        try setup.send(subject: "hold me", messageID: "copy-1@sender.example")
        try Harness.waitUntil("the message stored on the manager") { setup.storedCount() == 1 }
        let id = try #require(setup.qids().first)

        let (refused, _) = try APIProcessTests.curl("POST", base + "/messages/\(id)/copy", token: op, body: #"{"to": "analyst@rcpt.example"}"#)
        #expect(refused == 403, "operators may not send copies")
        let (copied, copyBody) = try APIProcessTests.curl("POST", base + "/messages/\(id)/copy", token: admin, body: #"{"to": "analyst@rcpt.example"}"#)
        #expect(copied == 202, "\(copyBody)")
        try Harness.waitUntil("the copy at smtp-sink", seconds: 120) { setup.sinkCount("copy-1@sender.example") == 1 }
        let delivered = try #require(setup.sink.messages.first { $0.contains("copy-1@sender.example") })
        let envelope = delivered.split(separator: "\n").filter { $0.hasPrefix("X-Rcpt-Args") }
        #expect(envelope.count == 1 && envelope[0].contains("analyst@rcpt.example"), "\(delivered.prefix(600))")
        try Harness.waitUntil("the copy's delivered report on the manager", seconds: 120) {
            setup.managerLogs.contains("to <analyst@rcpt.example>: delivered")
        }
        // Still held, still only one message at the sink.
        let (shown, shownBody) = try APIProcessTests.curl("GET", base + "/messages/\(id)", token: op)
        #expect(shown == 200)
        let holds = try #require(try APIProcessTests.object(shownBody)["quarantines"] as? [[String: Any]])
        #expect(holds.first?["state"] as? String == "held")
        #expect(setup.sinkCount("copy-1@sender.example") == 1)
        #expect(setup.managerLogs.contains("copy sent to analyst@rcpt.example by api:ada"))
    }

    @Test("release options: a message released early arrives tagged, with the header, its attachment replaced; the stored original unchanged")
    func releaseOptionsApplyOnTheWayOut() async throws {
        let setup = try ReleaseSetup(filters: #"hold_it: if (subject == '^hold me') { quarantine("Policy"); }"#)
        defer { setup.stop() }
        let admin = try setup.token(for: "ada", role: "admin")
        let base = "http://127.0.0.1:\(setup.webPort)/api/v1"
        try Harness.waitUntil("the API answering /health") { (try? APIProcessTests.curl("GET", base + "/health", token: nil).0) == 200 }
        let (patched, patchBody) = try APIProcessTests.curl("PATCH", base + "/quarantines/Policy", token: admin, body: """
            {"release_subject_tag": "[RELEASED]", "release_header": "X-Lazaret-Released: early", "release_strip_attachments": true}
            """)
        #expect(patched == 200, "\(patchBody)")
        let attachment = try setup.attachment("invoice.exe", "MZ this is not really a program\n")
        try setup.send(subject: "hold me", messageID: "options-1@sender.example", attach: attachment)
        try Harness.waitUntil("the message stored on the manager") { setup.storedCount() == 1 }
        let id = try #require(setup.qids().first)
        let (released, releasedBody) = try APIProcessTests.curl("POST", base + "/messages/\(id)/release", token: admin, body: "{}")
        #expect(released == 200, "\(releasedBody)")
        try Harness.waitUntil("the released message at smtp-sink", seconds: 120) { setup.sinkCount("options-1@sender.example") == 1 }
        let delivered = try #require(setup.sink.messages.first { $0.contains("options-1@sender.example") })
        #expect(delivered.contains("Subject: [RELEASED] hold me"), "\(delivered.prefix(1500))")
        #expect(delivered.contains("X-Lazaret-Released: early"), "\(delivered.prefix(1500))")
        let flat = delivered.split(whereSeparator: \.isNewline).joined(separator: " ")
        #expect(flat.contains("invoice.exe") && flat.contains("was removed"), "\(delivered)")
        #expect(!delivered.contains("TVogdGhpcyBpcyBub3QgcmVhbGx5"), "the attachment's base64 is gone")
        // The stored original is unchanged (download gives what the gateway sent).
        let (_, raw) = try APIProcessTests.curl("GET", base + "/messages/\(id)/raw", token: admin)
        #expect(raw.contains("Subject: hold me") && !raw.contains("[RELEASED]"))
    }
}
