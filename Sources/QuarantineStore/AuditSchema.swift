import GRDB

/// The audit log's table and the triggers that keep it append-only
/// (docs/QUARANTINE-STORE.md, "Audit log"). Registered by `QuarantineSchema` with one line.
///
/// Every column an entry's hash covers is TEXT or INTEGER, never REAL: the hash is computed
/// over the values exactly as stored, so verification never has to format a number again.
enum AuditSchema {
    static let migrationName = "audit: append-only, hash-chained audit_log"

    static func migrate(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE audit_log (
                seq INTEGER PRIMARY KEY,             -- 1, 2, 3... without gaps
                at TEXT NOT NULL,                    -- UTC to the millisecond: 2026-09-21T12:26:40.123Z
                actor TEXT NOT NULL,                 -- who: cli:root, api:alice
                role TEXT,                           -- their role when known (admin, operator...)
                action TEXT NOT NULL,                -- release, delete, delay, move, copy, download, login...
                qid TEXT,                            -- the message acted on, if one
                quarantines TEXT,                    -- JSON array, sorted; NULL: every quarantine it is in
                selection TEXT,                      -- what a bulk action selected, e.g. "release-all --quarantine Policy"
                outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'refused')),
                reason TEXT,                         -- why it was refused
                detail TEXT,                         -- what it did: still held in..., release id...
                prev_hash TEXT NOT NULL,             -- hash of entry seq - 1 (64 zeros for entry 1)
                hash TEXT NOT NULL                   -- SHA-256 of the canonical serialization, hex
            ) STRICT;

            CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: an entry cannot be changed'); END;

            CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: an entry cannot be deleted'); END;

            CREATE TRIGGER audit_log_in_order BEFORE INSERT ON audit_log
            WHEN NEW.seq IS NOT (SELECT IFNULL(MAX(seq), 0) + 1 FROM audit_log)
              OR NEW.prev_hash IS NOT IFNULL((SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1), '\(AuditChain.genesisHash)')
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: a new entry must follow the latest one'); END;
            """)
    }
}
