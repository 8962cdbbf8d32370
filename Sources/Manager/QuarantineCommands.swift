import AdminCLI
import Foundation
import QuarantineStore

/// The `quarantine list|show|release|delete` commands of the manager's control socket,
/// run against the manager's own `QuarantineStore` (the store is locked by the manager,
/// so the CLI never opens it itself). Every answer is text for the admin; every refusal
/// is the store's message (unknown QID, deleted message, not held there...) or names the
/// bad option. Release and delete are recorded in the store's audit log with the `--user`
/// as actor (refusals too), and in mail_logs.
public struct QuarantineCommands: Sendable {
    public let store: QuarantineStore
    /// Called with the release request when a message is released from its last
    /// quarantine: the release queue takes it from here. Repeating a release of the same
    /// message calls it again with the same release id (the queue must not send twice).
    public let onReleased: @Sendable (ReleaseRequest) async -> Void
    /// Gets the mail_logs lines of each release or delete: `MID 483 released from quarantine
    /// "Policy" (manual)`, `MID 483 released from all quarantines`, `MID 484 deleted from
    /// quarantine "Virus" (manual)`, and one line naming the QID and the user.
    public let mailLog: @Sendable (String) -> Void
    /// Who acts when the command has no `--user` (`cli:<unix user>`).
    public let defaultUser: String

    /// Default page size of `quarantine list`.
    public static let defaultListLimit = 50

    public init(store: QuarantineStore, onReleased: @escaping @Sendable (ReleaseRequest) async -> Void = { _ in },
                mailLog: @escaping @Sendable (String) -> Void = { _ in }, defaultUser: String = QuarantineCommands.processUser()) {
        self.store = store
        self.onReleased = onReleased
        self.mailLog = mailLog
        self.defaultUser = defaultUser
    }

    /// `cli:` and the name of the user this process runs as.
    public static func processUser() -> String {
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name {
            return "cli:" + String(cString: name)
        }
        return "cli:" + (ProcessInfo.processInfo.environment["USER"] ?? "uid\(geteuid())")
    }

    /// The four commands, for a `CommandTable`.
    public var commands: [ControlCommand] {
        [
            ControlCommand(["quarantine", "list"], arguments: "[--quarantine NAME] [--limit N] [--cursor C]",
                           summary: "messages still held, newest first (\(Self.defaultListLimit) at a time; --limit 1-\(QuarantineStoreOptions.maxListLimit))",
                           run: list),
            ControlCommand(["quarantine", "search"],
                           arguments: "[--text T] [--from A] [--rcpt A] [--subject S] [--gateway G] [--quarantine Q] [--reason R] [--order newest|oldest|largest|smallest] [--limit N] [--cursor C]",
                           summary: "held messages matching every filter given (full text of headers and body with --text)", run: search),
            ControlCommand(["quarantine", "show"], arguments: "QID",
                           summary: "one message: envelope, quarantines with reasons, release history", run: show),
            ControlCommand(["quarantine", "release"], arguments: "QID [--from Q1,Q2] [--user NAME]",
                           summary: "release from the named quarantines (all by default); delivered once released from all",
                           run: release),
            ControlCommand(["quarantine", "release-all"], arguments: "[--quarantine NAME] [--user NAME]",
                           summary: "release every held message (from NAME only, or from all its quarantines)",
                           run: releaseAll),
            ControlCommand(["quarantine", "delete"], arguments: "QID [--from Q1,Q2] [--user NAME]",
                           summary: "delete from the named quarantines (all by default); never delivered", run: delete),
        ]
    }

    // MARK: Commands

    /// `quarantine list [--quarantine NAME] [--limit N] [--cursor C]`
    public func list(_ args: [String]) async -> ControlResponse {
        await answer {
            let arguments = try CommandArguments(args, options: ["quarantine", "limit", "cursor"])
            _ = try arguments.requirePositional(0, usage: "quarantine list [--quarantine NAME] [--limit N] [--cursor C]")
            let limit = try arguments.integer("limit", in: 1...QuarantineStoreOptions.maxListLimit) ?? Self.defaultListLimit
            let quarantine = arguments.value("quarantine")
            let page = try await store.list(quarantine: quarantine, limit: limit, after: arguments.value("cursor"))
            guard !page.items.isEmpty else {
                return "no messages held" + (quarantine.map { " in \(quoted($0))" } ?? "")
                    + (arguments.value("cursor") == nil ? "" : " after this cursor")
            }
            return Self.render(page.items, next: page.next)
        }
    }

