import Foundation
import GRDB

/// Group commit for `storeTransfer`: concurrent transfers share one write transaction,
/// hence one WAL sync. The first caller to arrive while no commit runs leads: it commits
/// its own transfer together with every transfer queued so far (up to the batch limits),
/// completes their callers, then hands the lead to the next waiting caller. No task of
/// its own; nobody is answered before the commit that holds their transfer has synced.
actor TransferIngest {
    private enum Turn: Sendable {
        case done(Result<StoreResult, QuarantineStoreError>)
        case lead
    }

    private struct Waiter {
        var transfer: PreparedTransfer
        var continuation: CheckedContinuation<Turn, Never>
    }

    private let database: DatabasePool
    private let options: QuarantineStoreOptions
    private var waiting: [Waiter] = []
    private var leading = false
    /// Write transactions committed (or attempted) for transfers.
    private(set) var commits = 0
    /// Transfers handed to those transactions.
    private(set) var committedTransfers = 0

    init(database: DatabasePool, options: QuarantineStoreOptions) {
        self.database = database
        self.options = options
    }

    func store(_ transfer: PreparedTransfer) async throws -> StoreResult {
        if leading {
            let turn = await withCheckedContinuation { continuation in
                waiting.append(Waiter(transfer: transfer, continuation: continuation))
            }
            if case .done(let result) = turn { return try result.get() }
            // `.lead`: the previous leader handed over; this transfer is not committed yet.
        } else {
            leading = true
        }

        var batch: [Waiter] = []
        var bytes = transfer.body.count
        while batch.count + 1 < options.maxBatchMessages, let next = waiting.first,
              bytes + next.transfer.body.count <= options.maxBatchBytes {
            batch.append(waiting.removeFirst())
            bytes += next.transfer.body.count
        }
        let results = await commit([transfer] + batch.map(\.transfer))
        for (waiter, result) in zip(batch, results.dropFirst()) {
            waiter.continuation.resume(returning: .done(result))
        }
        if waiting.isEmpty {
            leading = false
        } else {
            waiting.removeFirst().continuation.resume(returning: .lead)
        }
        return try results[0].get()
    }

    /// One write transaction for `transfers`: each in its own savepoint, so a transfer
    /// that fails (a constraint, say) fails alone; a failed commit fails them all.
    private func commit(_ transfers: [PreparedTransfer]) async -> [Result<StoreResult, QuarantineStoreError>] {
        commits += 1
        committedTransfers += transfers.count
        let options = options
        let outcome: Result<[Result<StoreResult, QuarantineStoreError>], any Error> = await withCheckedContinuation { continuation in
            // `asyncWrite`, not `write`: once started, a commit is not interrupted because
            // the leading caller's task was cancelled; the others' transfers ride on it.
            database.asyncWrite({ db in
                let now = options.now()
                var results: [Result<StoreResult, QuarantineStoreError>] = []
                results.reserveCapacity(transfers.count)
                for transfer in transfers {
                    do {
                        var stored: StoreResult?
                        try db.inSavepoint {
                            stored = try Self.insert(transfer, storedAt: now, db: db, options: options)
                            return .commit
                        }
                        results.append(.success(stored!))
                    } catch {
                        results.append(.failure(.wrap(error, "storing transfer \(quoted(transfer.transfer.transferID))")))
                    }
                }
                try options.beforeTransferCommit?()
                return results
            }, completion: { _, result in
                continuation.resume(returning: result)
            })
        }
        switch outcome {
        case .success(let results):
            return results
        case .failure(let error):
            let failure = QuarantineStoreError.wrap(error, "committing \(transfers.count) transfer(s)")
            options.logger.error("quarantine store: \(failure.message)")
            return Array(repeating: .failure(failure), count: transfers.count)
        }
    }

    /// Inserts one transfer, or finds the message an earlier copy of it stored.
    private static func insert(_ prepared: PreparedTransfer, storedAt: Date, db: Database,
                               options: QuarantineStoreOptions) throws -> StoreResult {
        let transfer = prepared.transfer
        // Cached statements: the writer is the bottleneck under load, and preparing five
        // statements per transfer was a good part of its time.
        let duplicate = try db.cachedStatement(sql: "SELECT qid, size FROM messages WHERE gateway = ? AND transfer_id = ?")
        if let row = try Row.fetchOne(duplicate, arguments: [transfer.gateway, transfer.transferID]) {
            let qid: String = row["qid"]
            let size: Int = row["size"]
            if size != prepared.body.count {
                options.logger.warning("quarantine store: transfer \(quoted(transfer.transferID)) from \(transfer.gateway) came again with \(prepared.body.count) bytes, the stored copy \(qid) has \(size); keeping the stored copy")
            }
            return StoreResult(qid: QID(qid)!, isDuplicate: true)
        }
        let qidTaken = try db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM messages WHERE qid = ?)")
        var qid = QID.random()
        while try Bool.fetchOne(qidTaken, arguments: [qid.rawValue]) == true {
            qid = QID.random()
        }
        try db.cachedStatement(sql: """
            INSERT INTO messages (qid, gateway, transfer_id, gateway_mid, gateway_icid, mail_from, recipients, smtputf8,
                                  received_at, stored_at, size, subject, message_id, resume_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [qid.rawValue, transfer.gateway, transfer.transferID, Int64(transfer.gatewayMID),
                                     transfer.gatewayICID.map { Int64($0) }, transfer.mailFrom, prepared.recipientsJSON,
                                     transfer.smtpUTF8, transfer.receivedAt.timeIntervalSince1970,
                                     storedAt.timeIntervalSince1970, prepared.body.count, prepared.headers.subject,
                                     prepared.headers.messageID, transfer.resumeAt.rawValue])
        let message = db.lastInsertedRowID
        if let quota = options.quotaBytes {
            let used = try Int64.fetchOne(db.cachedStatement(sql: "SELECT body_bytes FROM store_usage WHERE id = 1")) ?? 0
            if used + Int64(prepared.body.count) > quota {
                throw QuarantineStoreError(.full, "the quarantine store is full: \(used) of \(quota) bytes used, this message needs \(prepared.body.count) more; free space (retention, delete) or raise the quota")
            }
        }
        try SearchIndex.add(db, message: message, prepared)
        try db.cachedStatement(sql: "INSERT INTO bodies (message, data) VALUES (?, ?)")
            .execute(arguments: [message, prepared.body])
        let insertHold = try db.cachedStatement(sql: """
            INSERT INTO holds (message, position, quarantine, reason_kind, reason_detail, threat_level, stage,
                               resume_at, retention_seconds, expires_at, is_copy, state, asked_quarantine)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'held', ?)
            """)
        // Each hold goes to the quarantine of that name (as the manager spells it), or to
        // Unclassified when none is defined (never was, or was removed); the asked name is kept.
        var defined: [String: (name: String, retention: Int)] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT name, retention_seconds FROM quarantines")) {
            let name: String = row["name"]
            defined[name.lowercased()] = (name, row["retention_seconds"])
        }
        var used: Set<String> = []
        for (position, hold) in transfer.holds.enumerated() {
            let target = defined[hold.quarantine.lowercased()] ?? defined[QuarantineDefinition.unclassified.lowercased()]
                ?? (QuarantineDefinition.unclassified, 30 * 86_400)
            let asked = target.name.lowercased() == hold.quarantine.lowercased() ? nil : hold.quarantine
            // Two undefined quarantines of one message: one Unclassified hold (the first reason).
            guard used.insert(target.name).inserted else { continue }
            let retention = hold.retentionSeconds ?? target.retention
            let expiresAt = storedAt.timeIntervalSince1970 + Double(retention)
            try insertHold.execute(arguments: [message, position, target.name, hold.reason.kind.rawValue,
                                               hold.reason.detail, hold.reason.threatLevel, hold.stage.rawValue,
                                               hold.resumeAt.rawValue, hold.retentionSeconds, expiresAt, hold.isCopy, asked])
        }
        return StoreResult(qid: qid, isDuplicate: false)
    }
}
