import Foundation
import GRDB

// The audit log: every action, by whom, when, on what, with the outcome, in the table
// `audit_log` (AuditSchema.swift), each entry chained to the one before by a SHA-256 hash
// (AuditChain.swift). Store actions (release, delete) append their entry in their own
// transaction; refusals and actions that are not store writes use `recordAudit`.

extension QuarantineStore {
    /// Appends an entry for an action that is not a store write (a download, a login, a
    /// copy sent...) or that the caller refused before reaching the store (no permission).
    /// Release and delete record their entries themselves, in the transaction that acts.
    ///
    /// - Throws: `.invalidArgument` for an empty or malformed actor name, `.storage`.
    @discardableResult
    public func recordAudit(_ action: AuditAction, target: AuditTarget, by actor: AuditActor, outcome: AuditOutcome,
                            detail: String? = nil) async throws -> AuditEntry {
        if let problem = TransferValidation.problem(actor.name, allowEmpty: false) {
            throw QuarantineStoreError(.invalidArgument, "the audit actor name \(problem): name who acted")
        }
        let now = options.now()
        return try await write("recording \(action) in the audit log") { db in
            try AuditLog.append(db, at: now, actor: actor, action: action, target: target, outcome: outcome, detail: detail)
        }
    }

    /// The last `limit` entries (1...`QuarantineStoreOptions.maxListLimit`), oldest first.
    ///
    /// - Throws: `.invalidArgument` for a bad limit; `.storage` when an entry is malformed
    ///   (edited with another tool: `verifyAudit` says which).
    public func auditEntries(last limit: Int = 50) async throws -> [AuditEntry] {
        guard (1...QuarantineStoreOptions.maxListLimit).contains(limit) else {
            throw QuarantineStoreError(.invalidArgument, "audit list limit \(limit) is not 1-\(QuarantineStoreOptions.maxListLimit)")
        }
        return try await read("reading the audit log") { db in
            try Row.fetchAll(db, sql: "SELECT \(AuditLog.columns) FROM audit_log ORDER BY seq DESC LIMIT ?", arguments: [limit])
                .reversed()
                .map { row in
                    let record: AuditRecord
                    switch AuditLog.record(row) {
                    case .success(let value): record = value
                    case .failure(let problem):
                        throw QuarantineStoreError(.storage, "the audit log is damaged (\(problem)): run lazaret manager audit verify")
                    }
                    return try AuditLog.entry(record, hash: AuditLog.storedHash(row))
                }
        }
    }

    /// Walks the whole audit chain in one snapshot: every entry's sequence number follows the
    /// one before, its `prev_hash` is the hash of the entry before (64 zeros for entry 1),
    /// and its columns hash to its `hash`. Stops at the first entry that does not hold.
    /// With `anchor` (an entry's seq and hash recorded earlier), also checks that this entry
    /// is still there with that hash.
    ///
    /// Never throws for a broken chain (that is the result); throws `.storage` when the
    /// database cannot be read.
    public func verifyAudit(anchor: AuditAnchor? = nil) async throws -> AuditVerification {
        try await read("verifying the audit log") { db in
            try AuditLog.verify(db, anchor: anchor)
        }
    }

    /// One write transaction (like `write`) that acts on the message `qid` and appends the
    /// action's audit entry in the same transaction: the action is never committed without
    /// its entry, nor the entry without the action. When the store refuses the action (any
    /// `QuarantineStoreError` but `.storage`; the transaction rolled back, nothing was done),
    /// the refusal is recorded with a write of its own and the refusal is thrown.
    func auditedWrite<T: Sendable>(_ doing: String, _ action: AuditAction, _ qid: QID, from quarantines: Set<String>?,
                                   by user: String, _ audit: AuditContext, at now: Double,
                                   describe: @escaping @Sendable (T) -> String? = { _ in nil },
                                   _ updates: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await write(doing) { db in
                try AuditLog.recordAction(db, action, qid, from: quarantines, by: user, audit, at: now, describe: describe) {
                    try updates(db)
                }
            }
        } catch let error as QuarantineStoreError where error.code != .storage {
            do {
                try await write("recording a refused \(action) of \(qid)") { db in
                    try AuditLog.recordRefusal(db, action, qid, from: quarantines, by: user, audit, at: now, error)
                }
            } catch {
                options.logger.error("quarantine store: the refused \(action) of \(qid) by \(user) could not be recorded in the audit log: \(error)")
            }
            throw error
        }
    }
}

/// The audit log's statements, run inside the caller's transaction.
enum AuditLog {
    static let columns = "seq, at, actor, role, action, qid, quarantines, selection, outcome, reason, detail, prev_hash, hash"

