import Foundation
import MailMessage
import GRDB
import Logging
import Scanning

/// The manager's durable store of quarantined mail: one SQLite database in WAL mode
/// (`quarantine.sqlite` in the store directory) behind one GRDB `DatabasePool` for the
/// life of the process. Message bodies are BLOBs in the same database, written in the same
/// transaction as their metadata, so a message row never exists without its body and a
/// body never outlives a failed transaction.
///
/// Every call is `async` and never blocks a Swift concurrency thread: writes run on GRDB's
/// writer queue, one at a time; reads run on a pool of readers, each on a consistent
/// snapshot. Every write is synced to disk (`synchronous = FULL`) before the call returns:
/// when `storeTransfer` returns, the CPQ listener may answer 250.
///
/// Release rules: a message held in several quarantines is released for delivery only once
/// released from all of them; deleted from any, it is never delivered. Each release has a
/// unique, stable id (a UUID) so the gateway recognises a retried delivery of it.
public final class QuarantineStore: Sendable {
    /// The store directory (holds `quarantine.sqlite`, its `-wal` and `-shm` files, and `lock`).
    public let directory: String
    /// The database file.
    public var databasePath: String { directory + "/quarantine.sqlite" }

    let database: DatabasePool
    let ingest: TransferIngest
    let options: QuarantineStoreOptions
    private let lock: DirectoryLock
    /// `purgeBodies` has looked at every hold that expired before this (seconds since 1970).
    let purgeWatermark = LockedValue<Double>(0)

    // MARK: Opening

