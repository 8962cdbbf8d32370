import QuarantineStore

/// What the API asks the manager to do to quarantined mail, so that the API, the control
/// socket's commands and the audit log share one path (the manager implements it: the
/// store, the release queue, mail_logs).
public protocol QuarantineActions: Sendable {
    /// Releases `qid` from `quarantines` (nil: all it is held in) for `actor`; a release from
    /// the last one is queued for delivery. Returns the store's release request, or nil
    /// while the message is still held elsewhere.
    func release(_ qid: QID, from quarantines: Set<String>?, actor: APIUser) async throws -> ReleaseRequest?
    /// Deletes `qid` from `quarantines` (nil: all) for `actor`.
    func delete(_ qid: QID, from quarantines: Set<String>?, actor: APIUser) async throws
    /// An action the caller's role may not do (for the audit log). Default: nothing.
    func refused(_ action: APIRole.Action, qid: QID?, actor: APIUser, reason: String) async
}

extension QuarantineActions {
    public func refused(_ action: APIRole.Action, qid: QID?, actor: APIUser, reason: String) async {}
}
