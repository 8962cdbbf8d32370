import Foundation
import GRDB
import Logging

/// What a default action did to one held message (at expiry, to free space, or because its
/// quarantine was removed): the lines mail_logs gets and the release to queue.
public struct HeldMessageAction: Sendable, Hashable {
    public enum Reason: String, Sendable, Hashable {
        /// Its retention ended (`(expired)` in mail_logs).
        case expired
        /// The store was over its quota and the quarantine allows freeing space early.
        case freeUpSpace = "free up space"
        /// Its quarantine was removed.
        case quarantineRemoved = "quarantine removed"
    }

    public var qid: QID
    /// The originating gateway's MID (mail_logs names messages by it).
    public var gatewayMID: UInt64
    public var quarantine: String
    public var action: QuarantineDefinition.DefaultAction
    public var reason: Reason
    /// Released from its last quarantine: the release to put on `the.cpq.release.host`.
    public var request: ReleaseRequest?
    /// Why the store could not apply it (the hold stays; tried again later), or nil.
    public var problem: String?

    /// mail_logs: `MID 484 deleted from quarantine "Virus" (expired)`, then
    /// `MID 484 released from all quarantines` when it goes out.
    public var logLines: [String] {
        if let problem { return ["MID \(gatewayMID) QID \(qid) could not be \(action == .release ? "released" : "deleted") from quarantine \(quoted(quarantine)) (\(reason.rawValue)): \(problem)"] }
        var lines = ["MID \(gatewayMID) \(action == .release ? "released" : "deleted") from quarantine \(quoted(quarantine)) (\(reason.rawValue))"]
        if request != nil { lines.append("MID \(gatewayMID) released from all quarantines") }
        return lines
    }
}

/// How full the store is against its quota.
public struct StoreUsage: Sendable, Hashable, Codable {
    /// Bytes of message bodies stored (metadata and indexes not counted).
    public var bodyBytes: Int64
    /// Bodies stored.
    public var bodies: Int64
    /// The quota (`QuarantineStoreOptions.quotaBytes`), nil when none.
    public var quotaBytes: Int64?

    /// Percent of the quota used (0 without a quota).
    public var percent: Double {
        guard let quotaBytes, quotaBytes > 0 else { return 0 }
        return Double(bodyBytes) * 100 / Double(quotaBytes)
    }

    /// The highest alert level reached: 95, 85, 75, or nil below 75% (or without a quota).
    public var alertLevel: Int? { StoreUsage.alertLevels.last { percent >= Double($0) } }

    public static let alertLevels = [75, 85, 95]
}

/// The store's side of retention and quota: finding held messages whose retention ended,
/// applying their quarantine's default action, removing bodies nothing needs any more, and
/// freeing space early. The manager's sweeper calls these on a timer with its clock.
enum Retention {
    /// The actor of actions the sweeper takes: in holds, releases and the audit log.
    static let expiryActor = "system:expiry"
    static let freeUpActor = "system:free-up-space"

    /// Applies `action` to `qid`'s hold in `quarantine`, audited with its reason, inside the
    /// caller's transaction (a savepoint: a refusal changes nothing and is returned).
    static func applyDefault(_ db: Database, _ qid: QID, quarantine: String, action: QuarantineDefinition.DefaultAction,
                             by user: String, _ context: AuditContext, at now: Double, reason: HeldMessageAction.Reason,
                             logger: Logger) throws -> HeldMessageAction {
        guard let row = try StoredRows.messageRow(db, qid: qid) else { throw QuarantineStore.notFound(qid) }
        let mid = UInt64(row["gateway_mid"] as Int64)
        var result = HeldMessageAction(qid: qid, gatewayMID: mid, quarantine: quarantine, action: action, reason: reason)
        var context = context
        context.selection = context.selection ?? reason.rawValue
        do {
            try db.inSavepoint {
                switch action {
                case .release:
                    do {
                        result.request = try AuditLog.recordAction(db, .release, qid, from: [quarantine], by: user, context, at: now,
                                                                   describe: AuditLog.describeRelease) {
                            try QuarantineStore.releaseOne(db, qid, from: [quarantine], by: user, at: now, logger: logger)
                        }
                    } catch let error as QuarantineStoreError where error.code == .deleted {
                        // Deleted from another quarantine: it is never delivered, so this
                        // hold ends deleted too.
                        result.action = .delete
                        try AuditLog.recordAction(db, .delete, qid, from: [quarantine], by: user, context, at: now) {
                            try QuarantineStore.deleteOne(db, qid, from: [quarantine], by: user, at: now, logger: logger)
                        }
                    }
                case .delete:
                    try AuditLog.recordAction(db, .delete, qid, from: [quarantine], by: user, context, at: now) {
                        try QuarantineStore.deleteOne(db, qid, from: [quarantine], by: user, at: now, logger: logger)
                    }
                }
                return .commit
            }
        } catch let error as QuarantineStoreError where error.code != .storage {
            result.problem = error.message
            try AuditLog.recordRefusal(db, action == .release ? .release : .delete, qid, from: [quarantine], by: user,
                                       context, at: now, error)
        }
        return result
    }

