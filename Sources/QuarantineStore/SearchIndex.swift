import Foundation
import GRDB

/// Writes to the full-text index `message_text`, inside the transaction that changes the
/// message, so a stored message is always searchable and a removed body is not.
///
/// Columns: `sender` (envelope sender), `recipients` (the envelope recipients as stored,
/// a JSON array: the tokenizer sees the addresses), `subject` (RFC 2047 decoded),
/// `headers` and `body` (`SearchableText`).
enum SearchIndex {
    /// Indexes a newly inserted message (rowid `message`).
    static func add(_ db: Database, message: Int64, _ prepared: PreparedTransfer) throws {
        try db.cachedStatement(sql: """
            INSERT INTO message_text (rowid, sender, recipients, subject, headers, body) VALUES (?, ?, ?, ?, ?, ?)
            """).execute(arguments: [message, prepared.transfer.mailFrom, prepared.recipientsJSON, prepared.headers.subject,
                                     prepared.searchText.headers, prepared.searchText.body])
    }

    /// Called before the body of `message` is deleted: its header and body text leave the
    /// index; the envelope sender, recipients and subject (still in the `messages` row)
    /// stay searchable. A no-op when the body is already gone.
    static func forgetBody(_ db: Database, message: Int64) throws {
        guard let data = try Data.fetchOne(db.cachedStatement(sql: "SELECT data FROM bodies WHERE message = ?"),
                                           arguments: [message]),
              let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT mail_from, recipients, subject FROM messages WHERE id = ?"),
                                         arguments: [message])
        else { return }
        let text = SearchableText(message: [UInt8](data))
        let sender: String = row["mail_from"]
        let recipients: String = row["recipients"]
        let subject: String? = row["subject"]
        try db.cachedStatement(sql: """
            INSERT INTO message_text (message_text, rowid, sender, recipients, subject, headers, body)
            VALUES ('delete', ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [message, sender, recipients, subject, text.headers, text.body])
        try db.cachedStatement(sql: """
            INSERT INTO message_text (rowid, sender, recipients, subject, headers, body) VALUES (?, ?, ?, ?, '', '')
            """).execute(arguments: [message, sender, recipients, subject])
    }

    /// Indexes every message already stored (the migration that adds the index).
    static func indexAll(_ db: Database) throws {
        let rows = try Row.fetchCursor(db, sql: """
            SELECT m.id, m.mail_from, m.recipients, m.subject, b.data
            FROM messages m LEFT JOIN bodies b ON b.message = m.id ORDER BY m.id
            """)
        let insert = try db.makeStatement(sql: """
            INSERT INTO message_text (rowid, sender, recipients, subject, headers, body) VALUES (?, ?, ?, ?, ?, ?)
            """)
        while let row = try rows.next() {
            let data: Data? = row["data"]
            let text = data.map { SearchableText(message: [UInt8]($0)) } ?? SearchableText(headers: "", body: "")
            let id: Int64 = row["id"]
            let sender: String = row["mail_from"]
            let recipients: String = row["recipients"]
            let subject: String? = row["subject"]
            try insert.execute(arguments: [id, sender, recipients, subject, text.headers, text.body])
        }
    }
}
