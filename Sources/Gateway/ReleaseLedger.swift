import CPQ
import Foundation
import GRDB

/// The gateway's durable memory of the CPQ releases it took and of the outcome reports it
/// owes the manager: `cpq-ledger.sqlite` (WAL, `synchronous = FULL`) in the spool directory.
///
/// - **Releases**: release id → the MID the released message got. A release whose id is
///   here is answered `already queued as MID ...` and nothing is spooled again, so a
///   manager that lost the 250 and retries never makes the gateway deliver twice. The
///   message is spooled before its id is written here; a crash between the two is mended
///   at start from the spooled message's `release` attribute (``remember(release:mid:)``).
/// - **Reports**: what became of each released recipient (`XCPQ REPORT`), kept until the
///   manager answered 250, once per (release, recipient, status).
///
/// Entries older than ``retention`` are pruned at start.
final class ReleaseLedger: Sendable {
    /// One report waiting to be sent.
    struct PendingReport: Sendable, Hashable {
        var id: Int64
        var report: CPQReport
    }

    let path: String
    private let database: DatabasePool
    /// How long accepted release ids and sent reports are kept: longer than any manager retries.
    static let retention: TimeInterval = 30 * 86400

    init(directory: String, fsync: Bool = true) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = (directory as NSString).appendingPathComponent("cpq-ledger.sqlite")
        var configuration = Configuration()
        configuration.label = "lazaret.release-ledger"
        do {
            database = try DatabasePool(path: path, configuration: configuration)
            try database.writeWithoutTransaction { db in
                try db.execute(sql: fsync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = OFF")
            }
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1") { db in
                try db.execute(sql: """
                    CREATE TABLE releases (
                        release_id TEXT PRIMARY KEY NOT NULL,
                        mid INTEGER NOT NULL,
                        qid TEXT NOT NULL,
                        accepted_at REAL NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE reports (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        release_id TEXT NOT NULL,
                        recipient TEXT NOT NULL,
                        status TEXT NOT NULL,
                        reply TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        sent_at REAL,
                        UNIQUE (release_id, recipient, status)
                    );
                    CREATE INDEX reports_unsent ON reports (id) WHERE sent_at IS NULL;
                    """)
            }
            try migrator.migrate(database)
            let cutoff = Date().timeIntervalSince1970 - Self.retention
            try database.write { db in
                try db.execute(sql: "DELETE FROM releases WHERE accepted_at < ?", arguments: [cutoff])
                try db.execute(sql: "DELETE FROM reports WHERE sent_at IS NOT NULL AND sent_at < ?", arguments: [cutoff])
            }
        } catch {
            throw GatewayError("the CPQ release ledger \(path) cannot be opened: \(error); move it aside only if you accept that a retried release may be delivered twice")
        }
    }

    func close() {
        try? database.close()
    }

    // MARK: Releases

    /// The MID a release was queued as, if this gateway took it before.
    func mid(forRelease releaseID: String) async throws -> UInt64? {
        try await database.read { db in
            try Int64.fetchOne(db, sql: "SELECT mid FROM releases WHERE release_id = ?", arguments: [releaseID]).map { UInt64($0) }
        }
    }

    /// Records that `releaseID` was spooled as `mid` (durable when this returns). Keeps the
    /// first MID when the id is there already.
    func remember(release releaseID: String, qid: String, mid: UInt64) async throws {
        try await database.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO releases (release_id, mid, qid, accepted_at) VALUES (?, ?, ?, ?)",
                           arguments: [releaseID, Int64(mid), qid, Date().timeIntervalSince1970])
        }
    }

    // MARK: Reports

    /// Queues reports for the manager (durable when this returns); a report already
    /// queued for the same (release, recipient, status) is not queued again.
    func queue(_ reports: [CPQReport]) async throws {
        guard !reports.isEmpty else { return }
        let now = Date().timeIntervalSince1970
        try await database.write { db in
            for report in reports {
                try db.execute(sql: """
                    INSERT OR IGNORE INTO reports (release_id, recipient, status, reply, created_at) VALUES (?, ?, ?, ?, ?)
                    """, arguments: [report.releaseID, report.recipient, report.status.rawValue, report.reply, now])
            }
        }
    }

    /// Reports not yet acknowledged by the manager, oldest first.
    func pendingReports(limit: Int = 500) async throws -> [PendingReport] {
        try await database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, release_id, recipient, status, reply FROM reports WHERE sent_at IS NULL ORDER BY id LIMIT ?
                """, arguments: [limit]).compactMap { row -> PendingReport? in
                guard let status = CPQReportStatus(rawValue: row["status"]) else { return nil }
                return PendingReport(id: row["id"], report: CPQReport(releaseID: row["release_id"], recipient: row["recipient"],
                                                                      status: status, reply: row["reply"]))
            }
        }
    }

    /// Marks reports as done (the manager answered, or refused them for good).
    func markSent(_ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        let now = Date().timeIntervalSince1970
        try await database.write { db in
            for id in ids {
                try db.execute(sql: "UPDATE reports SET sent_at = ? WHERE id = ?", arguments: [now, id])
            }
        }
    }

    /// Counts for `status`: releases remembered, reports waiting.
    func counts() async throws -> (releases: Int, unsentReports: Int) {
        try await database.read { db in
            (try Int.fetchOne(db, sql: "SELECT count(*) FROM releases") ?? 0,
             try Int.fetchOne(db, sql: "SELECT count(*) FROM reports WHERE sent_at IS NULL") ?? 0)
        }
    }
}
