import Foundation
import Testing

/// A copy sent from the API with real processes: it goes through the originating gateway
/// straight to delivery, to the given address only, once; the message stays held.
@Suite(.serialized)
struct CopyProcessTests {
    @Test("POST /messages/{id}/copy: the copy arrives once at the address through the gateway; the message stays held")
    func copyThroughTheGateway() async throws {
        let setup = try ReleaseSetup(filters: #"hold_it: if (subject == '^hold me') { quarantine("Policy"); }"#)
        defer { setup.stop() }
        let lazaret = try Harness.lazaretBinary
        func manager(_ args: [String]) throws -> String {
            let (status, output) = try Harness.run(lazaret, ["manager"] + args + ["--config", setup.managerConfig])
            guard status == 0 else { throw Harness.Failure("lazaret manager \(args.joined(separator: " ")): \(output)") }
            return output
        }
        _ = try manager(["user", "add", "ada", "--role", "admin"])
        _ = try manager(["user", "add", "olivia", "--role", "operator"])
        let admin = try manager(["token", "create", "ada"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let op = try manager(["token", "create", "olivia"]).trimmingCharacters(in: .whitespacesAndNewlines)
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
}
