import MailLog
import QuarantineStore
import WebUI

/// The manager's ``QuarantineActions``: the store's release and delete, a release from the
/// last quarantine put on `the.cpq.release.host` at once, and a mail_logs line for each.
struct ManagerQuarantineActions: QuarantineActions {
    let store: QuarantineStore
    let onReleased: @Sendable (ReleaseRequest) async -> Void
    let log: MailLog

    func release(_ qid: QID, from quarantines: Set<String>?, actor: String) async throws -> ReleaseRequest? {
        let request = try await store.release(qid, from: quarantines, by: actor)
        let named = quarantines.map { $0.sorted().map { "\"\($0)\"" }.joined(separator: ", ") } ?? "its quarantines"
        if let request {
            if request.state == .requested || request.state == .queued { await onReleased(request) }
            log.info("QID \(qid) released by \(actor) from all quarantines; release \(request.releaseID) queued for gateway \(request.gateway)")
        } else {
            log.info("QID \(qid) released by \(actor) from \(named); still held elsewhere")
        }
        return request
    }

    func delete(_ qid: QID, from quarantines: Set<String>?, actor: String) async throws {
        try await store.delete(qid, from: quarantines, by: actor)
        let named = quarantines.map { $0.sorted().map { "\"\($0)\"" }.joined(separator: ", ") } ?? "all quarantines"
        log.info("QID \(qid) deleted by \(actor) from \(named)")
    }
}