    /// Appends one entry after the latest (the writer is serialised, so nothing comes between).
    static func append(_ db: Database, at now: Date, actor: AuditActor, action: AuditAction, target: AuditTarget,
                       outcome: AuditOutcome, detail: String?) throws -> AuditEntry {
        let last = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        let reason: String?
        switch outcome {
        case .ok: reason = nil
        case .refused(let why): reason = why
        }
        let record = AuditRecord(
            seq: (last?["seq"] as Int64? ?? 0) + 1, at: AuditChain.timeText(now), actor: actor.name, role: actor.role,
            action: action.rawValue, qid: target.qid?.rawValue,
            quarantines: try target.quarantines.map { try TransferValidation.jsonArray($0) }, selection: target.selection,
            outcome: reason == nil ? "ok" : "refused", reason: reason, detail: detail,
            prevHash: last?["hash"] as String? ?? AuditChain.genesisHash)
        let hash = record.hash
        try db.execute(sql: "INSERT INTO audit_log (\(columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", arguments: [
            record.seq, record.at, record.actor, record.role, record.action, record.qid, record.quarantines,
            record.selection, record.outcome, record.reason, record.detail, record.prevHash, hash])
        return try entry(record, hash: hash)
    }

    /// Runs `body` (an action on the message `qid`) and appends its entry, both in the
    /// caller's transaction: the entry names the quarantines whose hold changed and says
    /// where the message is still held. If `body` throws, nothing is appended (the caller
    /// records a refusal after the rollback).
    static func recordAction<T>(_ db: Database, _ action: AuditAction, _ qid: QID, from asked: Set<String>?, by user: String,
                                _ context: AuditContext, at now: Double, describe: (T) -> String? = { _ in nil },
                                _ body: () throws -> T) throws -> T {
        let before = try holdStates(db, qid)
        let result = try body()
        let after = try holdStates(db, qid)
        let changed = after.keys.filter { before[$0] != after[$0] }.sorted()
        let stillHeld = after.filter { $0.value == QuarantineHold.State.held.rawValue }.keys.sorted()
        var details: [String] = []
        if changed.isEmpty { details.append("no change") }
        if !stillHeld.isEmpty { details.append("still held in " + stillHeld.map { "\"\($0)\"" }.joined(separator: ", ")) }
        if let more = describe(result) { details.append(more) }
        _ = try append(db, at: Date(timeIntervalSince1970: now), actor: AuditActor(name: user, role: context.role), action: action,
                       target: AuditTarget(qid: qid, quarantines: changed.isEmpty ? asked.map(Array.init) : changed,
                                           selection: context.selection),
                       outcome: .ok, detail: details.isEmpty ? nil : details.joined(separator: "; "))
        return result
    }

    /// Appends the entry of an action the store refused, inside the caller's transaction
    /// (a bulk action goes on with the other messages). Not recorded when the actor name is
    /// itself invalid (the refusal says so; there is no one to name).
    static func recordRefusal(_ db: Database, _ action: AuditAction, _ qid: QID, from asked: Set<String>?, by user: String,
                              _ context: AuditContext, at now: Double, _ error: QuarantineStoreError) throws {
        guard TransferValidation.problem(user, allowEmpty: false) == nil else { return }
        _ = try append(db, at: Date(timeIntervalSince1970: now), actor: AuditActor(name: user, role: context.role), action: action,
                       target: AuditTarget(qid: qid, quarantines: asked.map(Array.init), selection: context.selection),
                       outcome: .refused(reason: error.message), detail: nil)
    }

    /// The detail of a release entry: the release made (or found) once no hold is left.
    @Sendable static func describeRelease(_ request: ReleaseRequest?) -> String? {
        request.map { "release \($0.releaseID) \($0.state.rawValue) for gateway \($0.gateway)" }
    }

