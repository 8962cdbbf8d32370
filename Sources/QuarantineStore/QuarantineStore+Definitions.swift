import Foundation
import GRDB

/// Quarantine definitions: the four system quarantines and the named policy quarantines
/// administrators add. Each change is audited in its own transaction.
extension QuarantineStore {
    /// Every defined quarantine: the system ones first, then the named ones by name.
    public func quarantines() async throws -> [QuarantineDefinition] {
        try await read("reading quarantine definitions") { db in try DefinitionRows.all(db) }
    }

    /// The quarantine named `name` (any case), or nil.
    public func quarantine(named name: String) async throws -> QuarantineDefinition? {
        try await read("reading quarantine \(quoted(name))") { db in try DefinitionRows.one(db, name) }
    }

    /// Adds a named policy quarantine.
    ///
    /// - Throws: `.quarantine` when the definition is not valid (the message names each
    ///   field), names a system quarantine, or a quarantine of that name exists (names are
    ///   unique whatever the case).
    public func addQuarantine(_ definition: QuarantineDefinition, by user: String,
                              audit: AuditContext = AuditContext()) async throws {
        try TransferValidation.checkUser(user)
        var policy = definition
        policy.kind = .policy
        let definition = policy
        let problems = definition.problems()
        guard problems.isEmpty else { throw QuarantineStoreError(.quarantine, problems.joined(separator: "; ")) }
        let now = options.now().timeIntervalSince1970
        _ = try await definitionWrite(.quarantineAdd, definition.name, by: user, audit, at: now) { db in
            if let existing = try DefinitionRows.one(db, definition.name) {
                throw QuarantineStoreError(.quarantine, "a quarantine named \(quoted(existing.name)) exists already (names are unique whatever the case, and never reused for another)")
            }
            try DefinitionRows.insert(db, definition, at: now, by: user)
            return "retention \(definition.retentionSeconds) s, default action \(definition.defaultAction.rawValue)"
        }
    }

    /// Changes a quarantine's settings (retention, default action, free up space, release
    /// options, visibility). The name and kind never change. A new retention applies to
    /// messages stored from now on; held messages keep their expiry.
    public func updateQuarantine(_ definition: QuarantineDefinition, by user: String,
                                 audit: AuditContext = AuditContext()) async throws {
        try TransferValidation.checkUser(user)
        let problems = definition.problems()
        guard problems.isEmpty else { throw QuarantineStoreError(.quarantine, problems.joined(separator: "; ")) }
        let now = options.now().timeIntervalSince1970
        _ = try await definitionWrite(.quarantineChange, definition.name, by: user, audit, at: now) { db in
            guard let existing = try DefinitionRows.one(db, definition.name) else { throw Self.noQuarantine(definition.name) }
            var changed = definition
            changed.name = existing.name
            changed.kind = existing.kind
            try DefinitionRows.update(db, changed)
            return "retention \(changed.retentionSeconds) s, default action \(changed.defaultAction.rawValue), free up space \(changed.freeUpSpace)"
        }
    }

    /// What removing a quarantine did.
    public struct RemovedQuarantine: Sendable, Hashable {
        /// The definition as it was.
        public var definition: QuarantineDefinition
        /// Messages it held that got its default action.
        public var actions: [HeldMessageAction]
    }

    /// Removes a named policy quarantine: every message it holds gets the quarantine's
    /// default action now (released from it, or deleted from it), then the definition goes.
    /// Transfers naming it from now on are held in `Unclassified`. One transaction: all or
    /// nothing.
    ///
    /// - Throws: `.quarantine` for a system quarantine or an unknown name.
    public func removeQuarantine(_ name: String, by user: String, audit: AuditContext = AuditContext()) async throws
        -> RemovedQuarantine
    {
        try TransferValidation.checkUser(user)
        let now = options.now().timeIntervalSince1970
        let logger = options.logger
        return try await definitionWrite(.quarantineRemove, name, by: user, audit, at: now, describe: { removed in
            "\(removed.actions.count) held message(s) got the default action \(removed.definition.defaultAction.rawValue)"
        }) { db in
            guard let definition = try DefinitionRows.one(db, name) else { throw Self.noQuarantine(name) }
            guard definition.kind == .policy else {
                throw QuarantineStoreError(.quarantine, "\(quoted(definition.name)) is a system quarantine; Policy, Virus, Outbreak and Unclassified cannot be removed")
            }
            var context = audit
            context.selection = "quarantine \(quoted(definition.name)) removed"
            let held = try Row.fetchAll(db, sql: """
                SELECT m.qid FROM holds h JOIN messages m ON m.id = h.message
                WHERE h.quarantine = ? AND h.state = 'held' ORDER BY h.message
                """, arguments: [definition.name])
            var actions: [HeldMessageAction] = []
            for row in held {
                let qid = QID(row["qid"] as String)!
                actions.append(try Retention.applyDefault(db, qid, quarantine: definition.name, action: definition.defaultAction,
                                                          by: user, context, at: now, reason: .quarantineRemoved, logger: logger))
            }
            try db.execute(sql: "DELETE FROM quarantines WHERE name = ?", arguments: [definition.name])
            return RemovedQuarantine(definition: definition, actions: actions)
        }
    }

    static func noQuarantine(_ name: String) -> QuarantineStoreError {
        QuarantineStoreError(.quarantine, "no quarantine is named \(quoted(name)); `GET /api/v1/quarantines` lists them")
    }

    /// A write that changes a definition, with its audit entry in the same transaction (a
    /// refusal is recorded with a write of its own).
    private func definitionWrite<T: Sendable>(_ action: AuditAction, _ name: String, by user: String, _ audit: AuditContext,
                                              at now: Double, describe: @escaping @Sendable (T) -> String? = { $0 as? String },
                                              _ updates: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let actor = AuditActor(name: user, role: audit.role)
        let target = AuditTarget(quarantines: [name], selection: audit.selection)
        do {
            return try await write("changing quarantine \(quoted(name))") { db in
                let result = try updates(db)
                _ = try AuditLog.append(db, at: Date(timeIntervalSince1970: now), actor: actor, action: action, target: target,
                                        outcome: .ok, detail: describe(result))
                return result
            }
        } catch let error as QuarantineStoreError where error.code != .storage {
            _ = try? await write("recording a refused \(action)") { db in
                try AuditLog.append(db, at: Date(timeIntervalSince1970: now), actor: actor, action: action, target: target,
                                    outcome: .refused(reason: error.message), detail: nil)
            }
            throw error
        }
    }
}

extension AuditAction {
    public static let quarantineAdd = AuditAction(rawValue: "quarantine-add")
    public static let quarantineChange = AuditAction(rawValue: "quarantine-change")
    public static let quarantineRemove = AuditAction(rawValue: "quarantine-remove")
}
