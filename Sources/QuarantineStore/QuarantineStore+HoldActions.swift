import Foundation
import GRDB
import Logging

/// Delay, move, copy, and one action on many messages. Each is audited like release and
/// delete (the entry in the action's own transaction; a refusal recorded too).
extension QuarantineStore {
    /// Longest delay of one action (a year).
    public static let maxDelaySeconds = 366 * 86_400

    /// Delays the exit of `qid` from `quarantines` (nil: every quarantine it is held in) by
    /// `seconds`: the expiry moves later by that much (from now, when it had already passed).
    ///
    /// - Throws: `.notHeld` when a named quarantine does not hold it (or none does),
    ///   `.invalidArgument` for a delay out of 60 s...a year, `.notFound`.
    @discardableResult
    public func delay(_ qid: QID, by seconds: Int, in quarantines: Set<String>?, by user: String,
                      audit: AuditContext = AuditContext()) async throws -> [QuarantineHold] {
        try TransferValidation.checkUser(user)
        try TransferValidation.checkQuarantines(quarantines)
        try Self.checkDelay(seconds)
        let now = options.now().timeIntervalSince1970
        return try await auditedWrite("delaying message \(qid)", .delay, qid, from: quarantines, by: user, audit, at: now,
                                      describe: { (holds: [QuarantineHold]) in
                                          "delayed \(seconds) s: " + holds.map { "\(quoted($0.quarantine)) until \(AuditChain.timeText($0.expiresAt ?? Date()))" }
                                              .joined(separator: ", ")
                                      }) { db in
            try Self.delayOne(db, qid, by: seconds, in: quarantines, at: now)
        }
    }

    static func checkDelay(_ seconds: Int) throws {
        guard (60...maxDelaySeconds).contains(seconds) else {
            throw QuarantineStoreError(.invalidArgument, "delay \(seconds) s is not 60-\(maxDelaySeconds) (a minute to a year)")
        }
    }

    static func delayOne(_ db: Database, _ qid: QID, by seconds: Int, in quarantines: Set<String>?, at now: Double) throws
        -> [QuarantineHold]
    {
        guard let row = try StoredRows.messageRow(db, qid: qid) else { throw notFound(qid) }
        let id: Int64 = row["id"]
        let holds = try StoredRows.holds(db, messages: [id])[id] ?? []
        let targets = try targets(of: quarantines, in: holds, qid: qid)
        if let gone = targets.first(where: { $0.state != .held }) {
            throw QuarantineStoreError(.notHeld, "message \(qid) is no longer held in \(quoted(gone.quarantine)) (\(gone.state.rawValue) by \(gone.actedBy ?? "?")); only held messages can be delayed")
        }
        guard !targets.isEmpty else { throw QuarantineStoreError(.notHeld, "message \(qid) is not held in any quarantine; only held messages can be delayed") }
        for hold in targets {
            let from = max(hold.expiresAt?.timeIntervalSince1970 ?? now, now)
            try db.execute(sql: "UPDATE holds SET expires_at = ? WHERE message = ? AND quarantine = ?",
                           arguments: [from + Double(seconds), id, hold.quarantine])
        }
        let names = Set(targets.map(\.quarantine))
        return (try StoredRows.holds(db, messages: [id])[id] ?? []).filter { names.contains($0.quarantine) }
    }

    /// Moves `qid` from one policy quarantine to another (`Policy` and the named ones),
    /// keeping its reason and expiry.
    ///
    /// - Throws: `.quarantine` when either is not a policy quarantine or `to` is not defined,
    ///   `.notHeld` when `from` does not hold it or it was in `to` already, `.notFound`.
    @discardableResult
    public func move(_ qid: QID, from: String, to: String, by user: String,
                     audit: AuditContext = AuditContext()) async throws -> QuarantineHold {
        try TransferValidation.checkUser(user)
        try TransferValidation.checkQuarantines([from, to])
        let now = options.now().timeIntervalSince1970
        return try await auditedWrite("moving message \(qid)", .move, qid, from: [from, to], by: user, audit, at: now,
                                      describe: { (hold: QuarantineHold) in "moved from \(quoted(from)) to \(quoted(hold.quarantine))" }) { db in
            try Self.moveOne(db, qid, from: from, to: to)
        }
    }

