import AdminCLI
import Foundation
import MailLog
import QuarantineStore
import Scanning
import Testing
import WebUI
@testable import Manager

/// The manager's side of the audit log: release and delete as the API runs them
/// (`ManagerQuarantineActions`) write audit entries under the user and the mail_logs lines
/// of issue #5, and `audit list|verify` answer over the control socket's command table.
@Suite struct AuditCommandsTests {
    @Test("release and delete write the mail_logs lines admins know, with the gateway MID")
    func mailLogsLines() async throws {
        try await withStore { store, released in
            let log = MailLog(inMemoryKeeping: 100)
            let actions = ManagerQuarantineActions(store: store, onReleased: { released.append($0) }, log: log)
            let alice = APIUser(name: "alice", role: .operator), bob = APIUser(name: "bob", role: .operator)
            let twice = try await store.add("t1", holds: [policyHold, virusHold])
            let once = try await store.add("t2", holds: [policyHold, virusHold])

            _ = try await actions.release(twice, from: ["Policy"], actor: alice)
            #expect(messages(log) == [#"MID 482 released from quarantine "Policy" (manual)"#,
                                      #"QID \#(twice) released by api:alice from "Policy"; still held elsewhere"#])
            _ = try await actions.release(twice, from: nil, actor: bob)
            let request = try #require(released.requests.first)
            #expect(messages(log).dropFirst(2) == [#"MID 482 released from quarantine "Virus" (manual)"#,
                                                   "MID 482 released from all quarantines",
                                                   "QID \(twice) released by api:bob from all quarantines; release \(request.releaseID) queued for gateway gw1.example.org"])
            // Released again: the same release, no new "released from" lines.
            _ = try await actions.release(twice, from: nil, actor: bob)
            #expect(messages(log).filter { $0.hasPrefix("MID 482 released") }.count == 3)