    /// Opens the store in `directory` (created if needed, mode 0700), locks it, and brings
    /// the schema up to date.
    ///
    /// - Throws: `QuarantineStoreError` `.open` if the directory or database cannot be
    ///   created or migrated, `.locked` if another process or store holds the directory.
    public static func open(directory: String, options: QuarantineStoreOptions = .init()) throws -> QuarantineStore {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw QuarantineStoreError(.open, "cannot create the quarantine store directory \(directory): \(error)")
        }
        let lock = try DirectoryLock(directory: directory)
        let path = directory + "/quarantine.sqlite"
        var configuration = Configuration()
        configuration.label = "lazaret.quarantine-store"
        let fsync = options.fsync
        configuration.prepareDatabase { db in
            guard !db.configuration.readonly else { return }
            // Free pages of removed bodies can be given back later (`PRAGMA incremental_vacuum`);
            // only takes effect when the database is created.
            try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
            // A large body grows the WAL; give the space back after each checkpoint.
            try db.execute(sql: "PRAGMA journal_size_limit = \(64 << 20)")
        }
        let database: DatabasePool
        do {
            database = try DatabasePool(path: path, configuration: configuration)
            // After the pool is open: GRDB's WAL setup sets `synchronous = NORMAL`, which syncs
            // only at checkpoints (a power loss could take back acknowledged transfers). FULL
            // syncs the WAL at every commit. One writer connection for the pool's life, so
            // this holds for every write. `fullfsync`: F_FULLFSYNC on Darwin, ignored elsewhere.
            try database.writeWithoutTransaction { db in
                try db.execute(sql: fsync
                    ? "PRAGMA synchronous = FULL; PRAGMA fullfsync = ON; PRAGMA checkpoint_fullfsync = ON"
                    : "PRAGMA synchronous = OFF")
            }
            try QuarantineSchema.migrator.migrate(database)
        } catch {
            throw QuarantineStoreError(.open, "cannot open the quarantine database \(path): \(error)")
        }
        // The database and WAL files were possibly just created: make their names durable.
        if fsync { try DirectoryLock.syncDirectory(directory) }
        let store = QuarantineStore(directory: directory, database: database, options: options, lock: lock)
        options.logger.info("quarantine store opened", metadata: ["directory": "\(directory)"])
        return store
    }

    private init(directory: String, database: DatabasePool, options: QuarantineStoreOptions, lock: DirectoryLock) {
        self.directory = directory
        self.database = database
        self.options = options
        self.lock = lock
        self.ingest = TransferIngest(database: database, options: options)
    }

    /// Closes the database and releases the directory lock. Later calls fail with `.storage`.
    public func close() throws {
        do {
            try database.close()
        } catch {
            throw QuarantineStoreError.wrap(error, "closing the quarantine database")
        }
        lock.unlock()
    }

    // MARK: Transfers from gateways

    /// Stores a message a gateway transferred for quarantine, durably: when this returns,
    /// the envelope, holds and body are synced to disk and the CPQ listener may answer 250.
    ///
    /// Idempotent on `(transfer.gateway, transfer.transferID)`: a retry returns the first
    /// QID with `isDuplicate` set and stores nothing new. Concurrent calls share one commit
    /// (group commit) and are safe from any number of tasks.
    ///
    /// - Throws: `.invalidTransfer` (nothing stored; the message says which field and limit),
    ///   `.storage` when SQLite fails (nothing acknowledged; the gateway retries).
    public func storeTransfer(_ transfer: IncomingTransfer, body: [UInt8]) async throws -> StoreResult {
        let prepared = try TransferValidation.prepare(transfer, body: body, options: options)
        return try await ingest.store(prepared)
    }

    /// Group-commit counters since open: how many transfers went into how many write
    /// transactions (each one WAL sync). For metrics and benchmarks.
    public func ingestStatistics() async -> IngestStatistics {
        IngestStatistics(transfers: await ingest.committedTransfers, commits: await ingest.commits)
    }

    // MARK: Reading

    /// The message with `qid`, with its envelope, holds and listing metadata; nil if unknown.
    public func message(_ qid: QID) async throws -> QuarantinedMessage? {
        try await read("reading message \(qid)") { db in
            guard let row = try StoredRows.messageRow(db, qid: qid) else { return nil }
            let id: Int64 = row["id"]
            return try StoredRows.message(row, holds: StoredRows.holds(db, messages: [id])[id] ?? [])
        }
    }

    /// The raw message (RFC 5322 bytes, as the gateway transferred it).
    ///
    /// - Throws: `.notFound` for an unknown QID, `.bodyRemoved` once the body was removed
    ///   (deleted with nothing left held, or accepted by the gateway after release).
    public func body(_ qid: QID) async throws -> [UInt8] {
        try await read("reading the body of \(qid)") { db in
            guard let row = try StoredRows.messageRow(db, qid: qid) else { throw Self.notFound(qid) }
            let id: Int64 = row["id"]
            if let data = try Data.fetchOne(db, sql: "SELECT data FROM bodies WHERE message = ?", arguments: [id]) {
                return [UInt8](data)
            }
            let deleted = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM holds WHERE message = ? AND state = 'deleted')",
                                            arguments: [id]) ?? false
            throw QuarantineStoreError(.bodyRemoved, "the body of message \(qid) is no longer stored: it was removed "
                + (deleted ? "when the message was deleted" : "at the end of its retention"))
        }
    }

    /// Messages still held (in `quarantine`, or in any quarantine when nil), newest first,
    /// `limit` at a time (1...`QuarantineStoreOptions.maxListLimit`). Pass the page's `next`
    /// as `after` for the following page: cursor paging, so a page never repeats or skips a
    /// message because others were stored or released in between (new messages appear only
    /// on a fresh first page).
    ///
    /// - Throws: `.invalidArgument` for a bad limit, quarantine name or cursor.
    public func list(quarantine: String? = nil, limit: Int = 50, after cursor: String? = nil) async throws
        -> QuarantineListPage
    {
        guard (1...QuarantineStoreOptions.maxListLimit).contains(limit) else {
            throw QuarantineStoreError(.invalidArgument, "list limit \(limit) is not 1-\(QuarantineStoreOptions.maxListLimit)")
        }
        if let quarantine, let problem = TransferValidation.problem(quarantine, allowEmpty: false) {
            throw QuarantineStoreError(.invalidArgument, "quarantine name \(problem)")
        }
        let before: Int64
        if let cursor {
            guard cursor.hasPrefix("m"), let id = Int64(cursor.dropFirst()), id > 0 else {
                throw QuarantineStoreError(.invalidArgument, "list cursor \(quoted(cursor)) is not one this store returned; start again without a cursor")
            }
            before = id
        } else {
            before = Int64.max
        }
        return try await read("listing quarantined messages") { db in
            let ids: [Int64]
            if let quarantine {
                ids = try Int64.fetchAll(db, sql: """
                    SELECT message FROM holds WHERE quarantine = ? AND state = 'held' AND message < ?
                    ORDER BY message DESC LIMIT ?
                    """, arguments: [quarantine, before, limit + 1])
            } else {
                ids = try Int64.fetchAll(db, sql: """
                    SELECT DISTINCT message FROM holds WHERE state = 'held' AND message < ?
                    ORDER BY message DESC LIMIT ?
                    """, arguments: [before, limit + 1])
            }
            let page = Array(ids.prefix(limit))
            guard !page.isEmpty else { return QuarantineListPage(items: [], next: nil) }
            let placeholders = page.map { _ in "?" }.joined(separator: ",")
            let rows = try Row.fetchAll(db, sql: "SELECT \(StoredRows.messageColumns) FROM messages WHERE id IN (\(placeholders))",
                                        arguments: StatementArguments(page))
            var byID: [Int64: Row] = [:]
            for row in rows { byID[row["id"]] = row }
            let holds = try StoredRows.holds(db, messages: page)
            let items = try page.compactMap { id in
                try byID[id].map { try StoredRows.message($0, holds: holds[id] ?? []) }
            }
            return QuarantineListPage(items: items, next: ids.count > limit ? "m\(page.last!)" : nil)
        }
    }

    /// The number of messages held in each quarantine (quarantines holding none are absent).
    public func counts() async throws -> [String: Int] {
        try await read("counting quarantined messages") { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT quarantine, COUNT(*) AS n FROM holds WHERE state = 'held' GROUP BY quarantine") {
                counts[row["quarantine"]] = row["n"]
            }
            return counts
        }
    }

    // MARK: Admin actions

    /// Releases the message from `quarantines` (nil: every quarantine it is held in).
    ///
    /// - Returns: the `ReleaseRequest` when no hold remains (the message is now to be
    ///   delivered; the release queue sends it), or nil while it is still held elsewhere.
    ///   Asked again once released from all, it returns the same request (same release id)
    ///   instead of a second one, unless that release failed: then a new one is made.
    /// - Throws: `.deleted` when the message was deleted from any quarantine (it is never
    ///   released), `.notHeld` when a named quarantine is not one of the message's,
    ///   `.notFound`, `.invalidArgument`.
    ///
    /// Audited (AuditLog.swift): the entry, with `user` and `audit`'s role and selection, is
    /// appended in the release's own transaction; a refusal is recorded with its own write.
    public func release(_ qid: QID, from quarantines: Set<String>?, by user: String,
                        audit: AuditContext = AuditContext()) async throws -> ReleaseRequest? {
        try TransferValidation.checkUser(user)
        try TransferValidation.checkQuarantines(quarantines)
        let now = options.now().timeIntervalSince1970
        let logger = options.logger
        return try await auditedWrite("releasing message \(qid)", .release, qid, from: quarantines, by: user, audit, at: now,
                                      describe: AuditLog.describeRelease) { db in
            try Self.releaseOne(db, qid, from: quarantines, by: user, at: now, logger: logger)
        }
    }

    /// What ``release(_:from:by:audit:)`` did for each message of a bulk release.
    public enum BulkReleaseResult: Sendable, Hashable {
        /// Released from its last quarantine: to be delivered.
        case released(ReleaseRequest)
        /// Released from the named quarantines, still held in another.
        case stillHeld
        /// Refused (deleted, not held there, not found); nothing changed for it.
        case refused(QuarantineStoreError)
    }

    /// Releases many messages with one commit (one disk sync) instead of one each: the
    /// same rules as ``release(_:from:by:audit:)`` per message, and a message the store refuses
    /// changes nothing and does not stop the others. Results are in the order of `qids`.
    /// Each message gets its own audit entry (refusals too) in the same commit.
    public func release(_ qids: [QID], from quarantines: Set<String>?, by user: String,
                        audit: AuditContext = AuditContext()) async throws -> [BulkReleaseResult] {
        try TransferValidation.checkUser(user)
        try TransferValidation.checkQuarantines(quarantines)
        let now = options.now().timeIntervalSince1970
        let logger = options.logger
        return try await write("releasing \(qids.count) messages") { db in
            var results: [BulkReleaseResult] = []
            results.reserveCapacity(qids.count)
            for qid in qids {
                do {
                    var request: ReleaseRequest?
                    try db.inSavepoint {
                        request = try AuditLog.recordAction(db, .release, qid, from: quarantines, by: user, audit, at: now,
                                                            describe: AuditLog.describeRelease) {
                            try Self.releaseOne(db, qid, from: quarantines, by: user, at: now, logger: logger)
                        }
                        return .commit
                    }
                    results.append(request.map(BulkReleaseResult.released) ?? .stillHeld)
                } catch let error as QuarantineStoreError where error.code != .storage {
                    try AuditLog.recordRefusal(db, .release, qid, from: quarantines, by: user, audit, at: now, error)
                    results.append(.refused(error))
                }
            }
            return results
        }
    }

    static func releaseOne(_ db: Database, _ qid: QID, from quarantines: Set<String>?, by user: String, at now: Double,
                                   logger: Logger) throws -> ReleaseRequest? {
        let newReleaseID = UUID().uuidString.lowercased()
        guard let row = try StoredRows.messageRow(db, qid: qid) else { throw Self.notFound(qid) }
        let id: Int64 = row["id"]
        let holds = try StoredRows.holds(db, messages: [id])[id] ?? []
        let deleted = holds.filter { $0.state == .deleted }
        if !deleted.isEmpty {
            let names = deleted.map { "\(quoted($0.quarantine)) by \($0.actedBy ?? "?")" }.joined(separator: ", ")
            throw QuarantineStoreError(.deleted, "message \(qid) was deleted from \(names); a message deleted from any quarantine is never released")
        }
        let targets = try Self.targets(of: quarantines, in: holds, qid: qid)
        for hold in targets where hold.state == .held {
            try db.execute(sql: "UPDATE holds SET state = 'released', acted_by = ?, acted_at = ? WHERE message = ? AND quarantine = ?",
                           arguments: [user, now, id, hold.quarantine])
        }
        let targetNames = Set(targets.map(\.quarantine))
        let stillHeld = holds.filter { $0.state == .held && !targetNames.contains($0.quarantine) }
        guard stillHeld.isEmpty else { return nil }

        if let latest = try Row.fetchOne(db, sql: StoredRows.requestSelect + " WHERE r.message = ? AND r.kind = 'release' ORDER BY r.id DESC LIMIT 1",
                                         arguments: [id]),
           try StoredRows.releaseState(latest) != .failed {
            return try StoredRows.request(latest)
        }
        let names = holds.map(\.quarantine).sorted()
        // Released before expiry: the quarantines' release options apply (tag, header, strip).
        var options = ReleaseModifications()
        if user != Retention.expiryActor {
            let definitions = try DefinitionRows.all(db)
            options = ReleaseModifications.merged(holds.compactMap { hold in
                definitions.first { $0.name == hold.quarantine }?.releaseOptions
            })
        }
        let optionsJSON = options.isEmpty ? nil : String(decoding: try JSONEncoder().encode(options), as: UTF8.self)
        try db.execute(sql: """
            INSERT INTO releases (release_id, message, requested_by, requested_at, quarantines, state, state_at, options)
            VALUES (?, ?, ?, ?, ?, 'requested', ?, ?)
            """, arguments: [newReleaseID, id, user, now, try TransferValidation.jsonArray(names), now, optionsJSON])
        logger.info("quarantine store: message \(qid) released by \(user) from \(names.joined(separator: ", ")); release \(newReleaseID)")
        let message = try StoredRows.message(row, holds: [])
        return ReleaseRequest(releaseID: newReleaseID, qid: qid, gateway: message.gateway,
                              gatewayMID: message.gatewayMID, gatewayICID: message.gatewayICID,
                              mailFrom: message.mailFrom, recipients: message.recipients,
                              smtpUTF8: message.smtpUTF8, resumeAt: message.resumeAt, quarantines: names,
                              requestedBy: user, requestedAt: Date(timeIntervalSince1970: now), state: .requested,
                              options: options)
    }

    /// Deletes the message from `quarantines` (nil: from every quarantine it is in). Deleted
    /// from any quarantine, it is never delivered. Once nothing holds it any more, its body
    /// is removed (the metadata stays for the history). Deleting again is a no-op.
    ///
    /// - Throws: `.released` when it was already released for delivery (a release that is
    ///   not `failed`), `.notHeld` when a named quarantine is not one of the message's,
    ///   `.notFound`, `.invalidArgument`.
    ///
    /// Audited like ``release(_:from:by:audit:)``.
    public func delete(_ qid: QID, from quarantines: Set<String>?, by user: String, audit: AuditContext = AuditContext()) async throws {
        try TransferValidation.checkUser(user)
        try TransferValidation.checkQuarantines(quarantines)
        let now = options.now().timeIntervalSince1970
        let logger = options.logger
        try await auditedWrite("deleting message \(qid)", .delete, qid, from: quarantines, by: user, audit, at: now) { db in
            try Self.deleteOne(db, qid, from: quarantines, by: user, at: now, logger: logger)
        }
    }

    static func deleteOne(_ db: Database, _ qid: QID, from quarantines: Set<String>?, by user: String, at now: Double,
                          logger: Logger) throws {
        guard let row = try StoredRows.messageRow(db, qid: qid) else { throw Self.notFound(qid) }
        let id: Int64 = row["id"]
        let holds = try StoredRows.holds(db, messages: [id])[id] ?? []
        let targets = quarantines == nil ? holds : try Self.targets(of: quarantines, in: holds, qid: qid)
        if let latest = try Row.fetchOne(db, sql: "SELECT release_id, requested_by, state FROM releases WHERE message = ? AND kind = 'release' ORDER BY id DESC LIMIT 1",
                                         arguments: [id]),
           try StoredRows.releaseState(latest) != .failed {
            let releaseID: String = latest["release_id"]
            let by: String = latest["requested_by"]
            throw QuarantineStoreError(.released, "message \(qid) was already released for delivery by \(by) (release \(releaseID)); it can no longer be deleted")
        }
        let changed = targets.filter { $0.state != .deleted }
        for hold in changed {
            try db.execute(sql: "UPDATE holds SET state = 'deleted', acted_by = ?, acted_at = ? WHERE message = ? AND quarantine = ?",
                           arguments: [user, now, id, hold.quarantine])
        }
        let changedNames = Set(changed.map(\.quarantine))
        if !holds.contains(where: { $0.state == .held && !changedNames.contains($0.quarantine) }) {
            try Self.removeBody(db, message: id, at: now)
        }
        if !changed.isEmpty {
            logger.info("quarantine store: message \(qid) deleted by \(user) from \(changed.map(\.quarantine).joined(separator: ", "))")
        }
    }

    // MARK: Release queue

    /// Releases not yet accepted by their gateway (`requested` and `queued`), oldest first:
    /// what the release queue (re)sends, also after a restart.
    public func pendingReleases() async throws -> [ReleaseRequest] {
        try await read("reading pending releases") { db in
            try Row.fetchAll(db, sql: StoredRows.requestSelect + " WHERE r.state IN ('requested', 'queued') ORDER BY r.id")
                .map(StoredRows.request)
        }
    }

    /// The release with this id, in whatever state, or nil when there is none.
    public func release(id releaseID: String) async throws -> ReleaseRequest? {
        try await read("reading release \(releaseID)") { db in
            try Row.fetchOne(db, sql: StoredRows.requestSelect + " WHERE r.release_id = ?", arguments: [releaseID])
                .map(StoredRows.request)
        }
    }

    /// Records that the release queue holds the release (`requested` → `queued`); a no-op
    /// in any later state.
    ///
    /// - Throws: `.releaseNotFound`.
    public func markReleaseQueued(_ releaseID: String) async throws {
        let now = options.now().timeIntervalSince1970
        try await write("marking release \(releaseID) queued") { db in
            let state = try Self.releaseState(db, releaseID)
            guard state == .requested else { return }
            try db.execute(sql: "UPDATE releases SET state = 'queued', state_at = ? WHERE release_id = ?", arguments: [now, releaseID])
        }
    }

    /// ``markReleaseQueued(_:)`` for many releases with one commit; unknown ids are skipped.
    public func markReleasesQueued(_ releaseIDs: [String]) async throws {
        guard !releaseIDs.isEmpty else { return }
        let now = options.now().timeIntervalSince1970
        try await write("marking \(releaseIDs.count) releases queued") { db in
            for releaseID in releaseIDs {
                try db.execute(sql: "UPDATE releases SET state = 'queued', state_at = ? WHERE release_id = ? AND state = 'requested'",
                               arguments: [now, releaseID])
            }
        }
    }

    /// ``markReleaseAccepted(_:gatewayMID:)`` for many releases with one commit. A release
    /// that is unknown or was recorded as failed is skipped (logged), not fatal.
    public func markReleasesAccepted(_ accepted: [(releaseID: String, gatewayMID: UInt64?)]) async throws {
        guard !accepted.isEmpty else { return }
        let now = options.now().timeIntervalSince1970
        let logger = options.logger
        try await write("marking \(accepted.count) releases accepted") { db in
            for (releaseID, mid) in accepted {
                do {
                    try Self.accept(db, releaseID, mid: mid.flatMap { $0 > UInt64(Int64.max) ? nil : $0 }, at: now)
                } catch let error as QuarantineStoreError where error.code == .releaseState || error.code == .releaseNotFound {
                    logger.warning("quarantine store: \(error.message)")
                }
            }
        }
    }

    /// Records that the gateway accepted the release (answered 250), with the MID it gave
    /// the message if known. The gateway owns delivery now; the body stays until the
    /// message's retention ends (for download and investigation).
    /// Idempotent: accepting again changes nothing but a MID that was not known before.
    ///
    /// - Throws: `.releaseNotFound`; `.releaseState` when the release was recorded as failed.
    public func markReleaseAccepted(_ releaseID: String, gatewayMID: UInt64? = nil) async throws {
        if let gatewayMID, gatewayMID > UInt64(Int64.max) {
            throw QuarantineStoreError(.invalidArgument, "gateway MID \(gatewayMID) is out of range")
        }
        let now = options.now().timeIntervalSince1970
        try await write("marking release \(releaseID) accepted") { db in
            try Self.accept(db, releaseID, mid: gatewayMID, at: now)
        }
    }

    /// Records that the gateway refused the release for good (e.g. `554` reply): the
    /// message was not delivered, its body is kept, and it can be released again (a new
    /// release id) or deleted. Idempotent.
    ///
    /// - Throws: `.releaseNotFound`; `.releaseState` when the gateway already accepted it.
    public func markReleaseFailed(_ releaseID: String, reply: String) async throws {
        let now = options.now().timeIntervalSince1970
        let reply = Self.clipReply(reply)
        let logger = options.logger
        try await write("marking release \(releaseID) failed") { db in
            switch try Self.releaseState(db, releaseID) {
            case .failed:
                return
            case .accepted:
                throw QuarantineStoreError(.releaseState, "release \(releaseID) was already accepted by the gateway; record per-recipient failures with recordOutcome")
            case .requested, .queued:
                try db.execute(sql: "UPDATE releases SET state = 'failed', state_at = ?, failure_reply = ? WHERE release_id = ?",
                               arguments: [now, reply, releaseID])
                logger.warning("quarantine store: release \(releaseID) failed: \(reply)")
            }
        }
    }

    /// Records what the gateway reported for one recipient of a release. Idempotent per
    /// `(releaseID, recipient, status)`: a repeated report keeps the first reply and time.
    /// An outcome implies the gateway accepted the release; a `requested` or `queued`
    /// release becomes `accepted`.
    ///
    /// - Throws: `.releaseNotFound`; `.releaseState` for a failed release; `.invalidArgument`.
    public func recordOutcome(releaseID: String, recipient: String, status: ReleaseOutcome.Status,
                              reply: String) async throws {
        if let problem = TransferValidation.problem(recipient, allowEmpty: false) {
            throw QuarantineStoreError(.invalidArgument, "outcome recipient \(problem)")
        }
        let now = options.now().timeIntervalSince1970
        let reply = Self.clipReply(reply)
        try await write("recording an outcome of release \(releaseID)") { db in
            switch try Self.releaseState(db, releaseID) {
            case .failed:
                throw QuarantineStoreError(.releaseState, "release \(releaseID) was recorded as failed (refused by the gateway); it has no delivery outcomes")
            case .requested, .queued:
                try Self.accept(db, releaseID, mid: nil, at: now)
            case .accepted:
                break
            }
            try db.execute(sql: """
                INSERT OR IGNORE INTO release_outcomes (release, recipient, status, reply, at)
                SELECT id, ?, ?, ?, ? FROM releases WHERE release_id = ?
                """, arguments: [recipient, status.rawValue, reply, now, releaseID])
        }
    }

    /// Every release of the message, oldest first: who asked and when, whether the gateway
    /// accepted or refused it, and each recipient's outcomes with the reply.
    ///
    /// - Throws: `.notFound`.
    public func releaseHistory(_ qid: QID) async throws -> [ReleaseRecord] {
        try await read("reading the release history of \(qid)") { db in
            guard let message = try Int64.fetchOne(db, sql: "SELECT id FROM messages WHERE qid = ?", arguments: [qid.rawValue]) else {
                throw Self.notFound(qid)
            }
            let releases = try Row.fetchAll(db, sql: "SELECT \(StoredRows.releaseColumns) FROM releases r WHERE r.message = ? ORDER BY r.id",
                                            arguments: [message])
            var outcomes: [Int64: [ReleaseOutcome]] = [:]
            let rows = try Row.fetchAll(db, sql: """
                SELECT o.release, o.recipient, o.status, o.reply, o.at FROM release_outcomes o
                JOIN releases r ON r.id = o.release WHERE r.message = ? ORDER BY o.rowid
                """, arguments: [message])
            for row in rows {
                let status: String = row["status"]
                guard let value = ReleaseOutcome.Status(rawValue: status) else { throw StoredRows.corrupt("outcome status \(status)") }
                outcomes[row["release"], default: []].append(
                    ReleaseOutcome(recipient: row["recipient"], status: value, reply: row["reply"],
                                   at: Date(timeIntervalSince1970: row["at"])))
            }
            return try releases.map { row in
                let id: Int64 = row["id"]
                let mid: Int64? = row["accepted_mid"]
                return ReleaseRecord(
                    releaseID: row["release_id"], requestedBy: row["requested_by"],
                    requestedAt: Date(timeIntervalSince1970: row["requested_at"]),
                    quarantines: try TransferValidation.decodeJSONArray(row["quarantines"]),
                    state: try StoredRows.releaseState(row), stateChangedAt: Date(timeIntervalSince1970: row["state_at"]),
                    acceptedMID: mid.map { UInt64($0) }, failureReply: row["failure_reply"], outcomes: outcomes[id] ?? [])
            }
        }
    }

    // MARK: Helpers

    func read<T: Sendable>(_ doing: String, _ value: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await database.read(value)
        } catch {
            throw QuarantineStoreError.wrap(error, doing)
        }
    }

    /// One write transaction on GRDB's writer queue. Once scheduled it runs to its commit
    /// or rollback even if the calling task is cancelled: an admin action is never half done.
    func write<T: Sendable>(_ doing: String, _ updates: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await withCheckedThrowingContinuation { continuation in
                database.asyncWrite(updates) { _, result in continuation.resume(with: result) }
            }
        } catch {
            throw QuarantineStoreError.wrap(error, doing)
        }
    }

    static func notFound(_ qid: QID) -> QuarantineStoreError {
        QuarantineStoreError(.notFound, "no quarantined message has QID \(qid)")
    }

    /// The holds named by `quarantines` (nil: those still held); throws `.notHeld` naming
    /// the message's quarantines when a name is not one of them.
    static func targets(of quarantines: Set<String>?, in holds: [QuarantineHold], qid: QID) throws -> [QuarantineHold] {
        guard let quarantines else { return holds.filter { $0.state == .held } }
        let unknown = quarantines.subtracting(holds.map(\.quarantine)).sorted()
        guard unknown.isEmpty else {
            let known = holds.map { "\(quoted($0.quarantine)) (\($0.state.rawValue))" }.joined(separator: ", ")
            throw QuarantineStoreError(.notHeld, "message \(qid) is not in quarantine \(unknown.map(quoted).joined(separator: ", ")); its quarantines: \(known)")
        }
        return holds.filter { quarantines.contains($0.quarantine) }
    }

    private static func releaseState(_ db: Database, _ releaseID: String) throws -> ReleaseRequest.State {
        guard let row = try Row.fetchOne(db, sql: "SELECT state FROM releases WHERE release_id = ?", arguments: [releaseID]) else {
            throw QuarantineStoreError(.releaseNotFound, "no release has id \(quoted(releaseID))")
        }
        return try StoredRows.releaseState(row)
    }

    private static func accept(_ db: Database, _ releaseID: String, mid: UInt64?, at now: Double) throws {
        switch try releaseState(db, releaseID) {
        case .accepted:
            // The MID may come after the acceptance (the queue records the 250 at once, the reply later).
            if let mid {
                try db.execute(sql: "UPDATE releases SET accepted_mid = ? WHERE release_id = ? AND accepted_mid IS NULL",
                               arguments: [Int64(mid), releaseID])
            }
        case .failed:
            throw QuarantineStoreError(.releaseState, "release \(releaseID) was recorded as failed (refused by the gateway); a failed release is never accepted — release the message again for a new release id")
        case .requested, .queued:
            try db.execute(sql: "UPDATE releases SET state = 'accepted', state_at = ?, accepted_mid = ? WHERE release_id = ?",
                           arguments: [now, mid.map { Int64($0) }, releaseID])
            // The body stays: the message can still be downloaded and found by its text until
            // its retention ends (the sweeper removes it then), and the release path does not
            // pay for forgetting its words in the search index.
        }
    }

    static func removeBody(_ db: Database, message: Int64, at now: Double) throws {
        try SearchIndex.forgetBody(db, message: message)
        try db.execute(sql: "DELETE FROM bodies WHERE message = ?", arguments: [message])
        try db.execute(sql: "UPDATE messages SET body_removed_at = ? WHERE id = ? AND body_removed_at IS NULL",
                       arguments: [now, message])
    }

    /// Longest SMTP reply text kept for a release or an outcome.
    static let maxReplyBytes = 4096

    private static func clipReply(_ reply: String) -> String {
        guard reply.utf8.count > maxReplyBytes else { return reply }
        return String(decoding: reply.utf8.prefix(maxReplyBytes), as: UTF8.self)
    }
}