    /// `quarantine search [--text T] [--from A] ...`: the store's search (docs/QUARANTINE-STORE.md, "Search").
    public func search(_ args: [String]) async -> ControlResponse {
        await answer {
            let arguments = try CommandArguments(args, options: ["text", "from", "rcpt", "subject", "gateway", "quarantine", "reason",
                                                                 "order", "limit", "cursor"])
            _ = try arguments.requirePositional(0, usage: "quarantine search [--text T] [--from A] [--rcpt A] [--subject S] [--gateway G] [--quarantine Q] [--reason R] [--order O] [--limit N] [--cursor C]")
            var query = SearchQuery(text: arguments.value("text"), sender: arguments.value("from"), recipient: arguments.value("rcpt"),
                                    subject: arguments.value("subject"), gateway: arguments.value("gateway"),
                                    quarantine: arguments.value("quarantine"), reason: arguments.value("reason"),
                                    limit: try arguments.integer("limit", in: 1...SearchQuery.maxLimit) ?? Self.defaultListLimit,
                                    cursor: arguments.value("cursor"))
            if let order = arguments.value("order") {
                guard let parsed = SearchQuery.Order(rawValue: order) else {
                    throw CommandArgumentError("--order \(quoted(order)): use newest, oldest, largest or smallest")
                }
                query.order = parsed
            }
            let page = try await store.search(query)
            guard !page.items.isEmpty else { return "no held message matches" + (query.cursor == nil ? "" : " after this cursor") }
            return Self.render(page.items, next: page.next)
        }
    }

    /// The table of `list` and `search`, and the next cursor when there is one.
    static func render(_ items: [QuarantinedMessage], next: String?) -> String {
        var table = TextTable(["QID", "RECEIVED", "GATEWAY", "MID", "FROM", "TO", "SUBJECT", "QUARANTINES"], maxCellWidth: 60)
        for message in items {
            let to = (message.recipients.first ?? "") + (message.recipients.count > 1 ? " (+\(message.recipients.count - 1))" : "")
            table.append([message.qid.rawValue, time(message.receivedAt), message.gateway, "\(message.gatewayMID)",
                          message.mailFrom.isEmpty ? "<>" : message.mailFrom, to, message.subject ?? "",
                          message.holds.map { "\($0.quarantine):\($0.state.rawValue)" }.joined(separator: ", ")])
        }
        var text = table.render()
        if let next { text += "\nnext cursor: \(next)" }
        return text
    }