    /// Quarantine → hold state (`held` / `released` / `deleted`) of the message.
    private static func holdStates(_ db: Database, _ qid: QID) throws -> [String: String] {
        var states: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT h.quarantine, h.state FROM holds h JOIN messages m ON m.id = h.message WHERE m.qid = ?
            """, arguments: [qid.rawValue]) {
            states[row["quarantine"]] = row["state"]
        }
        return states
    }

    // MARK: Reading and verifying

    static func verify(_ db: Database, anchor: AuditAnchor?) throws -> AuditVerification {
        var result = AuditVerification(verifiedEntries: 0, latest: nil, anchor: anchor, problem: nil)
        var expected: Int64 = 1
        var previousHash = AuditChain.genesisHash
        var anchorSeen = false
        let rows = try Row.fetchCursor(db, sql: "SELECT \(columns) FROM audit_log ORDER BY seq")
        while let row = try rows.next() {
            let problem: AuditProblem.Kind?
            var sequence = expected
            switch record(row) {
            case .failure(let malformed):
                problem = .malformed(malformed.what)
                sequence = malformed.sequence ?? expected
            case .success(let record):
                let stored = storedHash(row) ?? ""
                if record.seq != expected {
                    problem = .sequenceGap(found: record.seq)
                } else if record.prevHash != previousHash {
                    problem = .previousHashMismatch(expected: previousHash, found: record.prevHash)
                } else if !AuditChain.isHash(stored) {
                    problem = .malformed("its hash \"\(stored)\" is not 64 lower-case hex digits")
                } else if record.hash != stored {
                    problem = .hashMismatch(stored: stored, computed: record.hash)
                } else if let anchor, anchor.sequence == record.seq, anchor.hash != stored {
                    problem = .anchorMismatch(found: stored)
                } else {
                    problem = nil
                    anchorSeen = anchorSeen || anchor?.sequence == record.seq
                    previousHash = stored
                }
            }
            if let problem {
                result.problem = AuditProblem(sequence: sequence, kind: problem)
                return result
            }
            result.verifiedEntries += 1
            expected += 1
        }
        if let anchor, !anchorSeen {
            result.problem = AuditProblem(sequence: anchor.sequence, kind: .anchorMissing(lastSequence: expected - 1))
            return result
        }
        if expected > 1 { result.latest = AuditAnchor(sequence: expected - 1, hash: previousHash) }
        return result
    }

    struct Malformed: Error {
        var sequence: Int64?
        var what: String
    }

    /// The row's columns, checked to be of the types the store writes. GRDB's typed
    /// subscripts stop the process on a NULL or a number where text belongs, which an
    /// edit with another tool can leave: every value is read as a `DatabaseValue` here.
    static func record(_ row: Row) -> Result<AuditRecord, Malformed> {
        guard case .int64(let seq) = (row[0] as DatabaseValue).storage else {
            return .failure(Malformed(sequence: nil, what: "its seq is not an integer"))
        }
        let names = ["seq", "at", "actor", "role", "action", "qid", "quarantines", "selection", "outcome", "reason", "detail", "prev_hash"]
        var values: [String?] = [nil]
        for index in 1..<names.count {
            let value = row[index] as DatabaseValue
            switch value.storage {
            case .string(let string): values.append(string)
            case .null: values.append(nil)
            default: return .failure(Malformed(sequence: seq, what: "its \(names[index]) holds \(value), not text"))
            }
        }
        for required in [1, 2, 4, 8, 11] where values[required] == nil {
            return .failure(Malformed(sequence: seq, what: "its \(names[required]) is NULL"))
        }
        return .success(AuditRecord(seq: seq, at: values[1]!, actor: values[2]!, role: values[3], action: values[4]!,
                                    qid: values[5], quarantines: values[6], selection: values[7], outcome: values[8]!,
                                    reason: values[9], detail: values[10], prevHash: values[11]!))
    }

    /// The `hash` column of a row selected with `columns`, if it is text.
    static func storedHash(_ row: Row) -> String? {
        if case .string(let value) = (row[12] as DatabaseValue).storage { return value }
        return nil
    }

    static func entry(_ record: AuditRecord, hash: String? = nil) throws -> AuditEntry {
        func malformed(_ what: String) -> QuarantineStoreError {
            QuarantineStoreError(.storage, "audit entry \(record.seq) is malformed (\(what)): run lazaret manager audit verify")
        }
        guard let time = AuditChain.date(record.at) else { throw malformed("time \"\(record.at)\"") }
        let outcome: AuditOutcome
        switch record.outcome {
        case "ok": outcome = .ok
        case "refused": outcome = .refused(reason: record.reason ?? "")
        default: throw malformed("outcome \"\(record.outcome)\"")
        }
        let quarantines = try record.quarantines.map { text -> [String] in
            do { return try TransferValidation.decodeJSONArray(text) } catch { throw malformed("quarantines \(text)") }
        }
        return AuditEntry(sequence: record.seq, time: time, actor: AuditActor(name: record.actor, role: record.role),
                          action: AuditAction(rawValue: record.action),
                          target: AuditTarget(qid: record.qid.flatMap(QID.init), quarantines: quarantines, selection: record.selection),
                          outcome: outcome, detail: record.detail, previousHash: record.prevHash, hash: hash ?? record.hash)
    }
}
