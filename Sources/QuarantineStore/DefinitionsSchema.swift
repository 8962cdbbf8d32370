import Foundation
import GRDB
import MailMessage

/// Schema step `v3` (registered in `QuarantineSchema`): quarantine definitions, the
/// store's body usage kept by triggers (for the quota), and what releases need beyond v1
/// (copies, their recipients, release options).
enum DefinitionsSchema {
    static let migrationName = "v3: quarantine definitions, store usage, copies and release options"

    static func migrate(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE quarantines (
                name TEXT PRIMARY KEY COLLATE NOCASE,     -- never renamed; unique whatever the case
                kind TEXT NOT NULL CHECK (kind IN ('system', 'policy')),
                retention_seconds INTEGER NOT NULL,
                default_action TEXT NOT NULL CHECK (default_action IN ('release', 'delete')),
                free_up_space INTEGER NOT NULL,
                release_subject_tag TEXT,
                release_header TEXT,
                release_strip_attachments INTEGER NOT NULL,
                visible_roles TEXT NOT NULL,              -- JSON array
                visible_users TEXT NOT NULL,              -- JSON array
                created_at REAL NOT NULL,
                created_by TEXT NOT NULL
            ) STRICT, WITHOUT ROWID;

            -- The bytes of bodies still stored, kept exact in every transaction (the quota).
            CREATE TABLE store_usage (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                body_bytes INTEGER NOT NULL,
                bodies INTEGER NOT NULL
            ) STRICT;
            INSERT INTO store_usage (id, body_bytes, bodies) SELECT 1, COALESCE(SUM(length(data)), 0), COUNT(*) FROM bodies;
            CREATE TRIGGER bodies_usage_insert AFTER INSERT ON bodies BEGIN
                UPDATE store_usage SET body_bytes = body_bytes + length(NEW.data), bodies = bodies + 1 WHERE id = 1;
            END;
            CREATE TRIGGER bodies_usage_delete AFTER DELETE ON bodies BEGIN
                UPDATE store_usage SET body_bytes = body_bytes - length(OLD.data), bodies = bodies - 1 WHERE id = 1;
            END;

            -- The quarantine a gateway asked for when it was not defined (the hold is in Unclassified).
            ALTER TABLE holds ADD COLUMN asked_quarantine TEXT;
            ALTER TABLE releases ADD COLUMN kind TEXT NOT NULL DEFAULT 'release' CHECK (kind IN ('release', 'copy'));
            ALTER TABLE releases ADD COLUMN recipients TEXT;        -- JSON array; a copy's address
            ALTER TABLE releases ADD COLUMN options TEXT;           -- JSON ReleaseOptions, when any apply
            """)
        let now = Date().timeIntervalSince1970
        for definition in QuarantineDefinition.systemDefaults {
            try DefinitionRows.insert(db, definition, at: now, by: "system")
        }
        // Holds stored before definitions existed and without a retention from the gateway
        // get their quarantine's (or Unclassified's).
        try db.execute(sql: """
            UPDATE holds SET expires_at = (SELECT m.stored_at FROM messages m WHERE m.id = holds.message)
                + COALESCE((SELECT q.retention_seconds FROM quarantines q WHERE q.name = holds.quarantine),
                           (SELECT q.retention_seconds FROM quarantines q WHERE q.name = 'Unclassified'))
            WHERE expires_at IS NULL
            """)
    }
}

/// The `quarantines` table's statements, inside the caller's transaction.
enum DefinitionRows {
    static func insert(_ db: Database, _ d: QuarantineDefinition, at now: Double, by user: String) throws {
        try db.execute(sql: """
            INSERT INTO quarantines (name, kind, retention_seconds, default_action, free_up_space, release_subject_tag,
                                     release_header, release_strip_attachments, visible_roles, visible_users, created_at, created_by)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [d.name, d.kind.rawValue, d.retentionSeconds, d.defaultAction.rawValue, d.freeUpSpace,
                             d.releaseOptions.subjectTag, d.releaseOptions.headerLine, d.releaseOptions.stripAttachments,
                             try TransferValidation.jsonArray(d.visibleToRoles), try TransferValidation.jsonArray(d.visibleToUsers),
                             now, user])
    }

    static func update(_ db: Database, _ d: QuarantineDefinition) throws {
        try db.execute(sql: """
            UPDATE quarantines SET retention_seconds = ?, default_action = ?, free_up_space = ?, release_subject_tag = ?,
                                   release_header = ?, release_strip_attachments = ?, visible_roles = ?, visible_users = ?
            WHERE name = ?
            """, arguments: [d.retentionSeconds, d.defaultAction.rawValue, d.freeUpSpace, d.releaseOptions.subjectTag,
                             d.releaseOptions.headerLine, d.releaseOptions.stripAttachments,
                             try TransferValidation.jsonArray(d.visibleToRoles), try TransferValidation.jsonArray(d.visibleToUsers),
                             d.name])
    }

    /// Every definition, system quarantines first, then by name.
    static func all(_ db: Database) throws -> [QuarantineDefinition] {
        try Row.fetchAll(db, cachedSQL: "SELECT * FROM quarantines ORDER BY kind = 'policy', name").map(definition)
    }

    static func one(_ db: Database, _ name: String) throws -> QuarantineDefinition? {
        try Row.fetchOne(db, sql: "SELECT * FROM quarantines WHERE name = ?", arguments: [name]).map(definition)
    }

    static func definition(_ row: Row) throws -> QuarantineDefinition {
        let kind: String = row["kind"], action: String = row["default_action"]
        guard let kindValue = QuarantineDefinition.Kind(rawValue: kind),
              let actionValue = QuarantineDefinition.DefaultAction(rawValue: action)
        else { throw StoredRows.corrupt("quarantine of kind \(kind) with default action \(action)") }
        return QuarantineDefinition(
            name: row["name"], kind: kindValue, retentionSeconds: row["retention_seconds"], defaultAction: actionValue,
            freeUpSpace: row["free_up_space"],
            releaseOptions: ReleaseModifications(subjectTag: row["release_subject_tag"],
                                                 addedHeader: (row["release_header"] as String?).flatMap(ReleaseModifications.header(fromLine:)),
                                                 stripAttachments: row["release_strip_attachments"]),
            visibleToRoles: try TransferValidation.decodeJSONArray(row["visible_roles"]),
            visibleToUsers: try TransferValidation.decodeJSONArray(row["visible_users"]))
    }
}

extension Row {
    static func fetchAll(_ db: Database, cachedSQL sql: String) throws -> [Row] {
        try Row.fetchAll(db.cachedStatement(sql: sql))
    }
}