    static func moveOne(_ db: Database, _ qid: QID, from: String, to: String) throws -> QuarantineHold {
        guard let row = try StoredRows.messageRow(db, qid: qid) else { throw notFound(qid) }
        let id: Int64 = row["id"]
        guard let source = try DefinitionRows.one(db, from), let target = try DefinitionRows.one(db, to) else {
            let missing = try DefinitionRows.one(db, from) == nil ? from : to
            throw noQuarantine(missing)
        }
        for definition in [source, target] where !definition.isPolicyQuarantine {
            throw QuarantineStoreError(.quarantine, "\(quoted(definition.name)) is not a policy quarantine; messages move only between Policy and named policy quarantines")
        }
        let holds = try StoredRows.holds(db, messages: [id])[id] ?? []
        guard let hold = holds.first(where: { $0.quarantine == source.name }), hold.state == .held else {
            throw QuarantineStoreError(.notHeld, "message \(qid) is not held in \(quoted(source.name))")
        }
        guard source.name != target.name else {
            throw QuarantineStoreError(.notHeld, "message \(qid) is in \(quoted(target.name)) already")
        }
        if holds.contains(where: { $0.quarantine == target.name }) {
            throw QuarantineStoreError(.notHeld, "message \(qid) is (or was) in \(quoted(target.name)) already; release or delete it from \(quoted(source.name)) instead")
        }
        try db.execute(sql: "UPDATE holds SET quarantine = ? WHERE message = ? AND quarantine = ?",
                       arguments: [target.name, id, source.name])
        return (try StoredRows.holds(db, messages: [id])[id] ?? []).first { $0.quarantine == target.name }!
    }