    /// The definitions by name, with Unclassified's answering for removed quarantines.
    static func definitions(_ db: Database) throws -> (byName: [String: QuarantineDefinition], fallback: QuarantineDefinition) {
        let all = try DefinitionRows.all(db)
        var byName: [String: QuarantineDefinition] = [:]
        for definition in all { byName[definition.name] = definition }
        let fallback = byName[QuarantineDefinition.unclassified]
            ?? QuarantineDefinition.systemDefaults.first { $0.name == QuarantineDefinition.unclassified }!
        return (byName, fallback)
    }
}

extension QuarantineStore {
    /// Bodies stored and the quota.
    public func usage() async throws -> StoreUsage {
        let quota = options.quotaBytes
        return try await read("reading the store's usage") { db in
            let row = try Row.fetchOne(db, sql: "SELECT body_bytes, bodies FROM store_usage WHERE id = 1")
            return StoreUsage(bodyBytes: row?["body_bytes"] ?? 0, bodies: row?["bodies"] ?? 0, quotaBytes: quota)
        }
    }

    /// Applies the default action of each hold whose retention ended by `now` (oldest expiry
    /// first, at most `limit` in one transaction; call again while it returns `limit`).
    /// A hold in a quarantine that was removed gets Unclassified's default action. A release
    /// refused because the message was deleted elsewhere ends as a delete (it is never
    /// delivered); any other refusal leaves the hold and is reported in `problem`, and the
    /// hold is tried again an hour later.
    public func expire(now: Date, limit: Int = 500) async throws -> [HeldMessageAction] {
        let at = now.timeIntervalSince1970
        let logger = options.logger
        return try await write("applying default actions at expiry") { db in
            let (byName, fallback) = try Retention.definitions(db)
            let due = try Row.fetchAll(db, sql: """
                SELECT m.qid, h.quarantine, h.message FROM holds h JOIN messages m ON m.id = h.message
                WHERE h.state = 'held' AND h.expires_at IS NOT NULL AND h.expires_at <= ?
                ORDER BY h.expires_at LIMIT ?
                """, arguments: [at, limit])
            var actions: [HeldMessageAction] = []
            for row in due {
                let quarantine: String = row["quarantine"]
                let definition = byName[quarantine] ?? fallback
                let action = try Retention.applyDefault(db, QID(row["qid"] as String)!, quarantine: quarantine,
                                                        action: definition.defaultAction, by: Retention.expiryActor,
                                                        AuditContext(role: "system"), at: at, reason: .expired, logger: logger)
                if action.problem != nil {
                    try db.execute(sql: "UPDATE holds SET expires_at = ? WHERE message = ? AND quarantine = ?",
                                   arguments: [at + 3600, row["message"] as Int64, quarantine])
                }
                actions.append(action)
            }
            return actions
        }
    }

    /// Removes the bodies of messages that are done: held nowhere, every hold's retention
    /// over by `now`, and no release or copy still on its way to the gateway. (A released
    /// message keeps its body until its retention ends, so it can still be found by its
    /// text and downloaded.) Returns how many bodies were removed. Each call looks at the
    /// holds that expired since the previous one, and again at those that had to wait for
    /// a pending release.
    public func purgeBodies(now: Date, limit: Int = 1000) async throws -> Int {
        let at = now.timeIntervalSince1970
        let since = purgeWatermark.withLock { $0 }
        let (removed, watermark) = try await write("removing bodies after retention") { db -> (Int, Double) in
            let rows = try Row.fetchAll(db, sql: """
                SELECT h.message, h.expires_at,
                       EXISTS (SELECT 1 FROM bodies b WHERE b.message = h.message) AS has_body,
                       EXISTS (SELECT 1 FROM holds o WHERE o.message = h.message AND (o.state = 'held' OR o.expires_at > ?)) AS kept,
                       EXISTS (SELECT 1 FROM releases r WHERE r.message = h.message AND r.state IN ('requested', 'queued')) AS pending
                FROM holds h
                WHERE h.state IN ('released', 'deleted') AND h.expires_at > ? AND h.expires_at <= ?
                ORDER BY h.expires_at LIMIT ?
                """, arguments: [at, since, at, limit])
            var removed = 0
            var watermark = rows.count < limit ? at : (rows.last?["expires_at"] as Double? ?? at)
            for row in rows where row["has_body"] as Bool && !(row["kept"] as Bool) {
                if row["pending"] as Bool {
                    // Back here next time, until the gateway has taken it (or it failed).
                    watermark = min(watermark, (row["expires_at"] as Double) - 0.001)
                    continue
                }
                try Self.removeBody(db, message: row["message"], at: at)
                removed += 1
            }
            return (removed, watermark)
        }
        purgeWatermark.withLock { $0 = max($0, watermark) }
        return removed
    }