    /// `quarantine show QID`
    public func show(_ args: [String]) async -> ControlResponse {
        await answer {
            let arguments = try CommandArguments(args, options: [])
            let qid = try Self.qid(try arguments.requirePositional(1, usage: "quarantine show QID")[0])
            guard let message = try await store.message(qid) else {
                throw QuarantineStoreError(.notFound, "no quarantined message has QID \(qid); quarantine list shows the QIDs")
            }
            let history = try await store.releaseHistory(qid)
            let icid = message.gatewayICID.map { " ICID \($0)" } ?? ""
            let recipients = message.recipients.map { "<\($0)>" }.joined(separator: ", ")
            let size = "\(message.size) bytes" + (message.hasBody ? "" : " (body removed)")
            var lines: [String] = []
            lines.append("QID          \(message.qid)")
            lines.append("gateway      \(message.gateway) MID \(message.gatewayMID)\(icid) (transfer \(message.transferID))")
            lines.append("received     \(time(message.receivedAt)) (stored \(time(message.storedAt)))")
            lines.append("from         <\(message.mailFrom)>")
            lines.append("to           \(recipients)")
            lines.append("subject      \(message.subject ?? "(none)")")
            lines.append("message-id   \(message.messageID ?? "(none)")")
            lines.append("size         \(size)\(message.smtpUTF8 ? ", SMTPUTF8" : "")")
            lines.append("resumes at   \(message.resumeAt.rawValue) (on the gateway, once released from every quarantine)")
            lines.append("quarantines:")
            var holds = TextTable(["  QUARANTINE", "STATE", "REASON", "DETAILS"], maxCellWidth: 80)
            for hold in message.holds {
                var details = ["stage \(hold.ticket.stage.rawValue)"]
                if let by = hold.actedBy { details.append("by \(by)" + (hold.actedAt.map { " at \(time($0))" } ?? "")) }
                if hold.state == .held, let expires = hold.expiresAt { details.append("expires \(time(expires))") }
                if hold.ticket.isCopy { details.append("a copy (the original went on)") }
                holds.append(["  " + quoted(hold.quarantine), hold.state.rawValue, hold.ticket.reason.description,
                              details.joined(separator: ", ")])
            }
            lines.append(holds.render())
            lines.append("releases:" + (history.isEmpty ? " none" : ""))
            for record in history {
                let names = record.quarantines.map(quoted).joined(separator: ", ")
                var line = "  release \(record.releaseID) requested by \(record.requestedBy) at \(time(record.requestedAt)) from \(names)"
                line += ": \(record.state.rawValue) since \(time(record.stateChangedAt))"
                if let mid = record.acceptedMID { line += ", gateway MID \(mid)" }
                if let reply = record.failureReply { line += ", gateway replied: \(reply)" }
                lines.append(line)
                for outcome in record.outcomes {
                    lines.append("    <\(outcome.recipient)> \(outcome.status.rawValue) at \(time(outcome.at)): \(outcome.reply)")
                }
            }
            return lines.joined(separator: "\n")
        }
    }

    /// `quarantine release QID [--from Q1,Q2] [--user NAME]`
    public func release(_ args: [String]) async -> ControlResponse {
        await answer {
            let (qid, from, user) = try Self.action(args, usage: "quarantine release QID [--from Q1,Q2] [--user NAME]", defaultUser: defaultUser)
            let before = try await store.message(qid)
            let request = try await store.release(qid, from: from, by: user)
            let named = from.map { $0.sorted().map(quoted).joined(separator: ", ") }
            let releasedNow = logReleases(before, from: from, releasedFromAll: request != nil)
            guard let request else {
                let held = try await store.message(qid)?.heldIn ?? []
                let text = "QID \(qid) released from \(named ?? "its quarantines"); still held in \(held.map(quoted).joined(separator: ", "))"
                mailLog("QID \(qid) released by \(user) from \(named ?? "its quarantines"); still held in \(held.map(quoted).joined(separator: ", "))")
                return text
            }
            switch request.state {
            case .requested, .queued:
                await onReleased(request)
                if releasedNow {
                    mailLog("QID \(qid) released by \(user) from all quarantines; release \(request.releaseID) queued for gateway \(request.gateway)")
                }
                return "QID \(qid) released from all quarantines; release \(request.releaseID) queued for gateway \(request.gateway)"
            case .accepted, .failed:
                return "QID \(qid) was already released from all quarantines; release \(request.releaseID) is \(request.state.rawValue) (gateway \(request.gateway))"
            }
        }
    }

