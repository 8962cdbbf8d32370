import CPQTLS
import Foundation
import Testing

/// `lazaret quarantine ...` as an admin runs it: real processes against a real
/// `lazaret manager --config` that stored a message a real gateway quarantined.
@Suite(.serialized)
struct QuarantineCLITests {
    @Test("lazaret quarantine list, show and delete talk to the running manager over its control socket")
    func listShowDelete() throws {
        let managerHome = try Harness.makeTempDirectory("manager")
        defer { try? FileManager.default.removeItem(atPath: managerHome) }
        let cpqPort = Harness.freePort()
        try ManagerConfigurationText.yaml(port: cpqPort).write(toFile: managerHome + "/manager.yaml", atomically: true, encoding: .utf8)
        let gatewayFiles = managerHome + "/gw5-cpq"
        let (paired, pairOutput) = try Harness.run(try Harness.lazaretBinary, [
            "manager", "pair", "--config", managerHome + "/manager.yaml", "--name", "gw5", "--write-gateway-files", gatewayFiles])
        #expect(paired == 0, "\(pairOutput)")
        let socket = managerHome + "/control.sock"
        let lazaret = try Harness.lazaretBinary

        // Before the manager runs, the CLI says how to start it.
        let (downStatus, down) = try Harness.run(lazaret, ["quarantine", "list", "--socket", socket])
        #expect(downStatus == 1)
        #expect(down.contains("no running manager answers on \(socket): start it with lazaret up or lazaret manager --config FILE"), "\(down)")

        let manager = try Background(lazaret, ["manager", "--config", managerHome + "/manager.yaml"], logPath: managerHome + "/stdout.log")
        defer { manager.stop() }
        try Harness.waitUntil("the manager's cpq_listener (output: \(manager.output))", seconds: 90) {
            if !manager.process.isRunning { throw Harness.Failure("lazaret manager exited: \(manager.output)") }
            return Harness.isListening(cpqPort)
        }
        // The ready lines come once everything is up (the cpq_listener opens first).
        try Harness.waitUntil("the manager's ready lines (output: \(manager.output))") { manager.output.contains("control socket \(socket)") }

        let sink = try SMTPSink()
        let gateway = try GatewayInstance(smarthostPort: sink.port, cpqPort: cpqPort, cpqTLS: "required", scanning: #"""
            antivirus: {enabled: off}
            message_filters: |
              hold_it: if (subject == '^hold me') { quarantine("Policy"); }
            """#)
        try CPQJoinBundle.read(from: gatewayFiles).write(to: gateway.home + "/cpq")
        try gateway.start()
        defer { gateway.stop(); sink.stop() }
        let (sent, swaks) = try Harness.run(try Harness.tool("swaks"), [
            "--server", "127.0.0.1:\(gateway.port)", "--from", "alice@sender.example", "--to", "bob@rcpt.example",
            "--header", "Subject: hold me for the CLI"])
        #expect(sent == 0, "\(swaks)")
        let managerLogs = { (try? String(contentsOfFile: managerHome + "/logs/mail_logs", encoding: .utf8)) ?? "" }
        try Harness.waitUntil("the transfer stored on the manager") { managerLogs().contains("stored from gw5 MID") }
        let qid = try #require(managerLogs().range(of: #"QID Q[A-Z2-7]{16} stored from gw5"#, options: .regularExpression)
            .map { String(managerLogs()[$0].split(separator: " ")[1]) }, "\(managerLogs())")

        let (listStatus, list) = try Harness.run(lazaret, ["quarantine", "list", "--socket", socket])
        #expect(listStatus == 0, "\(list)")
        let row = try #require(list.split(separator: "\n").first { $0.hasPrefix(qid) }, "\(list)")
        for cell in ["gw5", "alice@sender.example", "bob@rcpt.example", "hold me for the CLI", "Policy:held"] {
            #expect(row.contains(cell), "\(cell) missing in \(row)")
        }

        let (showStatus, show) = try Harness.run(lazaret, ["quarantine", "show", qid, "--socket", socket])
        #expect(showStatus == 0, "\(show)")
        #expect(show.contains("message filter:hold_it"), "\(show)")

        let (badStatus, bad) = try Harness.run(lazaret, ["quarantine", "list", "--limit", "0", "--socket", socket])
        #expect(badStatus == 1)
        #expect(bad.contains("--limit 0 is not a number from 1 to 1000"), "\(bad)")

        let (deleteStatus, deleted) = try Harness.run(lazaret, ["quarantine", "delete", qid, "--socket", socket])
        #expect(deleteStatus == 0, "\(deleted)")
        #expect(deleted.contains("QID \(qid) deleted from all quarantines; it will never be delivered"), "\(deleted)")
        try Harness.waitUntil("the delete in the manager's mail_logs") {
            managerLogs().range(of: #"QID \#(qid) deleted by cli:\S+ from all quarantines"#, options: .regularExpression) != nil
        }

        let (_, empty) = try Harness.run(lazaret, ["quarantine", "list", "--socket", socket])
        #expect(empty.contains("no messages held"), "\(empty)")
        let (releaseStatus, release) = try Harness.run(lazaret, ["quarantine", "release", qid, "--socket", socket])
        #expect(releaseStatus == 1)
        #expect(release.contains("was deleted from \"Policy\""), "\(release)")
        #expect(sink.messages.isEmpty, "a deleted message was delivered")

        manager.stop()
        #expect(!FileManager.default.fileExists(atPath: socket), "the manager left its control socket behind")
    }
}
