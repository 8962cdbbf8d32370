import Foundation
import MailMessage
import GRDB
import Scanning

/// Reading the tables back into the public types.
enum StoredRows {
    static let messageColumns = """
        id, qid, gateway, transfer_id, gateway_mid, gateway_icid, mail_from, recipients, smtputf8, received_at,
        stored_at, size, subject, message_id, resume_at, body_removed_at
        """

    /// The `messages` row for `qid` (id and public fields), without holds.
    static func messageRow(_ db: Database, qid: QID) throws -> Row? {
        try Row.fetchOne(db, sql: "SELECT \(messageColumns) FROM messages WHERE qid = ?", arguments: [qid.rawValue])
    }

    /// The holds of the messages `ids`, each list in transfer order.
    static func holds(_ db: Database, messages ids: [Int64]) throws -> [Int64: [QuarantineHold]] {
        guard !ids.isEmpty else { return [:] }
        let rows = try Row.fetchAll(db, sql: """
            SELECT message, quarantine, reason_kind, reason_detail, threat_level, stage, resume_at, retention_seconds,
                   expires_at, is_copy, state, acted_by, acted_at, asked_quarantine
            FROM holds WHERE message IN (\(ids.map { _ in "?" }.joined(separator: ",")))
            ORDER BY message, position
            """, arguments: StatementArguments(ids))
        var holds: [Int64: [QuarantineHold]] = [:]
        for row in rows {
            holds[row["message"], default: []].append(try hold(row))
        }
        return holds
    }

    static func hold(_ row: Row) throws -> QuarantineHold {
        let kind: String = row["reason_kind"]
        let stage: String = row["stage"]
        let resumeAt: String = row["resume_at"]
        let state: String = row["state"]
        guard let reasonKind = QuarantineReason.Kind(rawValue: kind), let stageValue = PipelineStage(rawValue: stage),
              let resumeValue = PipelineStage(rawValue: resumeAt), let stateValue = QuarantineHold.State(rawValue: state)
        else { throw corrupt("hold with reason \(kind), stage \(stage), resume \(resumeAt), state \(state)") }
        var ticket = QuarantineTicket(quarantine: row["quarantine"],
                                      reason: QuarantineReason(kind: reasonKind, detail: row["reason_detail"],
                                                               threatLevel: row["threat_level"]),
                                      stage: stageValue, retentionSeconds: row["retention_seconds"],
                                      isCopy: row["is_copy"])
        ticket.resumeAt = resumeValue
        return QuarantineHold(ticket: ticket, state: stateValue, expiresAt: date(row["expires_at"]),
                              actedBy: row["acted_by"], actedAt: date(row["acted_at"]), askedQuarantine: row["asked_quarantine"])
    }

    static func message(_ row: Row, holds: [QuarantineHold]) throws -> QuarantinedMessage {
        let qidText: String = row["qid"]
        let resumeAt: String = row["resume_at"]
        guard let qid = QID(qidText), let resume = PipelineStage(rawValue: resumeAt) else {
            throw corrupt("message \(qidText) with resume stage \(resumeAt)")
        }
        let mid: Int64 = row["gateway_mid"]
        let icid: Int64? = row["gateway_icid"]
        let removed: Double? = row["body_removed_at"]
        return QuarantinedMessage(
            qid: qid, gateway: row["gateway"], transferID: row["transfer_id"], gatewayMID: UInt64(mid),
            gatewayICID: icid.map { UInt64($0) }, mailFrom: row["mail_from"],
            recipients: try TransferValidation.decodeJSONArray(row["recipients"]), smtpUTF8: row["smtputf8"],
            receivedAt: Date(timeIntervalSince1970: row["received_at"]),
            storedAt: Date(timeIntervalSince1970: row["stored_at"]), size: row["size"],
            subject: row["subject"], messageID: row["message_id"], resumeAt: resume, holds: holds,
            hasBody: removed == nil)
    }

    static let releaseColumns = """
        r.id, r.release_id, r.requested_by, r.requested_at, r.quarantines, r.state, r.state_at, r.accepted_mid,
        r.failure_reply
        """

    static func releaseState(_ row: Row) throws -> ReleaseRequest.State {
        let state: String = row["state"]
        guard let value = ReleaseRequest.State(rawValue: state) else { throw corrupt("release state \(state)") }
        return value
    }

    /// A release joined with its message (`releaseColumns` + `messageColumns` of `m`).
    static func request(_ row: Row) throws -> ReleaseRequest {
        let message = try message(row, holds: [])
        let kindText: String = row["kind"]
        guard let kind = ReleaseRequest.Kind(rawValue: kindText) else { throw corrupt("release kind \(kindText)") }
        let recipients: String? = row["copy_recipients"]
        let optionsText: String? = row["options"]
        var options = ReleaseModifications()
        if let optionsText {
            do {
                options = try JSONDecoder().decode(ReleaseModifications.self, from: Data(optionsText.utf8))
            } catch {
                throw corrupt("release options \(optionsText)")
            }
        }
        return ReleaseRequest(
            releaseID: row["release_id"], qid: message.qid, gateway: message.gateway, gatewayMID: message.gatewayMID,
            gatewayICID: message.gatewayICID, mailFrom: message.mailFrom,
            recipients: try recipients.map(TransferValidation.decodeJSONArray) ?? message.recipients,
            smtpUTF8: message.smtpUTF8, resumeAt: kind == .copy ? .delivery : message.resumeAt,
            quarantines: try TransferValidation.decodeJSONArray(row["quarantines"]),
            requestedBy: row["requested_by"], requestedAt: Date(timeIntervalSince1970: row["requested_at"]),
            state: try releaseState(row), kind: kind, options: options)
    }

    /// `SELECT` of a release with its message, for `request(_:)`.
    static let requestSelect = """
        SELECT r.release_id, r.requested_by, r.requested_at, r.quarantines, r.state, r.kind,
               r.recipients AS copy_recipients, r.options,
               m.id, m.qid, m.gateway, m.transfer_id, m.gateway_mid, m.gateway_icid, m.mail_from, m.recipients,
               m.smtputf8, m.received_at, m.stored_at, m.size, m.subject, m.message_id, m.resume_at, m.body_removed_at
        FROM releases r JOIN messages m ON m.id = r.message
        """

    static func date(_ seconds: Double?) -> Date? {
        seconds.map { Date(timeIntervalSince1970: $0) }
    }

    static func corrupt(_ what: String) -> QuarantineStoreError {
        QuarantineStoreError(.storage, "the database holds an unknown value (\(what)); was it written by a newer Lazaret?")
    }
}
