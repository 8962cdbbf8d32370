import AdminCLI
import Foundation

/// The API's JSON documents the CLI reads (docs/openapi.json), decoded with
/// snake_case keys converted, and the text the CLI prints for them: the same tables and
/// lines the control-socket commands printed.
enum QuarantineDocuments {
    struct Reason: Decodable {
        let kind: String
        let detail: String
        let threatLevel: Int?

        /// `message filter:hold_it`, `outbreak:RULE threat level 4`.
        var text: String {
            threatLevel.map { "\(kind):\(detail) threat level \($0)" } ?? "\(kind):\(detail)"
        }
    }

    struct Hold: Decodable {
        let quarantine: String
        let state: String
        let reason: Reason
        let stage: String
        let copy: Bool
        let expiresAt: String?
        let actedBy: String?
        let actedAt: String?
    }

    struct Message: Decodable {
        let id: String
        let gateway: String
        let gatewayMid: UInt64
        let gatewayIcid: UInt64?
        let transferId: String?
        let receivedAt: String
        let storedAt: String
        let from: String
        let to: [String]
        let subject: String?
        let messageId: String?
        let size: Int
        let quarantines: [Hold]

        var heldIn: [String] { quarantines.filter { $0.state == "held" }.map(\.quarantine).sorted() }
    }

    struct Outcome: Decodable {
        let recipient: String
        let status: String
        let reply: String
        let at: String
    }

    struct Release: Decodable {
        let releaseId: String
        let requestedBy: String
        let requestedAt: String
        let quarantines: [String]
        let state: String
        let stateChangedAt: String
        let gatewayMid: UInt64?
        let failureReply: String?
        let outcomes: [Outcome]
    }

    /// `GET /messages/{id}`: the summary's fields plus these.
    struct MessageDetail: Decodable {
        let message: Message
        let resumeAt: String
        let smtputf8: Bool
        let bodyAvailable: Bool
        let releases: [Release]

        enum CodingKeys: String, CodingKey { case resumeAt, smtputf8, bodyAvailable, releases }

        init(from decoder: any Decoder) throws {
            message = try Message(from: decoder)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            resumeAt = try container.decode(String.self, forKey: .resumeAt)
            smtputf8 = try container.decode(Bool.self, forKey: .smtputf8)
            bodyAvailable = try container.decode(Bool.self, forKey: .bodyAvailable)
            releases = try container.decode([Release].self, forKey: .releases)
        }
    }

    struct Page: Decodable {
        let items: [Message]
        let next: String?
    }

    /// The answer to a release or delete.
    struct Action: Decodable {
        let id: String
        let action: String
        let stillHeldIn: [String]
        let releaseId: String?
        let releaseState: String?
    }

    /// The answer to `POST /messages/actions`.
    struct Bulk: Decodable {
        struct Refusal: Decodable {
            let id: String
            let detail: String
        }
        let action: String
        let matched: Int
        let done: Int
        let stillHeld: Int?
        let refused: [Refusal]
        let truncated: Bool
    }

    /// The answer to a copy (202).
    struct Copy: Decodable {
        let releaseId: String
        let to: String
    }

    struct AuditEntry: Decodable {
        let seq: Int64
        let at: String
        let actor: String
        let role: String?
        let action: String
        let id: String?
        let quarantines: [String]?
        let selection: String?
        let outcome: String
        let reason: String?
        let detail: String?
        let hash: String
    }

    struct AuditPage: Decodable {
        let items: [AuditEntry]
    }

    // MARK: Texts

    /// The table of `list` and `search`, and the next cursor when there is one.
    static func table(_ items: [Message], next: String?) -> String {
        var table = TextTable(["QID", "RECEIVED", "GATEWAY", "MID", "FROM", "TO", "SUBJECT", "QUARANTINES"], maxCellWidth: 60)
        for message in items {
            let to = (message.to.first ?? "") + (message.to.count > 1 ? " (+\(message.to.count - 1))" : "")
            table.append([message.id, message.receivedAt, message.gateway, "\(message.gatewayMid)",
                          message.from.isEmpty ? "<>" : message.from, to, message.subject ?? "",
                          message.quarantines.map { "\($0.quarantine):\($0.state)" }.joined(separator: ", ")])
        }
        var text = table.render()
        if let next { text += "\nnext cursor: \(next)" }
        return text
    }