            try await actions.delete(once, from: ["Virus"], actor: alice)
            #expect(messages(log).suffix(2) == [#"MID 482 deleted from quarantine "Virus" (manual)"#,
                                                #"QID \#(once) deleted by api:alice from "Virus""#])
            try await actions.delete(once, from: nil, actor: alice)
            #expect(messages(log).suffix(2) == [#"MID 482 deleted from quarantine "Policy" (manual)"#,
                                                "QID \(once) deleted by api:alice from all quarantines"])
            // Refused: no mail_logs line claims it happened.
            let before = messages(log).count
            await #expect(throws: QuarantineStoreError.self) { _ = try await actions.release(once, from: nil, actor: alice) }
            #expect(messages(log).count == before)
            #expect(log.recentLines.allSatisfy { $0.contains(" Info: ") })
        }
    }

    @Test("a bulk release logs each message's quarantines and the release from all")
    func releaseAllLines() async throws {
        try await withStore { store, released in
            let log = MailLog(inMemoryKeeping: 100)
            let actions = ManagerQuarantineActions(store: store, onReleased: { released.append($0) }, log: log)
            let both = try await store.add("t1", holds: [policyHold, virusHold])
            let policy = try await store.add("t2", holds: [policyHold])
            let results = try await actions.perform(.release(from: ["Policy"]), on: [both, policy], visible: nil,
                                                    selection: "search quarantine=Policy", actor: APIUser(name: "ops", role: .operator))
            #expect(results.count == 2)
            let lines = messages(log)
            #expect(lines.filter { $0.hasPrefix("MID 482 released from quarantine \"Policy\" (manual)") }.count == 2, "\(lines)")
            #expect(lines.filter { $0 == "MID 482 released from all quarantines" }.count == 1, "\(lines)")
            #expect(!lines.contains { $0.contains("\"Virus\" (manual)") }, "\(lines)")
            #expect(released.requests.map(\.qid) == [policy])
            let entries = try await store.auditEntries()
            #expect(Set(entries.compactMap(\.target.qid)) == [both, policy])
            #expect(entries.allSatisfy { $0.actor.name == "api:ops" && $0.target.selection == "search quarantine=Policy" })
        }
    }

    @Test("the API's release and delete (ManagerQuarantineActions) write the same lines and audit entries")
    func apiActions() async throws {
        try await withStore { store, released in
            let log = MailLog(inMemoryKeeping: 100)
            let actions = ManagerQuarantineActions(store: store, onReleased: { released.append($0) }, log: log)
            let qid = try await store.add("t1", holds: [policyHold, virusHold])
            let other = try await store.add("t2", holds: [virusHold])
            #expect(try await actions.release(qid, from: nil, actor: APIUser(name: "alice", role: .helpDesk)) != nil)
            try await actions.delete(other, from: nil, actor: APIUser(name: "bob", role: .operator))
            await actions.refused(.delete, qid: qid, actor: APIUser(name: "rita", role: .readOnly),
                                  reason: "the role read-only may not delete quarantined messages")
            let lines = messages(log)
            for line in [#"MID 482 released from quarantine "Policy" (manual)"#, #"MID 482 released from quarantine "Virus" (manual)"#,
                         "MID 482 released from all quarantines", #"MID 482 deleted from quarantine "Virus" (manual)"#] {
                #expect(lines.contains(line), "\(line) missing in \(lines)")
            }
            let entries = try await store.auditEntries()
            #expect(entries.map(\.actor.name) == ["api:alice", "api:bob", "api:rita"] && entries.map(\.action) == [.release, .delete, .delete])
            #expect(entries.map(\.actor.role) == ["help-desk", "operator", "read-only"])
            #expect(entries.last?.outcome == .refused(reason: "the role read-only may not delete quarantined messages"))
        }
    }

    @Test("audit list prints the latest entries as a table; audit verify checks the chain")
    func listAndVerify() async throws {
        try await withStore { store, _ in
            let table = Manager.controlCommands(store: store)
            #expect(await table.handle(["audit", "list"]) == .success("the audit log has no entries yet"))
            #expect(await table.handle(["audit", "verify"]) == .success("audit log intact: no entries yet"))
            let qid = try await store.add("t1", holds: [policyHold, virusHold])
            _ = try await store.release(qid, from: ["Policy"], by: "alice")
            try await store.delete(qid, from: nil, by: "bob")
            try await store.recordAudit(.login, target: AuditTarget(), by: AuditActor(name: "token:carol", role: "help desk"),
                                        outcome: .refused(reason: "wrong token"), detail: "line one\nline two")

            let listed = await table.handle(["audit", "list", "--limit", "2"])
            #expect(listed.ok, "\(listed.output)")
            let lines = listed.output.split(separator: "\n").map(String.init)
            #expect(lines.count == 4, "\(listed.output)")
            for column in ["SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME", "DETAIL"] { #expect(lines[0].contains(column)) }
            for cell in ["2", "bob", "delete", "\(qid) from \"Policy\", \"Virus\"", "ok"] { #expect(lines[1].contains(cell), "\(cell) in \(lines[1])") }
            for cell in ["3", "token:carol (help desk)", "login", "refused: wrong token", #"line one\nline two"#] {
                #expect(lines[2].contains(cell), "\(cell) in \(lines[2])")
            }
            let last = try #require(try await store.auditEntries(last: 1).first)
            #expect(lines[3] == "latest entry 3 hash \(last.hash) (lazaret manager audit verify checks the chain)")

            let verified = await table.handle(["audit", "verify"])
            #expect(verified.ok && verified.output.hasPrefix("audit log intact: 3 entries (1-3)"), "\(verified.output)")
            #expect(await table.handle(["audit", "verify", "--anchor", "3:\(last.hash)"]).ok)
            let wrong = await table.handle(["audit", "verify", "--anchor", "2:\(last.hash)"])
            #expect(!wrong.ok && wrong.output.hasPrefix("audit log BROKEN at entry 2: entry 2 now has hash"), "\(wrong.output)")
            let missing = await table.handle(["audit", "verify", "--anchor", "9:\(last.hash)"])
            #expect(!missing.ok && missing.output.contains("the recorded entry 9 is not in the log, which ends at entry 3"), "\(missing.output)")

            #expect(await table.handle(["audit", "verify", "--anchor", "3"])
                    == .failure("--anchor \"3\" is not SEQ:HASH (an entry number, a colon and 64 hex digits, as audit verify prints them)"))
            #expect(await table.handle(["audit", "list", "--limit", "0"]) == .failure("--limit 0 is not a number from 1 to 1000"))
            let help = await table.handle(["help"])
            #expect(help.output.contains("audit verify [--anchor SEQ:HASH]") && help.output.contains("audit list [--limit N]"))
        }
    }

    @Test("on a stopped manager the audit commands open the store; no store is refused, not created")
    func stoppedManager() async throws {
        var template = Array("/tmp/lzaudit-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else { throw ManagerError("mkdtemp failed") }
        let home = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        defer { try? FileManager.default.removeItem(atPath: home) }
        let configuration = ManagerConfiguration(home: home)
        let none = await AuditCommands.runOnStoppedManager(["audit", "verify"], configuration: configuration)
        #expect(none == .failure("no quarantine store in \(home)/quarantine: check store.directory in the configuration (or start the manager once)"))
        #expect(!FileManager.default.fileExists(atPath: home + "/quarantine"))

        let store = try QuarantineStore.open(directory: home + "/quarantine", options: QuarantineStoreOptions(fsync: false))
        let qid = try await store.add("t1", holds: [policyHold])
        try await store.delete(qid, from: nil, by: "cli:root")
        // Running (the store locked by another QuarantineStore): refused with the store's reason.
        let locked = await AuditCommands.runOnStoppedManager(["audit", "verify"], configuration: configuration)
        #expect(!locked.ok, "\(locked.output)")
        try store.close()

        let verified = await AuditCommands.runOnStoppedManager(["audit", "verify"], configuration: configuration)
        #expect(verified.ok && verified.output.hasPrefix("audit log intact: 1 entry (1-1)"), "\(verified.output)")
        let listed = await AuditCommands.runOnStoppedManager(["audit", "list"], configuration: configuration)
        #expect(listed.ok && listed.output.contains("cli:root") && listed.output.contains(qid.rawValue), "\(listed.output)")
    }
}

/// The messages of the log's lines, without the time and level.
private func messages(_ log: MailLog) -> [String] {
    log.recentLines.compactMap { line in line.range(of: " Info: ").map { String(line[$0.upperBound...]) } }
}
