import Foundation
import GRDB
import Scanning
import Testing
@testable import QuarantineStore

/// The audit log: entries written with the actions they record, the hash chain, and what
/// verification finds after an attacker with write access to the database file edits it.
@Suite struct AuditLogTests {
    // MARK: Entries

    @Test("release and delete write one entry each: who, what, on which quarantines, what is left")
    func actionsAreAudited() async throws {
        let clock = Date(timeIntervalSince1970: 1_790_000_000.123)
        try await withStore(QuarantineStoreOptions(now: { clock })) { store, _ in
            let held = try await store.storeTransfer(makeTransfer("t-1", holds: [policyHold, virusHold]), body: makeBody()).qid
            #expect(try await store.release(held, from: ["Policy"], by: "token:alice", audit: AuditContext(role: "operator")) == nil)
            let request = try #require(try await store.release(held, from: ["Virus"], by: "cli:root"))
            let other = try await store.storeTransfer(makeTransfer("t-2"), body: makeBody()).qid
            try await store.delete(other, from: nil, by: "cli:root")

            let entries = try await store.auditEntries()
            #expect(entries.map(\.sequence) == [1, 2, 3])
            #expect(entries.map(\.action) == [.release, .release, .delete])
            #expect(entries[0].actor == AuditActor(name: "token:alice", role: "operator"))
            #expect(entries[0].target == AuditTarget(qid: held, quarantines: ["Policy"]))
            #expect(entries[0].outcome == .ok)
            #expect(entries[0].detail == #"still held in "Virus""#)
            #expect(entries[0].time == clock)
            #expect(entries[1].actor == AuditActor(name: "cli:root"))
            #expect(entries[1].target == AuditTarget(qid: held, quarantines: ["Virus"]))
            #expect(entries[1].detail == "release \(request.releaseID) requested for gateway gw1.example.org")
            #expect(entries[2].target == AuditTarget(qid: other, quarantines: ["Policy"]))
            #expect(entries[2].detail == nil)
            #expect(entries[0].previousHash == AuditChain.genesisHash)
            #expect(entries[1].previousHash == entries[0].hash && entries[2].previousHash == entries[1].hash)
            #expect(Set(entries.map(\.hash)).count == 3 && entries.allSatisfy { AuditChain.isHash($0.hash) })
        }
    }

