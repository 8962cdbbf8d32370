import GRDB

/// Schema step `v4` (registered in `QuarantineSchema` after `v3`): what search needs to
/// answer a page from a million held messages without reading the store.
///
/// - `message_text` is rebuilt with the body text cut at `SearchableText.maxBodyBytes`
///   (4 KB, was 64 KB): the entries of a contentless FTS5 table can only be removed with
///   the text they were indexed with, so a change of what is indexed rebuilds the index.
/// - `message_envelope`: a small FTS5 index over the envelope sender, the recipients and
///   the subject (external content: the `messages` row), kept by triggers on `messages`,
///   so sender, recipient and subject searches do not go through the big text index.
/// - `received_zones` and `expiry_zones`: per zone of 256 message ids (`id >> 8`), the
///   earliest and latest received time of its messages, and per zone and quarantine the
///   earliest and latest expiry of its holds (one quarantine has one retention, so the
///   span is narrow), kept by triggers. A received or expiry range maps to the id ranges
///   of the zones it overlaps, and a search walks only those ids. Zones only ever widen
///   (a delay or move extends one, nothing narrows one), so they always cover their
///   messages: a filter bounded by them finds what an unbounded one finds.
enum SearchAtScaleSchema {
    static let migrationName = "v4: search at one million (4 KB body text, envelope index, received and expiry zones)"

    /// Message ids per zone, as a shift: zone = id >> `zoneShift`.
    static let zoneShift = 8

    static func migrate(_ db: Database) throws {
        try db.execute(sql: """
            DROP TABLE message_text;
            CREATE VIRTUAL TABLE message_text USING fts5(
                sender, recipients, subject, headers, body,
                content = '', columnsize = 0, tokenize = 'unicode61 remove_diacritics 2'
            );
            """)
        try SearchIndex.indexAll(db)
        try db.execute(sql: """
            CREATE VIRTUAL TABLE message_envelope USING fts5(
                mail_from, recipients, subject,
                content = 'messages', content_rowid = 'id', columnsize = 0, tokenize = 'unicode61 remove_diacritics 2'
            );
            INSERT INTO message_envelope (message_envelope) VALUES ('rebuild');
            CREATE TRIGGER messages_envelope_insert AFTER INSERT ON messages BEGIN
                INSERT INTO message_envelope (rowid, mail_from, recipients, subject)
                VALUES (new.id, new.mail_from, new.recipients, new.subject);
            END;
            CREATE TRIGGER messages_envelope_delete AFTER DELETE ON messages BEGIN
                INSERT INTO message_envelope (message_envelope, rowid, mail_from, recipients, subject)
                VALUES ('delete', old.id, old.mail_from, old.recipients, old.subject);
            END;
            CREATE TRIGGER messages_envelope_update AFTER UPDATE OF mail_from, recipients, subject ON messages BEGIN
                INSERT INTO message_envelope (message_envelope, rowid, mail_from, recipients, subject)
                VALUES ('delete', old.id, old.mail_from, old.recipients, old.subject);
                INSERT INTO message_envelope (rowid, mail_from, recipients, subject)
                VALUES (new.id, new.mail_from, new.recipients, new.subject);
            END;

            CREATE TABLE received_zones (
                zone INTEGER PRIMARY KEY,            -- messages.id >> 8
                first_received REAL NOT NULL,
                last_received REAL NOT NULL
            ) STRICT;
            INSERT INTO received_zones (zone, first_received, last_received)
                SELECT id >> 8, MIN(received_at), MAX(received_at) FROM messages GROUP BY id >> 8;
            CREATE TRIGGER messages_received_zone AFTER INSERT ON messages BEGIN
                INSERT INTO received_zones (zone, first_received, last_received)
                VALUES (new.id >> 8, new.received_at, new.received_at)
                ON CONFLICT (zone) DO UPDATE SET first_received = MIN(first_received, excluded.first_received),
                                                 last_received = MAX(last_received, excluded.last_received);
            END;

            CREATE TABLE expiry_zones (
                zone INTEGER NOT NULL,               -- holds.message >> 8
                quarantine TEXT NOT NULL,            -- holds.quarantine: one retention, a narrow span
                first_expiry REAL NOT NULL,
                last_expiry REAL NOT NULL,
                PRIMARY KEY (zone, quarantine)
            ) STRICT, WITHOUT ROWID;
            INSERT INTO expiry_zones (zone, quarantine, first_expiry, last_expiry)
                SELECT message >> 8, quarantine, MIN(expires_at), MAX(expires_at) FROM holds WHERE expires_at IS NOT NULL
                GROUP BY message >> 8, quarantine;
            CREATE TRIGGER holds_expiry_zone_insert AFTER INSERT ON holds WHEN new.expires_at IS NOT NULL BEGIN
                INSERT INTO expiry_zones (zone, quarantine, first_expiry, last_expiry)
                VALUES (new.message >> 8, new.quarantine, new.expires_at, new.expires_at)
                ON CONFLICT (zone, quarantine) DO UPDATE SET first_expiry = MIN(first_expiry, excluded.first_expiry),
                                                             last_expiry = MAX(last_expiry, excluded.last_expiry);
            END;
            CREATE TRIGGER holds_expiry_zone_update AFTER UPDATE OF expires_at, quarantine ON holds
            WHEN new.expires_at IS NOT NULL BEGIN
                INSERT INTO expiry_zones (zone, quarantine, first_expiry, last_expiry)
                VALUES (new.message >> 8, new.quarantine, new.expires_at, new.expires_at)
                ON CONFLICT (zone, quarantine) DO UPDATE SET first_expiry = MIN(first_expiry, excluded.first_expiry),
                                                             last_expiry = MAX(last_expiry, excluded.last_expiry);
            END;
            """)
    }
}
