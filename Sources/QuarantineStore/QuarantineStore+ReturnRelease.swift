import Foundation
import GRDB

extension QuarantineStore {
    /// A pending release taken off the release queue by an administrator
    /// (`deleterecipients` on the manager): the release is recorded as failed with
    /// `reply`, and the message goes back into the quarantines it was released from, held
    /// again until its retention ends (as if never released). Holds whose retention has
    /// ended, or a message whose body is gone, stay released.
    ///
    /// - Returns: the quarantines that hold the message again (empty when none could, or
    ///   when the release had already failed).
    /// - Throws: `.releaseNotFound`; `.releaseState` when the gateway already accepted it.
    public func returnToQuarantine(releaseID: String, reply: String) async throws -> [String] {
        let now = options.now().timeIntervalSince1970
        let reply = String(reply.prefix(1000))
        return try await write("returning release \(releaseID) to its quarantines") { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT state, message FROM releases WHERE release_id = ?", arguments: [releaseID]) else {
                throw QuarantineStoreError(.releaseNotFound, "no release has id \"\(releaseID)\"")
            }
            switch try StoredRows.releaseState(row) {
            case .failed:
                return []
            case .accepted:
                throw QuarantineStoreError(.releaseState, "release \(releaseID) was already accepted by the gateway; it cannot go back to quarantine")
            case .requested, .queued:
                break
            }
            let message: Int64 = row["message"]
            try db.execute(sql: "UPDATE releases SET state = 'failed', state_at = ?, failure_reply = ? WHERE release_id = ?",
                           arguments: [now, reply, releaseID])
            let condition = """
                message = ? AND state = 'released' AND (expires_at IS NULL OR expires_at > ?)
                AND EXISTS (SELECT 1 FROM messages m WHERE m.id = message AND m.body_removed_at IS NULL)
                """
            let names = try String.fetchAll(db, sql: "SELECT quarantine FROM holds WHERE " + condition + " ORDER BY quarantine",
                                            arguments: [message, now])
            try db.execute(sql: "UPDATE holds SET state = 'held', acted_by = NULL, acted_at = NULL WHERE " + condition,
                           arguments: [message, now])
            return names
        }
    }
}
