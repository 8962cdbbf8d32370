import Foundation
import Testing

/// The quota with real processes: a manager with a 1 MiB quota and a gateway sending
/// quarantined mail over CPQ. When no quarantine may give up mail, a transfer that does not
/// fit is refused with 452 4.3.1 and waits in the gateway's the.cpq.host; an operator's delete
/// makes room and it arrives. When the quarantine allows freeing space, its oldest message
/// gets the default action early and the new one is taken at once. Nothing is lost.
@Suite(.serialized)
struct QuotaProcessTests {
    @Test("quota full: 452 and the gateway holds the mail until space is freed; free up space takes the oldest")
    func quotaBothWays() async throws {
        let setup = try ReleaseSetup(filters: #"hold_it: if (subject == '^big') { quarantine("Policy"); }"#)
        defer { setup.stop() }
        // A 1 MiB quota, swept often.
        setup.stopManager()
        let config = try String(contentsOfFile: setup.managerConfig, encoding: .utf8)
            .replacingOccurrences(of: "store: {directory: quarantine}", with: "store: {directory: quarantine, quota_mb: 1, sweep_s: 1}")
        #expect(config.contains("quota_mb: 1"))
        try config.write(toFile: setup.managerConfig, atomically: true, encoding: .utf8)
        try setup.startManager()
        let token = try setup.token(for: "ada", role: "admin")
        let base = "http://127.0.0.1:\(setup.webPort)/api/v1"
        try Harness.waitUntil("the API answering /health") { (try? APIProcessTests.curl("GET", base + "/health", token: nil).0) == 200 }
        let (patched, patchBody) = try APIProcessTests.curl("PATCH", base + "/quarantines/Policy", token: token, body: #"{"free_up_space": false}"#)
        #expect(patched == 200, "\(patchBody)")

        // About 400 KB each once encoded: two fit in 1 MiB, the third does not.
        let attachment = try setup.attachment("big.txt", String(repeating: "0123456789abcdef quota filler line\n", count: 8500))
        for index in 1...2 {
            try setup.send(subject: "big \(index)", messageID: "big-\(index)@sender.example", attach: attachment)
        }
        try Harness.waitUntil("two messages stored") { setup.storedCount() == 2 }
        try setup.send(subject: "big 3", messageID: "big-3@sender.example", attach: attachment)
        try Harness.waitUntil("the third transfer refused as over quota", seconds: 120) {
            setup.managerLogs.contains("refused: the quarantine store is full")
        }
        try Harness.waitUntil("the gateway deferring it with 452 4.3.1") { setup.gateway.mailLogs.contains("452 4.3.1") }
        #expect(setup.storedCount() == 2)
        let (_, healthBody) = try APIProcessTests.curl("GET", base + "/health", token: nil)
        let quota = try #require(try APIProcessTests.object(healthBody)["quota"] as? [String: Any])
        #expect(quota["alert"] as? String == "over 75% of the quota", "\(healthBody)")
        #expect(setup.managerLogs.contains("Quarantine store is over 75% of its quota"))

        // An operator deletes the oldest: the gateway's retry is taken.
        let first = try #require(setup.qids().first)
        let (deleted, deleteBody) = try APIProcessTests.curl("POST", base + "/messages/\(first)/delete", token: token, body: "{}")
        #expect(deleted == 200, "\(deleteBody)")
        try Harness.waitUntil("the third message stored after the delete", seconds: 120) { setup.storedCount() == 3 }

        // Policy now gives up its oldest mail instead of refusing.
        let (allowed, _) = try APIProcessTests.curl("PATCH", base + "/quarantines/Policy", token: token, body: #"{"free_up_space": true}"#)
        #expect(allowed == 200)
        try setup.send(subject: "big 4", messageID: "big-4@sender.example", attach: attachment)
        try Harness.waitUntil("the fourth message stored at once", seconds: 120) { setup.storedCount() == 4 }
        #expect(setup.managerLogs.contains(#"deleted from quarantine "Policy" (free up space)"#), "\(setup.managerLogs)")
        #expect(setup.managerLogs.components(separatedBy: "refused: the quarantine store is full").count - 1 >= 1)
        // Every message is accounted for: 4 stored, none lost, none twice.
        #expect(Set(setup.qids()).count == 4)
    }
}
