import Foundation
import QuarantineStore
import Scanning
import Testing

/// The audit log as an admin meets it: actions through `lazaret quarantine ...` (the API) on a real
/// `lazaret manager --config`, `lazaret quarantine audit`, and `lazaret manager audit
/// verify` while the manager runs and after it stopped, then after the database was
/// edited with Python's sqlite3 module, as an attacker with access to the file would.
@Suite(.serialized)
struct AuditCLITests {
    @Test("lazaret manager audit verify: intact while running and stopped; exit 1 naming the entry after tampering")
    func verifyRunningStoppedAndTampered() async throws {
        let home = try Harness.makeTempDirectory("audit")
        defer { try? FileManager.default.removeItem(atPath: home) }
        let config = home + "/manager.yaml"
        let webPort = Harness.freePort()
        try ManagerConfigurationText.yaml(port: Harness.freePort(), webPort: webPort).write(toFile: config, atomically: true, encoding: .utf8)
        let socket = home + "/control.sock"
        let lazaret = try Harness.lazaretBinary
        // Two API users: the CLI acts with their tokens.
        func token(_ name: String, role: String) throws -> String {
            let (added, addOutput) = try Harness.run(lazaret, ["manager", "user", "add", name, "--role", role, "--config", config])
            guard added == 0 else { throw Harness.Failure("user add \(name): \(addOutput)") }
            let (created, token) = try Harness.run(lazaret, ["manager", "token", "create", name, "--config", config])
            guard created == 0 else { throw Harness.Failure("token create \(name): \(token)") }
            return token.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let auditor = try token("auditor", role: "admin")
        let intruder = try token("intruder", role: "operator")
        func quarantine(_ args: [String], token: String) throws -> (Int32, String) {
            try Harness.run(lazaret, ["quarantine"] + args + ["--config", config, "--token", token])
        }

        // Two held messages, stored before the manager starts (the store is the manager's).
        let store = try QuarantineStore.open(directory: home + "/quarantine")
        let policy = QuarantineTicket(quarantine: "Policy", reason: QuarantineReason(kind: .messageFilter, detail: "hold_it"),
                                      stage: .messageFilters)
        var qids: [QID] = []
        for (index, mid) in [601, 602].enumerated() {
            let transfer = IncomingTransfer(transferID: "t\(index)", gateway: "gw1", gatewayMID: UInt64(mid), gatewayICID: 1,
                                            receivedAt: Date(), mailFrom: "alice@sender.example", recipients: ["bob@rcpt.example"],
                                            holds: [policy])
            qids.append(try await store.storeTransfer(transfer, body: Array("Subject: audit \(index)\r\n\r\nbody\r\n".utf8)).qid)
        }
        try store.close()

        let manager = try Background(lazaret, ["manager", "--config", config], logPath: home + "/stdout.log")
        defer { manager.stop() }
        try Harness.waitUntil("the manager's ready lines (output: \(manager.output))", seconds: 90) {
            if !manager.process.isRunning { throw Harness.Failure("lazaret manager exited: \(manager.output)") }
            return manager.output.contains("control socket \(socket)") && Harness.isListening(webPort)
        }
        let (released, releaseOutput) = try quarantine(["release", qids[0].rawValue], token: auditor)
        #expect(released == 0, "\(releaseOutput)")
        let (deleted, deleteOutput) = try quarantine(["delete", qids[1].rawValue], token: auditor)
        #expect(deleted == 0, "\(deleteOutput)")
        let (refused, _) = try quarantine(["release", qids[1].rawValue], token: intruder)
        #expect(refused == 1)

        let (listed, list) = try quarantine(["audit"], token: auditor)
        #expect(listed == 0, "\(list)")
        let rows = list.split(separator: "\n").map(String.init)
        #expect(rows.count == 5, "\(list)")
        #expect(rows[1].contains("api:auditor (admin)") && rows[1].contains("release") && rows[1].contains(qids[0].rawValue), "\(list)")
        #expect(rows[2].contains("api:auditor (admin)") && rows[2].contains("delete") && rows[2].contains(qids[1].rawValue), "\(list)")
        #expect(rows[3].contains("api:intruder (operator)") && rows[3].contains("refused: message \(qids[1]) was deleted"), "\(list)")

        let (runningStatus, running) = try Harness.run(lazaret, ["manager", "audit", "verify", "--config", config])
        #expect(runningStatus == 0, "\(running)")
        #expect(running.contains("audit log intact: 3 entries (1-3)"), "\(running)")
        let anchor = try #require(running.range(of: #"latest entry 3 hash [0-9a-f]{64}"#, options: .regularExpression)
            .map { "3:" + running[$0].split(separator: " ").last! }, "\(running)")

        let mailLogs = (try? String(contentsOfFile: home + "/logs/mail_logs", encoding: .utf8)) ?? ""
        for line in [#"Info: MID 601 released from quarantine "Policy" (manual)"#, "Info: MID 601 released from all quarantines",
                     #"Info: MID 602 deleted from quarantine "Policy" (manual)"#] {
            #expect(mailLogs.contains(line), "\(line) missing in:\n\(mailLogs)")
        }
        manager.stop()

        // Stopped: the CLI opens the store itself, with the same answers.
        let (stoppedStatus, stopped) = try Harness.run(lazaret, ["manager", "audit", "verify", "--config", config, "--anchor", anchor])
        #expect(stoppedStatus == 0, "\(stopped)")
        #expect(stopped.contains("audit log intact: 3 entries (1-3)") && stopped.contains("anchor \(anchor) matches entry 3"), "\(stopped)")

        // The checker docs/QUARANTINE-STORE.md gives, run as printed: the same chain without Lazaret.
        let database = home + "/quarantine/quarantine.sqlite"
        let (pythonStatus, python) = try Harness.run(try Harness.tool("python3"), ["-c", try documentedChecker(database: database)])
        #expect(pythonStatus == 0 && python == "3 entries, latest \(anchor)\n", "\(python)")

        // The last entry cut off: the chain alone is whole; the recorded anchor catches it.
        try sqlite(database, "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 3;")
        let (cutStatus, cut) = try Harness.run(lazaret, ["manager", "audit", "verify", "--config", config])
        #expect(cutStatus == 0 && cut.contains("audit log intact: 2 entries (1-2)"), "\(cut)")
        let (anchoredStatus, anchored) = try Harness.run(lazaret, ["manager", "audit", "verify", "--config", config, "--anchor", anchor])
        #expect(anchoredStatus == 1, "\(anchored)")
        #expect(anchored.contains("audit log BROKEN at entry 3: the recorded entry 3 is not in the log, which ends at entry 2"), "\(anchored)")

        // Entry 2's actor edited: found by its number.
        try sqlite(database, "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'cli:someone-else' WHERE seq = 2;")
        let (editedStatus, edited) = try Harness.run(lazaret, ["manager", "audit", "verify", "--config", config])
        #expect(editedStatus == 1, "\(edited)")
        #expect(edited.contains("lazaret: audit log BROKEN at entry 2: entry 2 was changed after it was written"), "\(edited)")
        #expect(edited.contains("entries 1-1 verify"), "\(edited)")

        let (badAnchor, badAnchorOutput) = try Harness.run(lazaret, ["manager", "audit", "verify", "--config", config, "--anchor", "3:xyz"])
        #expect(badAnchor == 1 && badAnchorOutput.contains("--anchor \"3:xyz\" is not SEQ:HASH"), "\(badAnchorOutput)")
    }
}

/// The Python block of docs/QUARANTINE-STORE.md's "The hash chain", reading `database`.
private func documentedChecker(database: String) throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let doc = try String(contentsOf: root.appendingPathComponent("docs/QUARANTINE-STORE.md"), encoding: .utf8)
    guard let section = doc.range(of: "### The hash chain"), let start = doc.range(of: "```python\n", range: section.upperBound..<doc.endIndex),
          let end = doc.range(of: "```", range: start.upperBound..<doc.endIndex)
    else { throw Harness.Failure("docs/QUARANTINE-STORE.md has no python block under \"The hash chain\"") }
    return String(doc[start.upperBound..<end.lowerBound]).replacingOccurrences(of: "\"copy.sqlite\"", with: "\"\(database)\"")
}

/// Runs `sql` on the database with Python's sqlite3 module: another tool than ours.
private func sqlite(_ database: String, _ sql: String) throws {
    let (status, output) = try Harness.run(try Harness.tool("python3"), [
        "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit(); c.close()",
        database, sql])
    guard status == 0 else { throw Harness.Failure("python3 sqlite3 failed: \(output)") }
}
