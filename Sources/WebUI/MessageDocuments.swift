import Foundation
import QuarantineStore

/// The JSON shapes of quarantined mail in the API (docs/openapi.json). Field names are
/// snake_case; times are RFC 3339 in UTC.
struct MessageSummaryDocument: Encodable {
    struct Hold: Encodable {
        struct Reason: Encodable {
            let kind: String
            let detail: String
            let threat_level: Int?
        }
        let quarantine: String
        let state: String
        let reason: Reason
        let stage: String
        let copy: Bool
        let expires_at: String?
        let acted_by: String?
        let acted_at: String?
        /// The quarantine the gateway asked for when it was not defined here (held in Unclassified).
        let asked_quarantine: String?
    }

    let id: String
    let gateway: String
    let gateway_mid: UInt64
    let received_at: String
    let stored_at: String
    let from: String
    let to: [String]
    let subject: String?
    let message_id: String?
    let size: Int
    let quarantines: [Hold]

    /// What `user` may see: holds in other quarantines are left out (their names too).
    init(_ message: QuarantinedMessage, visible: (String) -> Bool = { _ in true }) {
        id = message.qid.rawValue
        gateway = message.gateway
        gateway_mid = message.gatewayMID
        received_at = rfc3339(message.receivedAt)
        stored_at = rfc3339(message.storedAt)
        from = message.mailFrom
        to = message.recipients
        subject = message.subject
        message_id = message.messageID
        size = message.size
        quarantines = message.holds.filter { visible($0.quarantine) }.map { hold in
            Hold(quarantine: hold.quarantine, state: hold.state.rawValue,
                 reason: .init(kind: hold.ticket.reason.kind.rawValue, detail: hold.ticket.reason.detail,
                               threat_level: hold.ticket.reason.threatLevel),
                 stage: hold.ticket.stage.rawValue, copy: hold.ticket.isCopy, expires_at: hold.expiresAt.map(rfc3339),
                 acted_by: hold.actedBy, acted_at: hold.actedAt.map(rfc3339), asked_quarantine: hold.askedQuarantine)
        }
    }
}

struct MessageDetailDocument: Encodable {
    struct Release: Encodable {
        struct Outcome: Encodable {
            let recipient: String
            let status: String
            let reply: String
            let at: String
        }
        let release_id: String
        let requested_by: String
        let requested_at: String
        let quarantines: [String]
        let state: String
        let state_changed_at: String
        let gateway_mid: UInt64?
        let failure_reply: String?
        let outcomes: [Outcome]
    }

    let message: MessageSummaryDocument
    let resume_at: String
    let smtputf8: Bool
    let body_available: Bool
    let releases: [Release]

    init(_ message: QuarantinedMessage, history: [ReleaseRecord], visible: (String) -> Bool) {
        self.message = MessageSummaryDocument(message, visible: visible)
        resume_at = message.resumeAt.rawValue
        smtputf8 = message.smtpUTF8
        body_available = message.hasBody
        releases = history.map { record in
            Release(release_id: record.releaseID, requested_by: record.requestedBy, requested_at: rfc3339(record.requestedAt),
                    quarantines: record.quarantines.filter(visible), state: record.state.rawValue,
                    state_changed_at: rfc3339(record.stateChangedAt), gateway_mid: record.acceptedMID,
                    failure_reply: record.failureReply,
                    outcomes: record.outcomes.map { .init(recipient: $0.recipient, status: $0.status.rawValue, reply: $0.reply, at: rfc3339($0.at)) })
        }
    }

    func encode(to encoder: any Encoder) throws {
        try message.encode(to: encoder)
        enum Keys: String, CodingKey { case resume_at, smtputf8, body_available, releases }
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(resume_at, forKey: .resume_at)
        try container.encode(smtputf8, forKey: .smtputf8)
        try container.encode(body_available, forKey: .body_available)
        try container.encode(releases, forKey: .releases)
    }
}

/// The answer to a release or delete.
struct ActionDocument: Encodable {
    let id: String
    let action: String
    /// The quarantines it is still held in (among those the caller may see).
    let still_held_in: [String]
    /// Set when the message was released from its last quarantine: on its way to the gateway.
    let release_id: String?
    let release_state: String?
}

func rfc3339(_ date: Date) -> String {
    date.formatted(.iso8601)
}
