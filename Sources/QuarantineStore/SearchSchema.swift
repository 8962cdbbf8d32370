import GRDB

/// Schema step for search (registered in `QuarantineSchema`): the full-text index
/// `message_text` and the indexes the structured filters walk.
///
/// `message_text` is a *contentless* FTS5 table (`content=''`): it keeps the token index
/// only, never a second copy of the text, so its rowid is the `messages.id`. Removing a
/// row needs the text it was indexed with (the FTS5 `'delete'` command): `SearchIndex`
/// recomputes it from the body (still present when the body is removed) or, once the body
/// is gone, takes it from the `messages` row (sender, recipients JSON, subject).
/// A later change to what `SearchableText` extracts must come with a migration that
/// rebuilds `message_text`.
enum SearchSchema {
    static func register(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v2: search (message_text FTS5, search indexes)") { db in
            try db.execute(sql: """
                CREATE VIRTUAL TABLE message_text USING fts5(
                    sender, recipients, subject, headers, body,
                    content = '', columnsize = 0, tokenize = 'unicode61 remove_diacritics 2'
                );

                -- Structured filters: each walks its index in store order (newest first).
                CREATE INDEX messages_by_gateway ON messages (gateway, id);
                CREATE INDEX messages_by_received ON messages (received_at);
                CREATE INDEX messages_by_size ON messages (size);
                CREATE INDEX holds_by_reason ON holds (reason_detail COLLATE NOCASE, message);

                -- A message row goes only after its body (the index entry then holds the
                -- envelope and subject only, which the row still has).
                CREATE TRIGGER messages_keep_body_first BEFORE DELETE ON messages
                WHEN old.body_removed_at IS NULL
                BEGIN
                    SELECT RAISE(ABORT, 'remove the message body before the message row: the search index is cleared from it');
                END;
                CREATE TRIGGER messages_search_delete AFTER DELETE ON messages
                BEGIN
                    INSERT INTO message_text (message_text, rowid, sender, recipients, subject, headers, body)
                    VALUES ('delete', old.id, old.mail_from, old.recipients, old.subject, '', '');
                END;
                """)
            // Messages stored before this step: index them now.
            try SearchIndex.indexAll(db)
        }
    }
}