    /// `quarantine show QID`: envelope, quarantines with reasons, release history.
    static func show(_ detail: MessageDetail) -> String {
        let message = detail.message
        let icid = message.gatewayIcid.map { " ICID \($0)" } ?? ""
        let transfer = message.transferId.map { " (transfer \($0))" } ?? ""
        let recipients = message.to.map { "<\($0)>" }.joined(separator: ", ")
        let size = "\(message.size) bytes" + (detail.bodyAvailable ? "" : " (body removed)")
        var lines: [String] = []
        lines.append("QID          \(message.id)")
        lines.append("gateway      \(message.gateway) MID \(message.gatewayMid)\(icid)\(transfer)")
        lines.append("received     \(message.receivedAt) (stored \(message.storedAt))")
        lines.append("from         <\(message.from)>")
        lines.append("to           \(recipients)")
        lines.append("subject      \(message.subject ?? "(none)")")
        lines.append("message-id   \(message.messageId ?? "(none)")")
        lines.append("size         \(size)\(detail.smtputf8 ? ", SMTPUTF8" : "")")
        lines.append("resumes at   \(detail.resumeAt) (on the gateway, once released from every quarantine)")
        lines.append("quarantines:")
        var holds = TextTable(["  QUARANTINE", "STATE", "REASON", "DETAILS"], maxCellWidth: 80)
        for hold in message.quarantines {
            var details = ["stage \(hold.stage)"]
            if let by = hold.actedBy { details.append("by \(by)" + (hold.actedAt.map { " at \($0)" } ?? "")) }
            if hold.state == "held", let expires = hold.expiresAt { details.append("expires \(expires)") }
            if hold.copy { details.append("a copy (the original went on)") }
            holds.append(["  " + quoted(hold.quarantine), hold.state, hold.reason.text, details.joined(separator: ", ")])
        }
        lines.append(holds.render())
        lines.append("releases:" + (detail.releases.isEmpty ? " none" : ""))
        for record in detail.releases {
            let names = record.quarantines.map(quoted).joined(separator: ", ")
            var line = "  release \(record.releaseId) requested by \(record.requestedBy) at \(record.requestedAt) from \(names)"
            line += ": \(record.state) since \(record.stateChangedAt)"
            if let mid = record.gatewayMid { line += ", gateway MID \(mid)" }
            if let reply = record.failureReply { line += ", gateway replied: \(reply)" }
            lines.append(line)
            for outcome in record.outcomes {
                lines.append("    <\(outcome.recipient)> \(outcome.status) at \(outcome.at): \(outcome.reply)")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The audit entries as a table, oldest first, with the latest hash under it.
    static func auditTable(_ entries: [AuditEntry]) -> String {
        guard let last = entries.last else { return "the audit log has no entries yet" }
        var table = TextTable(["SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME", "DETAIL"], maxCellWidth: 70)
        for entry in entries {
            var target: [String] = []
            if let id = entry.id { target.append(id) }
            if let quarantines = entry.quarantines { target.append("from " + quarantines.map(quoted).joined(separator: ", ")) }
            if let selection = entry.selection { target.append(entry.id == nil ? selection : "[\(selection)]") }
            let actor = entry.role.map { "\(entry.actor) (\($0))" } ?? entry.actor
            let outcome = entry.outcome == "refused" ? "refused: \(entry.reason ?? "")" : entry.outcome
            table.append(["\(entry.seq)", entry.at, TextTable.printable(actor), TextTable.printable(entry.action),
                          TextTable.printable(target.isEmpty ? "-" : target.joined(separator: " ")), TextTable.printable(outcome),
                          TextTable.printable(entry.detail ?? "")])
        }
        return table.render() + "\nlatest entry \(last.seq) hash \(last.hash) (lazaret manager audit verify checks the chain)"
    }

}

func quoted(_ name: String) -> String { "\"\(name)\"" }