    /// `quarantine release-all [--quarantine NAME] [--user NAME]`: every message held (in
    /// NAME), released from NAME or from all its quarantines; each goes out once released
    /// from all. Messages the store refuses (deleted meanwhile) are counted, not fatal.
    public func releaseAll(_ args: [String]) async -> ControlResponse {
        await answer {
            let arguments = try CommandArguments(args, options: ["quarantine", "user"])
            _ = try arguments.requirePositional(0, usage: "quarantine release-all [--quarantine NAME] [--user NAME]")
            let quarantine = arguments.value("quarantine")
            let user = arguments.value("user") ?? defaultUser
            guard !user.isEmpty else { throw CommandArgumentError("--user needs a name (who releases)") }
            var released = 0, stillHeld = 0, refused: [String] = []
            var cursor: String?
            let selection = "quarantine release-all" + (quarantine.map { " --quarantine \($0)" } ?? "")
            repeat {
                let page = try await store.list(quarantine: quarantine, limit: QuarantineStoreOptions.maxListLimit, after: cursor)
                // One commit per page, not one per message.
                let results = try await store.release(page.items.map(\.qid), from: quarantine.map { [$0] }, by: user,
                                                      audit: AuditContext(selection: selection))
                for (message, result) in zip(page.items, results) {
                    switch result {
                    case .released(let request):
                        logReleases(message, from: quarantine.map { [$0] }, releasedFromAll: true)
                        if request.state == .requested || request.state == .queued { await onReleased(request) }
                        released += 1
                    case .stillHeld:
                        logReleases(message, from: quarantine.map { [$0] }, releasedFromAll: false)
                        stillHeld += 1
                    case .refused(let error):
                        refused.append("\(message.qid): \(error.message)")
                    }
                }
                cursor = page.next
            } while cursor != nil
            let scope = quarantine.map { "from \(quoted($0))" } ?? "from all their quarantines"
            mailLog("\(released + stillHeld) message(s) released by \(user) \(scope): \(released) for delivery, \(stillHeld) still held elsewhere, \(refused.count) refused")
            var text = "\(released + stillHeld) message(s) released \(scope): \(released) queued for delivery, \(stillHeld) still held in another quarantine"
            if !refused.isEmpty { text += "\n\(refused.count) refused:\n" + refused.prefix(20).map { "  " + $0 }.joined(separator: "\n") }
            return text
        }
    }

    /// `quarantine delete QID [--from Q1,Q2] [--user NAME]`
    public func delete(_ args: [String]) async -> ControlResponse {
        await answer {
            let (qid, from, user) = try Self.action(args, usage: "quarantine delete QID [--from Q1,Q2] [--user NAME]", defaultUser: defaultUser)
            let before = try await store.message(qid)
            try await store.delete(qid, from: from, by: user)
            QuarantineActionLog.deleted(before, from: from).forEach(mailLog)
            let held = try await store.message(qid)?.heldIn ?? []
            let named = from.map { $0.sorted().map(quoted).joined(separator: ", ") } ?? "all quarantines"
            mailLog("QID \(qid) deleted by \(user) from \(named)")
            return "QID \(qid) deleted from \(named); it will never be delivered"
                + (held.isEmpty ? "" : " (still listed in \(held.map(quoted).joined(separator: ", ")) until deleted there or expired)")
        }
    }

    // MARK: Helpers

    /// Writes the `MID ... released from quarantine ...` lines (``QuarantineActionLog``) of
    /// `message` as it was before the release; returns whether any hold was released.
    @discardableResult
    private func logReleases(_ message: QuarantinedMessage?, from: Set<String>?, releasedFromAll: Bool) -> Bool {
        let lines = QuarantineActionLog.released(message, from: from, fromAll: releasedFromAll)
        lines.forEach(mailLog)
        return !lines.isEmpty
    }

    /// Runs `body`; argument and store errors become `ok: false` with their message.
    private func answer(_ body: () async throws -> String) async -> ControlResponse {
        do {
            return .success(try await body())
        } catch let error as CommandArgumentError {
            return .failure(error.description)
        } catch let error as QuarantineStoreError {
            return .failure(error.message)
        } catch {
            return .failure("\(error)")
        }
    }

    /// QID, `--from` and `--user` of release and delete.
    private static func action(_ args: [String], usage: String, defaultUser: String) throws -> (QID, Set<String>?, String) {
        let arguments = try CommandArguments(args, options: ["from", "user"])
        let qid = try qid(try arguments.requirePositional(1, usage: usage)[0])
        let user = arguments.value("user") ?? defaultUser
        guard !user.isEmpty else { throw CommandArgumentError("--user needs a name (who releases or deletes)") }
        return (qid, try arguments.list("from").map(Set.init), user)
    }

    private static func qid(_ text: String) throws -> QID {
        guard let qid = QID(text.uppercased()) else {
            throw CommandArgumentError("\(quoted(text)) is not a QID (Q and 16 characters A-Z or 2-7, as quarantine list shows them)")
        }
        return qid
    }
}

private func quoted(_ name: String) -> String { "\"\(name)\"" }

/// UTC, to the second: `2026-09-21T12:26:40Z`.
private func time(_ date: Date) -> String { date.formatted(.iso8601) }
