import MailLog
import QuarantineStore
import WebUI

/// The manager's ``QuarantineActions``: the store's release and delete, a release from the
/// last quarantine put on `the.cpq.release.host` at once, and mail_logs lines for each
/// (``QuarantineActionLog``'s, then one naming the QID and the actor). The store records
/// both in its audit log with the actor (`api:NAME`).
struct ManagerQuarantineActions: QuarantineActions {
    let store: QuarantineStore
    let onReleased: @Sendable (ReleaseRequest) async -> Void
    let log: MailLog

    func release(_ qid: QID, from quarantines: Set<String>?, actor user: APIUser) async throws -> ReleaseRequest? {
        let actor = user.actor
        let before = try await store.message(qid)
        let request = try await store.release(qid, from: quarantines, by: actor, audit: AuditContext(role: user.role.rawValue))
        QuarantineActionLog.released(before, from: quarantines, fromAll: request != nil).forEach { log.info($0) }
        let named = quarantines.map { $0.sorted().map { "\"\($0)\"" }.joined(separator: ", ") } ?? "its quarantines"
        if let request {
            if request.state == .requested || request.state == .queued { await onReleased(request) }
            log.info("QID \(qid) released by \(actor) from all quarantines; release \(request.releaseID) queued for gateway \(request.gateway)")
        } else {
            log.info("QID \(qid) released by \(actor) from \(named); still held elsewhere")
        }
        return request
    }

    func delete(_ qid: QID, from quarantines: Set<String>?, actor user: APIUser) async throws {
        let actor = user.actor
        let before = try await store.message(qid)
        try await store.delete(qid, from: quarantines, by: actor, audit: AuditContext(role: user.role.rawValue))
        QuarantineActionLog.deleted(before, from: quarantines).forEach { log.info($0) }
        let named = quarantines.map { $0.sorted().map { "\"\($0)\"" }.joined(separator: ", ") } ?? "all quarantines"
        log.info("QID \(qid) deleted by \(actor) from \(named)")
    }

    func delay(_ qid: QID, by seconds: Int, in quarantines: Set<String>?, actor user: APIUser) async throws {
        let holds = try await store.delay(qid, by: seconds, in: quarantines, by: user.actor, audit: AuditContext(role: user.role.rawValue))
        let mid = try await store.message(qid)?.gatewayMID ?? 0
        for hold in holds {
            log.info("MID \(mid) exit from quarantine \"\(hold.quarantine)\" delayed by \(seconds) s to \(hold.expiresAt.map { $0.formatted(.iso8601) } ?? "?") (manual, \(user.actor))")
        }
    }

    func move(_ qid: QID, from: String, to: String, actor user: APIUser) async throws {
        let hold = try await store.move(qid, from: from, to: to, by: user.actor, audit: AuditContext(role: user.role.rawValue))
        let mid = try await store.message(qid)?.gatewayMID ?? 0
        log.info("MID \(mid) moved from quarantine \"\(from)\" to \"\(hold.quarantine)\" (manual, \(user.actor))")
    }

    func copy(_ qid: QID, to address: String, actor user: APIUser) async throws -> ReleaseRequest {
        let request = try await store.copy(qid, to: address, by: user.actor, audit: AuditContext(role: user.role.rawValue))
        log.info("MID \(request.gatewayMID) copy sent to \(address) by \(user.actor); release \(request.releaseID) queued for gateway \(request.gateway)")
        await onReleased(request)
        return request
    }

    func perform(_ action: QuarantineStore.BulkAction, on qids: [QID], visible: Set<String>?, selection: String,
                 actor user: APIUser) async throws -> [QuarantineStore.BulkActionResult] {
        var before: [QID: QuarantinedMessage] = [:]
        for qid in qids { before[qid] = try await store.message(qid) }
        let results = try await store.perform(action, on: qids, by: user.actor, visibleTo: visible,
                                              audit: AuditContext(role: user.role.rawValue, selection: selection))
        for (qid, result) in zip(qids, results) {
            guard case .refused = result else {
                let after = try await store.message(qid)
                let changed = Set((before[qid]?.holds ?? []).filter { old in
                    after?.holds.first { $0.quarantine == old.quarantine }?.state != old.state
                }.map(\.quarantine))
                switch action {
                case .release:
                    let request: ReleaseRequest? = if case .done(let request) = result { request } else { nil }
                    QuarantineActionLog.released(before[qid], from: changed, fromAll: request != nil).forEach { log.info($0) }
                    if let request, request.state == .requested || request.state == .queued { await onReleased(request) }
                case .delete:
                    QuarantineActionLog.deleted(before[qid], from: changed).forEach { log.info($0) }
                case .delay(let seconds, _):
                    log.info("MID \(after?.gatewayMID ?? 0) exit delayed by \(seconds) s (manual, \(user.actor))")
                case .move(let from, let to):
                    log.info("MID \(after?.gatewayMID ?? 0) moved from quarantine \"\(from)\" to \"\(to)\" (manual, \(user.actor))")
                }
                continue
            }
        }
        log.info("\(user.actor) applied \(action.name) to \(qids.count) message(s) selected by \(selection): \(results.filter { if case .refused = $0 { false } else { true } }.count) done")
        return results
    }

    func removeQuarantine(_ name: String, actor user: APIUser) async throws -> QuarantineStore.RemovedQuarantine {
        let removed = try await store.removeQuarantine(name, by: user.actor, audit: AuditContext(role: user.role.rawValue))
        for action in removed.actions {
            action.logLines.forEach { log.info($0) }
            if let request = action.request { await onReleased(request) }
        }
        log.info("Quarantine \"\(removed.definition.name)\" removed by \(user.actor): \(removed.actions.count) message(s) got its default action (\(removed.definition.defaultAction.rawValue)); filters naming it now send to \"Unclassified\"")
        return removed
    }

    func refused(_ action: APIRole.Action, qid: QID?, actor user: APIUser, reason: String) async {
        let audited = AuditAction(rawValue: action.rawValue)
        do {
            _ = try await store.recordAudit(audited, target: AuditTarget(qid: qid), by: AuditActor(name: user.actor, role: user.role.rawValue),
                                            outcome: .refused(reason: reason))
        } catch {
            log.warning("The refused \(action.rawValue) by \(user.actor) could not be written to the audit log: \(error)")
        }
    }
}