    /// Frees at least `bytes` below the quota, oldest first: first the bodies of messages
    /// that are done (held nowhere, no release pending), then the oldest held messages of
    /// quarantines that allow freeing space get their default action early (a delete frees
    /// its body at once; a release frees it once the gateway has taken it). Returns what was
    /// done; stops when enough is free or nothing more may go.
    public func freeUpSpace(bytes: Int64, batch: Int = 100) async throws -> (removedBodies: Int, actions: [HeldMessageAction]) {
        guard let quota = options.quotaBytes else { return (0, []) }
        let now = options.now().timeIntervalSince1970
        let logger = options.logger
        var removedBodies = 0
        var actions: [HeldMessageAction] = []
        while true {
            let step = try await write("freeing space in the quarantine store") { db -> (Int, [HeldMessageAction], Bool) in
                let used = try Int64.fetchOne(db, sql: "SELECT body_bytes FROM store_usage WHERE id = 1") ?? 0
                guard used + bytes > quota else { return (0, [], true) }
                let done = try Int64.fetchAll(db, sql: """
                    SELECT b.message FROM bodies b
                    WHERE NOT EXISTS (SELECT 1 FROM holds h WHERE h.message = b.message AND h.state = 'held')
                      AND NOT EXISTS (SELECT 1 FROM releases r WHERE r.message = b.message AND r.state IN ('requested', 'queued'))
                    ORDER BY b.message LIMIT ?
                    """, arguments: [batch])
                if !done.isEmpty {
                    var removed = 0
                    for message in done {
                        let used = try Int64.fetchOne(db, sql: "SELECT body_bytes FROM store_usage WHERE id = 1") ?? 0
                        guard used + bytes > quota else { return (removed, [], true) }
                        try Self.removeBody(db, message: message, at: now)
                        removed += 1
                    }
                    return (removed, [], false)
                }
                let (byName, _) = try Retention.definitions(db)
                let allowed = byName.values.filter(\.freeUpSpace).map(\.name)
                guard !allowed.isEmpty else { return (0, [], true) }
                let oldest = try Row.fetchAll(db, sql: """
                    SELECT m.qid, h.quarantine FROM holds h JOIN messages m ON m.id = h.message
                    WHERE h.state = 'held' AND h.quarantine IN (\(allowed.map { _ in "?" }.joined(separator: ",")))
                      AND EXISTS (SELECT 1 FROM bodies b WHERE b.message = h.message)
                    ORDER BY h.message LIMIT ?
                    """, arguments: StatementArguments(allowed) + [batch])
                guard !oldest.isEmpty else { return (0, [], true) }
                var taken: [HeldMessageAction] = []
                for row in oldest {
                    let used = try Int64.fetchOne(db, sql: "SELECT body_bytes FROM store_usage WHERE id = 1") ?? 0
                    guard used + bytes > quota else { return (0, taken, true) }
                    let quarantine: String = row["quarantine"]
                    taken.append(try Retention.applyDefault(db, QID(row["qid"] as String)!, quarantine: quarantine,
                                                            action: byName[quarantine]!.defaultAction, by: Retention.freeUpActor,
                                                            AuditContext(role: "system"), at: now, reason: .freeUpSpace, logger: logger))
                }
                // Only releases were possible and all of them wait for their gateway: stop here.
                let freed = taken.contains { $0.action == .delete && $0.problem == nil }
                return (0, taken, !freed)
            }
            removedBodies += step.0
            actions += step.1
            if step.2 { break }
        }
        return (removedBodies, actions)
    }
}

/// A value behind a lock (Synchronization's `Mutex` needs macOS 15; the package supports 14).
final class LockedValue<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
