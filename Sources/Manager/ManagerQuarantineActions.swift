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

    func refused(_ action: APIRole.Action, qid: QID?, actor user: APIUser, reason: String) async {
        let audited: AuditAction = switch action {
        case .release: .release
        case .delete: .delete
        case .read, .download: AuditAction(rawValue: action.rawValue)
        }
        do {
            _ = try await store.recordAudit(audited, target: AuditTarget(qid: qid), by: AuditActor(name: user.actor, role: user.role.rawValue),
                                            outcome: .refused(reason: reason))
        } catch {
            log.warning("The refused \(action.rawValue) by \(user.actor) could not be written to the audit log: \(error)")
        }
    }
}
