import QuarantineStore

/// What the API asks the manager to do to quarantined mail, so that the API, the control
/// socket's commands and the audit log share one path (the manager implements it: the
/// store, the release queue, mail_logs). The defaults go straight to the store; the
/// manager's implementation also logs and queues releases.
public protocol QuarantineActions: Sendable {
    var store: QuarantineStore { get }
    /// Releases `qid` from `quarantines` (nil: all it is held in) for `actor`; a release from
    /// the last one is queued for delivery. Returns the store's release request, or nil
    /// while the message is still held elsewhere.
    func release(_ qid: QID, from quarantines: Set<String>?, actor: APIUser) async throws -> ReleaseRequest?
    /// Deletes `qid` from `quarantines` (nil: all) for `actor`.
    func delete(_ qid: QID, from quarantines: Set<String>?, actor: APIUser) async throws
    /// Delays the exit of `qid` from `quarantines` (nil: all it is held in) by `seconds`.
    func delay(_ qid: QID, by seconds: Int, in quarantines: Set<String>?, actor: APIUser) async throws
    /// Moves `qid` between policy quarantines, keeping reason and expiry.
    func move(_ qid: QID, from: String, to: String, actor: APIUser) async throws
    /// Sends a copy of `qid` to `address` (queued like a release).
    func copy(_ qid: QID, to address: String, actor: APIUser) async throws -> ReleaseRequest
    /// One action on many messages; `visible` limits it to the quarantines the actor sees.
    func perform(_ action: QuarantineStore.BulkAction, on qids: [QID], visible: Set<String>?, selection: String,
                 actor: APIUser) async throws -> [QuarantineStore.BulkActionResult]
    /// Removes a named quarantine; its messages get its default action.
    func removeQuarantine(_ name: String, actor: APIUser) async throws -> QuarantineStore.RemovedQuarantine
    /// An action the caller's role may not do (for the audit log). Default: nothing.
    func refused(_ action: APIRole.Action, qid: QID?, actor: APIUser, reason: String) async
}

extension QuarantineActions {
    public func delay(_ qid: QID, by seconds: Int, in quarantines: Set<String>?, actor: APIUser) async throws {
        try await store.delay(qid, by: seconds, in: quarantines, by: actor.actor, audit: AuditContext(role: actor.role.rawValue))
    }

    public func move(_ qid: QID, from: String, to: String, actor: APIUser) async throws {
        try await store.move(qid, from: from, to: to, by: actor.actor, audit: AuditContext(role: actor.role.rawValue))
    }

    public func copy(_ qid: QID, to address: String, actor: APIUser) async throws -> ReleaseRequest {
        try await store.copy(qid, to: address, by: actor.actor, audit: AuditContext(role: actor.role.rawValue))
    }

    public func perform(_ action: QuarantineStore.BulkAction, on qids: [QID], visible: Set<String>?, selection: String,
                        actor: APIUser) async throws -> [QuarantineStore.BulkActionResult] {
        try await store.perform(action, on: qids, by: actor.actor, visibleTo: visible,
                                audit: AuditContext(role: actor.role.rawValue, selection: selection))
    }

    public func removeQuarantine(_ name: String, actor: APIUser) async throws -> QuarantineStore.RemovedQuarantine {
        try await store.removeQuarantine(name, by: actor.actor, audit: AuditContext(role: actor.role.rawValue))
    }

    public func refused(_ action: APIRole.Action, qid: QID?, actor: APIUser, reason: String) async {}
}
