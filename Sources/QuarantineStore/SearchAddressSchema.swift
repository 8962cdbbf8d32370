import GRDB

/// Schema step `v5` (registered in `QuarantineSchema` after `v4`): sender and recipient
/// searches by a complete address (`bob@lab.example`) look the address up instead of
/// walking the words of every address in the envelope index.
///
/// - `message_recipients`: one row per envelope recipient and message, keyed by the
///   address (ASCII case ignored) and then the message id, so the messages to one address
///   come out in store order. Kept by triggers on `messages` from its recipients JSON.
/// - `messages_by_sender`: the envelope sender (ASCII case ignored), then the id.
///
/// Why: an address is a phrase of its words in FTS5 (`bob lab example`), and the words
/// of the domain are in almost every message, so a search for an address with few
/// messages walked the doclists of those words (115–200 ms at a million messages).
enum SearchAddressSchema {
    static let migrationName = "v5: exact sender and recipient addresses (message_recipients, messages_by_sender)"

    static func migrate(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE message_recipients (
                address TEXT NOT NULL COLLATE NOCASE,   -- one envelope recipient, as received
                message INTEGER NOT NULL,               -- messages.id
                PRIMARY KEY (address, message)
            ) STRICT, WITHOUT ROWID;
            INSERT OR IGNORE INTO message_recipients (address, message)
                SELECT j.value, m.id FROM messages m, json_each(m.recipients) j;
            CREATE TRIGGER messages_recipients_insert AFTER INSERT ON messages BEGIN
                INSERT OR IGNORE INTO message_recipients (address, message)
                SELECT value, new.id FROM json_each(new.recipients);
            END;
            CREATE TRIGGER messages_recipients_delete AFTER DELETE ON messages BEGIN
                DELETE FROM message_recipients WHERE message = old.id AND address IN (SELECT value FROM json_each(old.recipients));
            END;
            CREATE TRIGGER messages_recipients_update AFTER UPDATE OF recipients ON messages BEGIN
                DELETE FROM message_recipients WHERE message = old.id AND address IN (SELECT value FROM json_each(old.recipients));
                INSERT OR IGNORE INTO message_recipients (address, message)
                SELECT value, new.id FROM json_each(new.recipients);
            END;
            CREATE INDEX messages_by_sender ON messages (mail_from COLLATE NOCASE);
            """)
    }
}
