import GRDB

/// The database schema: one `DatabaseMigrator` migration per schema step, applied in
/// order at open. Never edit a shipped migration; add the next one.
enum QuarantineSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: messages, bodies, holds, releases, release outcomes") { db in
            // `id` orders messages by store time (AUTOINCREMENT: never reused) and is the
            // list cursor; `qid` is the random id admins see.
            try db.execute(sql: """
                CREATE TABLE messages (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    qid TEXT NOT NULL UNIQUE,
                    gateway TEXT NOT NULL,
                    transfer_id TEXT NOT NULL,
                    gateway_mid INTEGER NOT NULL,
                    gateway_icid INTEGER,
                    mail_from TEXT NOT NULL,
                    recipients TEXT NOT NULL,            -- JSON array of addresses, in envelope order
                    smtputf8 INTEGER NOT NULL,
                    received_at REAL NOT NULL,           -- seconds since 1970
                    stored_at REAL NOT NULL,
                    size INTEGER NOT NULL,
                    subject TEXT,
                    message_id TEXT,
                    resume_at TEXT NOT NULL,             -- PipelineStage raw value
                    body_removed_at REAL,                -- set when the body row is deleted
                    UNIQUE (gateway, transfer_id)
                ) STRICT;

                -- Bodies apart from the metadata, so listing never pages through them.
                CREATE TABLE bodies (
                    message INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
                    data BLOB NOT NULL
                ) STRICT;

                CREATE TABLE holds (
                    message INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
                    position INTEGER NOT NULL,           -- order in the transfer
                    quarantine TEXT NOT NULL,
                    reason_kind TEXT NOT NULL,
                    reason_detail TEXT NOT NULL,
                    threat_level INTEGER,
                    stage TEXT NOT NULL,
                    resume_at TEXT NOT NULL,
                    retention_seconds INTEGER,
                    expires_at REAL,
                    is_copy INTEGER NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('held', 'released', 'deleted')),
                    acted_by TEXT,
                    acted_at REAL,
                    PRIMARY KEY (message, quarantine)
                ) STRICT, WITHOUT ROWID;
                CREATE INDEX holds_by_quarantine ON holds (quarantine, state, message);
                CREATE INDEX holds_by_state ON holds (state, message);
                CREATE INDEX holds_by_expiry ON holds (state, expires_at) WHERE expires_at IS NOT NULL;

                CREATE TABLE releases (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    release_id TEXT NOT NULL UNIQUE,     -- UUID, sent to the gateway
                    message INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
                    requested_by TEXT NOT NULL,
                    requested_at REAL NOT NULL,
                    quarantines TEXT NOT NULL,           -- JSON array, sorted
                    state TEXT NOT NULL CHECK (state IN ('requested', 'queued', 'accepted', 'failed')),
                    state_at REAL NOT NULL,
                    accepted_mid INTEGER,
                    failure_reply TEXT
                ) STRICT;
                CREATE INDEX releases_by_message ON releases (message);
                CREATE INDEX releases_pending ON releases (id) WHERE state IN ('requested', 'queued');

                CREATE TABLE release_outcomes (
                    release INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
                    recipient TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('accepted', 'delivered', 'deferred', 'bounced')),
                    reply TEXT NOT NULL,
                    at REAL NOT NULL,
                    PRIMARY KEY (release, recipient, status)
                ) STRICT;
                """)
        }
        migrator.registerMigration(AuditSchema.migrationName, migrate: AuditSchema.migrate)
        SearchSchema.register(in: &migrator)
        migrator.registerMigration(DefinitionsSchema.migrationName, migrate: DefinitionsSchema.migrate)
        migrator.registerMigration(SearchAtScaleSchema.migrationName, migrate: SearchAtScaleSchema.migrate)
        migrator.registerMigration(SearchAddressSchema.migrationName, migrate: SearchAddressSchema.migrate)
        return migrator
    }
}