    @Test("a refused action is recorded with the store's reason, and changes nothing")
    func refusalsAreAudited() async throws {
        try await withStore { store, _ in
            let qid = try await store.storeTransfer(makeTransfer("t-1", holds: [policyHold, virusHold]), body: makeBody()).qid
            try await store.delete(qid, from: ["Virus"], by: "bob")
            let refused = await #expect(throws: QuarantineStoreError(.deleted, "")) {
                try await store.release(qid, from: nil, by: "alice")
            }
            await #expect(throws: QuarantineStoreError(.notHeld, "")) {
                try await store.delete(qid, from: ["Outbreak"], by: "alice")
            }
            let unknown = QID("QAAAAAAAAAAAAAAAA")!
            await #expect(throws: QuarantineStoreError(.notFound, "")) {
                try await store.release(unknown, from: nil, by: "alice")
            }
            let entries = try await store.auditEntries()
            #expect(entries.map(\.action) == [.delete, .release, .delete, .release])
            #expect(entries[0].outcome == .ok && entries[0].detail == #"still held in "Policy""#)
            #expect(entries[1].outcome == .refused(reason: try #require(refused).message))
            #expect(entries[1].target == AuditTarget(qid: qid))
            #expect(entries[2].outcome == .refused(reason: "message \(qid) is not in quarantine \"Outbreak\"; its quarantines: \"Policy\" (held), \"Virus\" (deleted)"))
            #expect(entries[2].target == AuditTarget(qid: qid, quarantines: ["Outbreak"]))
            #expect(entries[3].target.qid == unknown && entries[3].outcome == .refused(reason: "no quarantined message has QID \(unknown)"))
            #expect(try await store.message(qid)?.heldIn == ["Policy"])
            #expect(try await store.verifyAudit().isIntact)
        }
    }

    @Test("a bulk release writes one entry per message, refusals included, naming the selection")
    func bulkReleaseIsAuditedPerMessage() async throws {
        try await withStore { store, _ in
            let one = try await store.storeTransfer(makeTransfer("t-1"), body: makeBody()).qid
            let two = try await store.storeTransfer(makeTransfer("t-2", holds: [policyHold, virusHold]), body: makeBody()).qid
            let gone = try await store.storeTransfer(makeTransfer("t-3"), body: makeBody()).qid
            try await store.delete(gone, from: nil, by: "cli:ops")
            let selection = "release-all --quarantine Policy"
            let results = try await store.release([one, two, gone], from: ["Policy"], by: "cli:ops",
                                                  audit: AuditContext(selection: selection))
            #expect(results.count == 3)
            let entries = Array(try await store.auditEntries().dropFirst())
            #expect(entries.map(\.target.qid) == [one, two, gone])
            #expect(entries.allSatisfy { $0.target.selection == selection && $0.actor.name == "cli:ops" && $0.action == .release })
            #expect(entries[0].outcome == .ok && entries[1].outcome == .ok)
            #expect(entries[1].detail == #"still held in "Virus""#)
            guard case .refused(let reason) = entries[2].outcome else { Issue.record("\(entries[2])"); return }
            #expect(reason.contains("was deleted from \"Policy\" by cli:ops"), "\(reason)")
            #expect(try await store.verifyAudit().verifiedEntries == 4)
        }
    }

    @Test("recordAudit takes actions that are not store writes, and refuses a nameless actor")
    func recordAuditForOtherActions() async throws {
        try await withStore { store, _ in
            let entry = try await store.recordAudit(.login, target: AuditTarget(), by: AuditActor(name: "token:alice", role: "admin"),
                                                    outcome: .ok, detail: "web UI from 10.0.0.7")
            #expect(entry.sequence == 1 && entry.action == .login)
            try await store.recordAudit(AuditAction(rawValue: "download"), target: AuditTarget(qid: QID("QAAAAAAAAAAAAAAAA")),
                                        by: AuditActor(name: "token:helpdesk", role: "help desk"),
                                        outcome: .refused(reason: "help desk may not download originals"))
            #expect(try await store.auditEntries(last: 1).map(\.action) == [.download])
            await #expect(throws: QuarantineStoreError(.invalidArgument, "")) {
                try await store.recordAudit(.login, target: AuditTarget(), by: AuditActor(name: ""), outcome: .ok)
            }
            await #expect(throws: QuarantineStoreError(.invalidArgument, "")) { try await store.auditEntries(last: 0) }
        }
    }

    // MARK: The action and its entry commit together

    @Test("the entry fails: the release and the delete are not done either")
    func failingEntryUndoesTheAction() async throws {
        try await withStore { store, _ in
            let qid = try await store.storeTransfer(makeTransfer("t-1", holds: [policyHold, virusHold]), body: makeBody()).qid
            try await store.execute("CREATE TRIGGER fail_entry BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END")
            await #expect(throws: QuarantineStoreError(.storage, "")) { try await store.release(qid, from: ["Policy"], by: "alice") }
            await #expect(throws: QuarantineStoreError(.storage, "")) { try await store.release(qid, from: nil, by: "alice") }
            await #expect(throws: QuarantineStoreError(.storage, "")) { try await store.release([qid], from: nil, by: "alice") }
            await #expect(throws: QuarantineStoreError(.storage, "")) { try await store.delete(qid, from: nil, by: "alice") }
            let message = try #require(try await store.message(qid))
            #expect(message.holds.allSatisfy { $0.state == .held && $0.actedBy == nil })
            #expect(message.hasBody)
            #expect(try await store.rowCount("releases") == 0)
            #expect(try await store.rowCount("audit_log") == 0)
        }
    }

    @Test("the action fails: no entry is written")
    func failingActionWritesNoEntry() async throws {
        try await withStore { store, _ in
            let qid = try await store.storeTransfer(makeTransfer("t-1", holds: [policyHold, virusHold]), body: makeBody()).qid
            try await store.execute("CREATE TRIGGER fail_action BEFORE UPDATE ON holds BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END")
            await #expect(throws: QuarantineStoreError(.storage, "")) { try await store.release(qid, from: nil, by: "alice") }
            await #expect(throws: QuarantineStoreError(.storage, "")) { try await store.release([qid], from: nil, by: "alice") }
            await #expect(throws: QuarantineStoreError(.storage, "")) { try await store.delete(qid, from: ["Virus"], by: "alice") }
            #expect(try await store.rowCount("audit_log") == 0)
            #expect(try await store.message(qid)?.heldIn == ["Policy", "Virus"])
        }
    }

    // MARK: Append-only

    @Test("the triggers refuse to change, delete or insert out of order through SQL")
    func triggersKeepTheTableAppendOnly() async throws {
        try await withStore { store, _ in
            try await addEntries(store, count: 3)
            for (sql, message) in [
                ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", "an entry cannot be changed"),
                ("DELETE FROM audit_log WHERE seq = 3", "an entry cannot be deleted"),
                ("INSERT INTO audit_log (seq, at, actor, action, outcome, prev_hash, hash) VALUES (9, 'x', 'm', 'login', 'ok', 'x', 'x')",
                 "a new entry must follow the latest one"),
                ("INSERT INTO audit_log (seq, at, actor, action, outcome, prev_hash, hash) VALUES (4, 'x', 'm', 'login', 'ok', 'x', 'x')",
                 "a new entry must follow the latest one"),
            ] {
                await #expect(performing: { try await store.execute(sql) }, throws: { error in
                    "\(error)".contains("the audit log is append-only: \(message)")
                })
            }
            #expect(try await store.verifyAudit().verifiedEntries == 3)
        }
    }

    // MARK: Verification

    @Test("a chain of 500 entries verifies and names its latest hash")
    func longChainVerifies() async throws {
        try await withStore(QuarantineStoreOptions(fsync: false)) { store, _ in
            try await addEntries(store, count: 495)
            let qid = try await store.storeTransfer(makeTransfer("t-1", holds: [policyHold, virusHold]), body: makeBody()).qid
            _ = try await store.release(qid, from: ["Virus"], by: "alice")
            try await store.delete(qid, from: ["Policy"], by: "bob")
            await #expect(throws: QuarantineStoreError(.deleted, "")) { try await store.release(qid, from: nil, by: "carol") }
            _ = try await store.release([qid], from: nil, by: "dave")
            try await store.recordAudit(.login, target: AuditTarget(), by: AuditActor(name: "eve"), outcome: .ok)
            let result = try await store.verifyAudit()
            #expect(result.isIntact, "\(result.summary)")
            #expect(result.verifiedEntries == 500)
            let last = try #require(try await store.auditEntries(last: 1).first)
            #expect(result.latest == AuditAnchor(sequence: 500, hash: last.hash))
            #expect(result.summary.contains("audit log intact: 500 entries (1-500)"), "\(result.summary)")
            #expect(result.summary.contains("latest entry 500 hash \(last.hash)"), "\(result.summary)")
            #expect(try await store.verifyAudit(anchor: AuditAnchor(sequence: 200, hash: try await hash(store, 200))).isIntact)
        }
    }

    @Test("an empty log verifies")
    func emptyLogVerifies() async throws {
        try await withStore { store, _ in
            let result = try await store.verifyAudit()
            #expect(result.isIntact && result.verifiedEntries == 0 && result.latest == nil)
            #expect(result.summary == "audit log intact: no entries yet")
        }
    }

    @Test("an entry edited with raw SQL (trigger dropped first) is found by its sequence number",
          arguments: ["actor = 'mallory'", "outcome = 'refused', reason = 'wrong password'", "at = '2026-01-01T00:00:00.000Z'",
                      "quarantines = '[\"Policy\"]'", "role = 'admin'", "detail = detail || ' '"])
    func editedEntryIsFound(_ change: String) async throws {
        try await withStore { store, _ in
            try await addEntries(store, count: 12)
            try await store.execute("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET \(change) WHERE seq = 7")
            let result = try await store.verifyAudit()
            let problem = try #require(result.problem)
            #expect(problem.sequence == 7)
            guard case .hashMismatch(let stored, let computed) = problem.kind else { Issue.record("\(problem)"); return }
            #expect(stored == (try await hash(store, 7)) && computed != stored)
            #expect(result.verifiedEntries == 6 && result.latest == nil)
            #expect(result.summary.hasPrefix("audit log BROKEN at entry 7: entry 7 was changed after it was written"), "\(result.summary)")
            #expect(result.summary.contains("entries 1-6 verify"))
        }
    }

    @Test("a deleted entry is a gap; so is a deleted first entry")
    func deletedEntryIsAGap() async throws {
        try await withStore { store, _ in
            try await addEntries(store, count: 12)
            try await store.execute("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq IN (5, 6)")
            let problem = try #require(try await store.verifyAudit().problem)
            #expect(problem == AuditProblem(sequence: 5, kind: .sequenceGap(found: 7)))
            #expect(problem.description == "entry 5 is missing: the entry after 4 is 7 (2 entries deleted)")
            try await store.execute("DELETE FROM audit_log WHERE seq = 1")
            #expect(try await store.verifyAudit().problem == AuditProblem(sequence: 1, kind: .sequenceGap(found: 2)))
        }
    }

    @Test("an edited entry whose hash is recomputed breaks the next entry's link")
    func rehashedEntryBreaksTheNextLink() async throws {
        try await withStore { store, _ in
            try await addEntries(store, count: 12)
            let original = try await hash(store, 7)
            try await store.rewrite(from: 7, through: 7) { $0.actor = "mallory" }
            let problem = try #require(try await store.verifyAudit().problem)
            #expect(problem.sequence == 8)
            #expect(problem.kind == .previousHashMismatch(expected: try await hash(store, 7), found: original))
            #expect(problem.description.contains("entry 7 was replaced and re-hashed"), "\(problem)")
        }
    }

    @Test("a rewritten tail or a cut end passes the chain alone; a recorded anchor catches both")
    func onlyAnAnchorCatchesARewrittenTail() async throws {
        try await withStore { store, _ in
            try await addEntries(store, count: 12)
            let anchor = try #require(try await store.verifyAudit().latest)
            #expect(anchor.sequence == 12)

            // Every entry from 7 on edited and re-hashed, links included: consistent again.
            try await store.rewrite(from: 7, through: 12) { $0.actor = "mallory" }
            #expect(try await store.verifyAudit().isIntact)
            let rewritten = try await store.verifyAudit(anchor: anchor)
            #expect(rewritten.problem == AuditProblem(sequence: 12, kind: .anchorMismatch(found: try await hash(store, 12))))
            #expect(try await store.verifyAudit(anchor: AuditAnchor(sequence: 6, hash: try await hash(store, 6))).isIntact)

            // The last entries removed: the chain is still whole.
            try await store.execute("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq > 9")
            #expect(try await store.verifyAudit().isIntact)
            let cut = try await store.verifyAudit(anchor: anchor)
            #expect(cut.problem == AuditProblem(sequence: 12, kind: .anchorMissing(lastSequence: 9)))
            #expect(cut.summary.contains("entries were removed from the end"), "\(cut.summary)")
        }
    }

    @Test("anchors parse from SEQ:HASH")
    func anchorText() {
        let hash = String(repeating: "ab", count: 32)
        #expect(AuditAnchor("12:\(hash)") == AuditAnchor(sequence: 12, hash: hash))
        #expect(AuditAnchor("12:\(hash.uppercased())") == AuditAnchor(sequence: 12, hash: hash))
        #expect(AuditAnchor("12:\(hash)")?.description == "12:\(hash)")
        for bad in ["", "12", "0:\(hash)", "x:\(hash)", "12:abc", "12:\(hash):1", "12:" + String(repeating: "g", count: 64)] {
            #expect(AuditAnchor(bad) == nil, "\(bad)")
        }
    }

    // MARK: The documented serialization

    @Test("the canonical serialization and hash are the documented ones (computed independently)")
    func canonicalSerialization() {
        let record = AuditRecord(seq: 1, at: "2026-09-21T14:13:20.123Z", actor: "cli:root", role: nil, action: "release",
                                 qid: "QK7XW2M4PA3RT5BNE", quarantines: #"["Policy","Virus"]"#, selection: nil, outcome: "ok",
                                 reason: nil, detail: "still held in \"Outbreak\"\nline two: é", prevHash: AuditChain.genesisHash)
        #expect(String(decoding: record.canonical, as: UTF8.self) == """
            lazaret-audit-v1
            seq:1:1
            at:24:2026-09-21T14:13:20.123Z
            actor:8:cli:root
            role:-
            action:7:release
            qid:17:QK7XW2M4PA3RT5BNE
            quarantines:18:["Policy","Virus"]
            selection:-
            outcome:2:ok
            reason:-
            detail:37:still held in "Outbreak"
            line two: é
            prev_hash:64:\(AuditChain.genesisHash)

            """)
        // Python: hashlib.sha256(<the bytes above>).hexdigest()
        #expect(record.hash == "1e1f8efa74e19aaa11532fcc585b4620e4fc4becaf5fba0c132979f64c95165f")
        var empty = record
        empty.role = ""
        #expect(empty.hash != record.hash, "NULL and empty text must hash differently")
    }

    @Test("times are UTC to the millisecond and read back exactly")
    func timeText() {
        let date = Date(timeIntervalSince1970: 1_790_000_000.123)
        #expect(AuditChain.timeText(date) == "2026-09-21T14:13:20.123Z")
        #expect(AuditChain.date("2026-09-21T14:13:20.123Z") == date)
        #expect(AuditChain.timeText(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        for bad in ["2026-09-21T14:13:20Z", "2026-09-21 14:13:20.123Z", "2026-09-21T14:13:2x.123Z"] {
            #expect(AuditChain.date(bad) == nil, "\(bad)")
        }
    }
}

// MARK: Helpers

/// `count` entries: logins by alternating users, some refused, some with details.
private func addEntries(_ store: QuarantineStore, count: Int) async throws {
    for index in 1...count {
        try await store.recordAudit(.login, target: AuditTarget(), by: AuditActor(name: "user\(index % 3)", role: index % 2 == 0 ? "admin" : nil),
                                    outcome: index % 5 == 0 ? .refused(reason: "wrong password") : .ok, detail: "attempt \(index)")
    }
}

/// The stored hash of entry `sequence`.
private func hash(_ store: QuarantineStore, _ sequence: Int64) async throws -> String {
    try await store.database.read { db in
        try #require(try String.fetchOne(db, sql: "SELECT hash FROM audit_log WHERE seq = ?", arguments: [sequence]))
    }
}

extension QuarantineStore {
    /// Raw SQL on the writer, as another tool with write access to the file would run it.
    func execute(_ sql: String) async throws {
        try await database.write { db in try db.execute(sql: sql) }
    }

    /// What an attacker who knows the format does: changes entries `first...last` and
    /// recomputes their hashes and the links between them (triggers dropped first).
    func rewrite(from first: Int64, through last: Int64, _ change: @escaping @Sendable (inout AuditRecord) -> Void) async throws {
        try await database.write { db in
            try db.execute(sql: "DROP TRIGGER IF EXISTS audit_log_no_update")
            var previous = try String.fetchOne(db, sql: "SELECT hash FROM audit_log WHERE seq = ?", arguments: [first - 1])
                ?? AuditChain.genesisHash
            for row in try Row.fetchAll(db, sql: "SELECT \(AuditLog.columns) FROM audit_log WHERE seq BETWEEN ? AND ? ORDER BY seq",
                                        arguments: [first, last]) {
                guard case .success(var record) = AuditLog.record(row) else { throw QuarantineStoreError(.storage, "malformed") }
                change(&record)
                record.prevHash = previous
                previous = record.hash
                try db.execute(sql: """
                    UPDATE audit_log SET at = ?, actor = ?, role = ?, action = ?, qid = ?, quarantines = ?, selection = ?,
                        outcome = ?, reason = ?, detail = ?, prev_hash = ?, hash = ? WHERE seq = ?
                    """, arguments: [record.at, record.actor, record.role, record.action, record.qid, record.quarantines,
                                     record.selection, record.outcome, record.reason, record.detail, record.prevHash, previous,
                                     record.seq])
            }
        }
    }
}