    /// Sends a copy of `qid` to `address` through its gateway (straight to delivery, not
    /// scanned again); the message stays where it is. Returns the copy's release, to put on
    /// the release queue.
    ///
    /// - Throws: `.invalidArgument` for an address that is not `local@domain`,
    ///   `.bodyRemoved`, `.notFound`.
    public func copy(_ qid: QID, to address: String, by user: String, audit: AuditContext = AuditContext()) async throws
        -> ReleaseRequest
    {
        try TransferValidation.checkUser(user)
        try Self.checkAddress(address)
        let now = options.now().timeIntervalSince1970
        let releaseID = UUID().uuidString.lowercased()
        var context = audit
        context.selection = context.selection ?? "copy to \(address)"
        return try await auditedWrite("copying message \(qid)", .copy, qid, from: nil, by: user, context, at: now,
                                      describe: { (request: ReleaseRequest) in "copy \(request.releaseID) to \(address) for gateway \(request.gateway)" }) { db in
            guard let row = try StoredRows.messageRow(db, qid: qid) else { throw Self.notFound(qid) }
            let id: Int64 = row["id"]
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM bodies WHERE message = ?)", arguments: [id]) == true else {
                throw QuarantineStoreError(.bodyRemoved, "the body of message \(qid) is no longer stored; no copy can be sent")
            }
            let holds = try StoredRows.holds(db, messages: [id])[id] ?? []
            try db.execute(sql: """
                INSERT INTO releases (release_id, message, requested_by, requested_at, quarantines, state, state_at, kind, recipients)
                VALUES (?, ?, ?, ?, ?, 'requested', ?, 'copy', ?)
                """, arguments: [releaseID, id, user, now, try TransferValidation.jsonArray(holds.map(\.quarantine).sorted()), now,
                                 try TransferValidation.jsonArray([address])])
            return try StoredRows.request(Row.fetchOne(db, sql: StoredRows.requestSelect + " WHERE r.release_id = ?", arguments: [releaseID])!)
        }
    }

    static func checkAddress(_ address: String) throws {
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, parts[1].contains("."), address.utf8.count <= 254,
              address.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value != 127 && !"<>,;\"()[]\\".unicodeScalars.contains($0) })
        else {
            throw QuarantineStoreError(.invalidArgument, "to: \(quoted(address)) is not an address like user@example.com")
        }
    }

    // MARK: One action, many messages

    /// An action on a selection of messages (`perform(_:on:by:audit:)`).
    public enum BulkAction: Sendable, Hashable {
        case release(from: Set<String>?)
        case delete(from: Set<String>?)
        case delay(seconds: Int, in: Set<String>?)
        case move(from: String, to: String)

        /// `release`, `delete`, `delay`, `move`.
        public var name: String { auditAction.rawValue }

        var auditAction: AuditAction {
            switch self {
            case .release: .release
            case .delete: .delete
            case .delay: .delay
            case .move: .move
            }
        }

        var quarantines: Set<String>? {
            switch self {
            case .release(let from), .delete(let from): from
            case .delay(_, let quarantines): quarantines
            case .move(let from, let to): [from, to]
            }
        }
    }

    /// What a bulk action did to one message.
    public enum BulkActionResult: Sendable, Hashable {
        /// Done; for a release from the last quarantine, the release to queue.
        case done(ReleaseRequest?)
        /// Released from the named quarantines and still held in another.
        case stillHeld
        /// Refused; nothing changed for this message.
        case refused(QuarantineStoreError)
    }

    /// Applies `action` to each of `qids` in one transaction (one disk sync); a message the
    /// store refuses changes nothing and does not stop the others. Each message gets its own
    /// audit entry (refusals too), with `audit.selection` saying how the selection was made.
    ///
    /// With `visibleTo` (the quarantines the user may see), each message is acted on only in
    /// those: a named quarantine outside them is "not held" (its name tells nothing), no
    /// quarantines named means the visible ones the message is in, and a message in none of
    /// them is "not found".
    public func perform(_ action: BulkAction, on qids: [QID], by user: String, visibleTo visible: Set<String>? = nil,
                        audit: AuditContext = AuditContext()) async throws -> [BulkActionResult] {
        try TransferValidation.checkUser(user)
        try TransferValidation.checkQuarantines(action.quarantines)
        if case .delay(let seconds, _) = action { try Self.checkDelay(seconds) }
        let now = options.now().timeIntervalSince1970
        let logger = options.logger
        return try await write("\(action.auditAction) of \(qids.count) messages") { db in
            // Holds of messages the caller may not see are never touched.
            var results: [BulkActionResult] = []
            results.reserveCapacity(qids.count)
            for qid in qids {
                do {
                    var result = BulkActionResult.done(nil)
                    try db.inSavepoint {
                        let scope = try Self.scope(db, qid, asked: action.quarantines, visible: visible)
                        _ = try AuditLog.recordAction(db, action.auditAction, qid, from: scope, by: user, audit, at: now,
                                                  describe: AuditLog.describeRelease) { () -> ReleaseRequest? in
                            switch action {
                            case .release:
                                let request = try Self.releaseOne(db, qid, from: scope, by: user, at: now, logger: logger)
                                result = request.map { .done($0) } ?? .stillHeld
                                return request
                            case .delete:
                                try Self.deleteOne(db, qid, from: scope, by: user, at: now, logger: logger)
                            case .delay(let seconds, _):
                                _ = try Self.delayOne(db, qid, by: seconds, in: scope, at: now)
                            case .move(let from, let to):
                                _ = try Self.moveOne(db, qid, from: from, to: to)
                            }
                            return nil
                        }
                        return .commit
                    }
                    results.append(result)
                } catch let error as QuarantineStoreError where error.code != .storage {
                    try AuditLog.recordRefusal(db, action.auditAction, qid, from: action.quarantines, by: user, audit, at: now, error)
                    results.append(.refused(error))
                }
            }
            return results
        }
    }
}

extension QuarantineStore {
    /// The quarantines an action on `qid` applies to for a user who sees `visible` (nil:
    /// everything): `asked` when all of them are visible, else the visible ones it is in.
    static func scope(_ db: Database, _ qid: QID, asked: Set<String>?, visible: Set<String>?) throws -> Set<String>? {
        guard let visible else { return asked }
        if let asked {
            if let hidden = asked.sorted().first(where: { !visible.contains($0) }) {
                throw QuarantineStoreError(.notHeld, "message \(qid) is not held in \(quoted(hidden))")
            }
            return asked
        }
        guard let row = try StoredRows.messageRow(db, qid: qid) else { throw notFound(qid) }
        let id: Int64 = row["id"]
        let holds = (try StoredRows.holds(db, messages: [id])[id] ?? []).filter { visible.contains($0.quarantine) }
        guard !holds.isEmpty else { throw notFound(qid) }
        let held = holds.filter { $0.state == .held }
        return Set((held.isEmpty ? holds : held).map(\.quarantine))
    }
}
