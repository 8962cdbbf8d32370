import Foundation
import GRDB

extension QuarantineStore {
    /// Finds quarantined messages matching every filter of `query`, a page at a time in the
    /// query's order. Pass the returned `next` as `query.cursor` for the following page
    /// (keyset paging: a page never repeats or skips a message because others arrived or
    /// left in between; messages stored after the first page appear only on a fresh search).
    ///
    /// - Parameter visibleQuarantines: the quarantines the asking user may see (nil: all).
    ///   A message matches only through a hold in one of them, and the holds of a returned
    ///   message are cut to them, so other quarantines' names are never shown.
    /// - Returns: the page, and the cursor of the next one (nil on the last page).
    /// - Throws: `.invalidArgument` naming the field (`search field "limit": ...`) for a
    ///   bad filter, limit or cursor; `.storage` when SQLite fails.
    public func search(_ query: SearchQuery, visibleQuarantines: Set<String>? = nil) async throws
        -> (items: [QuarantinedMessage], next: String?)
    {
        try await search(query, visibleQuarantines: visibleQuarantines, walkBudget: SearchPlanner.defaultWalkBudget)
    }

    /// `search` with the store-order walk budget of range-only searches set (tests use a small one).
    func search(_ query: SearchQuery, visibleQuarantines: Set<String>?, walkBudget: Int) async throws
        -> (items: [QuarantinedMessage], next: String?)
    {
        let search = try ValidatedSearch(query)
        if let visibleQuarantines {
            for name in visibleQuarantines {
                if let problem = TransferValidation.problem(name, allowEmpty: false) {
                    throw QuarantineStoreError(.invalidArgument, "visible quarantine name \(problem)")
                }
            }
            if visibleQuarantines.isEmpty { return ([], nil) }
            if let quarantine = query.quarantine, !visibleQuarantines.contains(quarantine) { return ([], nil) }
        }
        let page = try await readForSearch { db in
            try SearchPlanner(search, visible: visibleQuarantines, walkBudget: walkBudget).run(db)
        }
        return page
    }

    private func readForSearch<T: Sendable>(_ value: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await database.read(value)
        } catch {
            throw QuarantineStoreError.wrap(error, "searching quarantined messages")
        }
    }
}

/// Turns a validated query into SQL. The filters are the same whichever way the rows are
/// found; what changes is the *driver*, the index walked in the result order so that the
/// cost is the page size rather than the store size:
/// full text (FTS5 rowids, store order) > quarantine or reason (holds indexes) > gateway >
/// size order (`messages_by_size`) > the held messages in store order. A range filter alone
/// walks store order for at most `walkBudget` messages, then scans its range index.
struct SearchPlanner {
    /// Messages a range-only search walks in store order before scanning the range instead.
    static let defaultWalkBudget = 20_000

    var search: ValidatedSearch
    let visible: Set<String>?
    let walkBudget: Int

    init(_ search: ValidatedSearch, visible: Set<String>?, walkBudget: Int = defaultWalkBudget) {
        self.search = search
        self.visible = visible
        self.walkBudget = walkBudget
    }

    private var query: SearchQuery { search.query }

    /// Conditions on one hold `h` that must all hold for the same hold.
    private func holdConditions() -> (sql: [String], arguments: [(any DatabaseValueConvertible)?]) {
        var sql: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if !query.includeReleasedAndDeleted { sql.append("h.state = 'held'") }
        if let visible, query.quarantine == nil {
            sql.append("h.quarantine IN (\(visible.map { _ in "?" }.joined(separator: ",")))")
            arguments += visible.sorted().map { $0 }
        }
        if let quarantine = query.quarantine { sql.append("h.quarantine = ?"); arguments.append(quarantine) }
        if let reason = query.reason { sql.append("h.reason_detail = ? COLLATE NOCASE"); arguments.append(reason) }
        if let kind = query.reasonKind { sql.append("h.reason_kind = ?"); arguments.append(kind.rawValue) }
        if let after = query.expiresAfter { sql.append("h.expires_at >= ?"); arguments.append(after.timeIntervalSince1970) }
        if let before = query.expiresBefore { sql.append("h.expires_at < ?"); arguments.append(before.timeIntervalSince1970) }
        return (sql, arguments)
    }

    /// Conditions on the message `m` (not the keyset).
    private func messageConditions() -> (sql: [String], arguments: [(any DatabaseValueConvertible)?]) {
        var sql: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let gateway = query.gateway { sql.append("m.gateway = ?"); arguments.append(gateway) }
        if let after = query.receivedAfter { sql.append("m.received_at >= ?"); arguments.append(after.timeIntervalSince1970) }
        if let before = query.receivedBefore { sql.append("m.received_at < ?"); arguments.append(before.timeIntervalSince1970) }
        if let minSize = query.minSize { sql.append("m.size >= ?"); arguments.append(minSize) }
        if let maxSize = query.maxSize { sql.append("m.size <= ?"); arguments.append(maxSize) }
        return (sql, arguments)
    }

    /// Keyset condition after the cursor, on `id` (the driver's message id column) and `m.size`.
    private func keyset(id: String) -> (sql: [String], arguments: [(any DatabaseValueConvertible)?]) {
        guard let cursor = search.cursor else { return ([], []) }
        switch query.order {
        case .newest: return (["\(id) < ?"], [cursor.id])
        case .oldest: return (["\(id) > ?"], [cursor.id])
        case .largest: return (["(m.size, \(id)) < (?, ?)"], [cursor.size, cursor.id])
        case .smallest: return (["(m.size, \(id)) > (?, ?)"], [cursor.size, cursor.id])
        }
    }

    private func orderBy(id: String) -> String {
        switch query.order {
        case .newest: "\(id) DESC"
        case .oldest: "\(id) ASC"
        case .largest: "m.size DESC, \(id) DESC"
        case .smallest: "m.size ASC, \(id) ASC"
        }
    }

    private var isStoreOrder: Bool { query.order == .newest || query.order == .oldest }

    /// One SELECT of `m.id, m.size`: `from` joins `m`; `id` is the driver's id column;
    /// `holdsOnDriver`: the hold conditions are on the driver's `h` (else an EXISTS).
    private func select(from: String, id: String, driverConditions: [String] = [],
                        driverArguments: [(any DatabaseValueConvertible)?] = [], holdsOnDriver: Bool,
                        groupByID: Bool = false, limit: Int) -> (String, StatementArguments) {
        var conditions = driverConditions
        var arguments = driverArguments
        let holds = holdConditions()
        if holdsOnDriver {
            conditions += holds.sql
            arguments += holds.arguments
        } else if !holds.sql.isEmpty {
            // `+h.column`: only the primary key (message, quarantine) may serve the probe; left
            // free, SQLite may pick a holds index on another column and scan its whole range per row.
            let unindexed = holds.sql.map { "+" + $0 }
            conditions.append("EXISTS (SELECT 1 FROM holds h WHERE h.message = m.id AND \(unindexed.joined(separator: " AND ")))")
            arguments += holds.arguments
        }
        let message = messageConditions()
        conditions += message.sql
        arguments += message.arguments
        let keys = keyset(id: id)
        conditions += keys.sql
        arguments += keys.arguments
        arguments.append(limit)
        let sql = """
            SELECT m.id, m.size FROM \(from)
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            \(groupByID ? "GROUP BY \(id)" : "")
            ORDER BY \(orderBy(id: id)) LIMIT ?
            """
        return (sql, StatementArguments(arguments.map { $0?.databaseValue ?? .null }))
    }

    /// The SELECT for the best driver (see the type's documentation).
    func plan(limit: Int) -> (String, StatementArguments) {
        if let match = search.match {
            return select(from: "message_text CROSS JOIN messages m ON m.id = message_text.rowid",
                          id: "message_text.rowid", driverConditions: ["message_text MATCH ?"],
                          driverArguments: [match], holdsOnDriver: false, limit: limit)
        }
        let quarantine = query.quarantine ?? (visible?.count == 1 ? visible!.first : nil)
        if let quarantine, !query.includeReleasedAndDeleted || query.reason == nil {
            // (quarantine, state, message): one hold per message and quarantine, no duplicates.
            var search = self
            search.search.query.quarantine = quarantine
            return search.select(from: "holds h INDEXED BY holds_by_quarantine CROSS JOIN messages m ON m.id = h.message",
                                 id: "h.message", holdsOnDriver: true, limit: limit)
        }
        if query.reason != nil {
            return select(from: "holds h INDEXED BY holds_by_reason CROSS JOIN messages m ON m.id = h.message",
                          id: "h.message", holdsOnDriver: true, groupByID: true, limit: limit)
        }
        if query.gateway != nil {
            return select(from: "messages m INDEXED BY messages_by_gateway", id: "m.id", holdsOnDriver: false, limit: limit)
        }
        if !isStoreOrder {
            return select(from: "messages m INDEXED BY messages_by_size", id: "m.id", holdsOnDriver: false, limit: limit)
        }
        if query.includeReleasedAndDeleted {
            return select(from: "messages m", id: "m.id", holdsOnDriver: false, limit: limit)
        }
        return select(from: "holds h INDEXED BY holds_by_state CROSS JOIN messages m ON m.id = h.message",
                      id: "h.message", holdsOnDriver: true, groupByID: true, limit: limit)
    }

    /// The messages in store order (held ones through `holds_by_state`), at most `budget`
    /// of them looked at.
    private func storeOrderWalk(limit: Int, budget: Int) -> (String, StatementArguments) {
        let keys = keyset(id: "id")
        let direction = query.order == .oldest ? "ASC" : "DESC"
        var walkArguments: [(any DatabaseValueConvertible)?] = keys.arguments
        let walk: String
        if query.includeReleasedAndDeleted {
            walk = "SELECT id FROM messages \(keys.sql.isEmpty ? "" : "WHERE " + keys.sql[0]) ORDER BY id \(direction)"
        } else {
            let where_ = (["state = 'held'"] + keys.sql.map { $0.replacingOccurrences(of: "id", with: "message") })
            walk = "SELECT DISTINCT message AS id FROM holds INDEXED BY holds_by_state WHERE \(where_.joined(separator: " AND ")) ORDER BY message \(direction)"
        }
        let from = "(\(walk) LIMIT ?) w CROSS JOIN messages m ON m.id = w.id"
        walkArguments.append(budget)
        // The keyset is already applied by the walk.
        var search = self
        search.search.cursor = nil
        return search.select(from: from, id: "w.id", driverConditions: [], driverArguments: walkArguments,
                             holdsOnDriver: false, limit: limit)
    }

    private var hasRange: Bool {
        query.receivedAfter != nil || query.receivedBefore != nil || query.minSize != nil || query.maxSize != nil
            || query.expiresAfter != nil || query.expiresBefore != nil
    }

    /// The SELECT scanning the most useful range index (range filters, store order).
    private func rangeScan(limit: Int) -> (String, StatementArguments)? {
        if query.receivedAfter != nil || query.receivedBefore != nil {
            return select(from: "messages m INDEXED BY messages_by_received", id: "m.id", holdsOnDriver: false, limit: limit)
        }
        if query.minSize != nil || query.maxSize != nil {
            return select(from: "messages m INDEXED BY messages_by_size", id: "m.id", holdsOnDriver: false, limit: limit)
        }
        if !query.includeReleasedAndDeleted {
            return select(from: "holds h INDEXED BY holds_by_expiry CROSS JOIN messages m ON m.id = h.message",
                          id: "h.message", holdsOnDriver: true, groupByID: true, limit: limit)
        }
        return nil
    }

    /// Runs the search: ids and sizes of up to `limit` + 1 matches, then their rows.
    func run(_ db: Database) throws -> (items: [QuarantinedMessage], next: String?) {
        let limit = query.limit
        var keys: [(id: Int64, size: Int64)]
        let usesWalk = search.match == nil && query.quarantine == nil && (visible?.count ?? 0) != 1
            && query.reason == nil && query.gateway == nil && isStoreOrder
        if usesWalk, hasRange, let scan = rangeScan(limit: limit + 1) {
            // Walk store order for a while: cheap when matches are dense near the start.
            let (walkSQL, walkArguments) = storeOrderWalk(limit: limit + 1, budget: walkBudget)
            keys = try Self.fetchKeys(db, walkSQL, walkArguments)
            if keys.count <= limit {
                let (countSQL, countArguments) = budgetCheck()
                if try Bool.fetchOne(db, sql: countSQL, arguments: countArguments) == true {
                    keys = try Self.fetchKeys(db, scan.0, scan.1)   // the walk ran out of budget
                }
            }
        } else {
            let (sql, arguments) = plan(limit: limit + 1)
            keys = try Self.fetchKeys(db, sql, arguments)
        }
        let page = Array(keys.prefix(limit))
        let items = try Self.messages(db, ids: page.map(\.id), visible: visible)
        let next = keys.count > limit ? page.last.map { SearchCursor(order: query.order, id: $0.id, size: $0.size).text } : nil
        return (items, next)
    }

    /// Whether the store-order walk stopped at its budget (more messages lie beyond it).
    private func budgetCheck() -> (String, StatementArguments) {
        let direction = query.order == .oldest ? "ASC" : "DESC"
        let comparison = query.order == .oldest ? ">" : "<"
        var conditions: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let cursor = search.cursor { conditions.append("id \(comparison) ?"); arguments.append(cursor.id) }
        let walk: String
        if query.includeReleasedAndDeleted {
            walk = "SELECT id FROM messages \(conditions.isEmpty ? "" : "WHERE " + conditions[0]) ORDER BY id \(direction)"
        } else {
            let where_ = ["state = 'held'"] + conditions.map { $0.replacingOccurrences(of: "id", with: "message") }
            walk = "SELECT DISTINCT message AS id FROM holds INDEXED BY holds_by_state WHERE \(where_.joined(separator: " AND ")) ORDER BY message \(direction)"
        }
        arguments.append(walkBudget)
        return ("SELECT EXISTS (\(walk) LIMIT 1 OFFSET ?)", StatementArguments(arguments.map { $0?.databaseValue ?? .null }))
    }

    private static func fetchKeys(_ db: Database, _ sql: String, _ arguments: StatementArguments) throws -> [(id: Int64, size: Int64)] {
        try Row.fetchAll(db, sql: sql, arguments: arguments).map { ($0[0], $0[1]) }
    }

    /// The messages `ids` in that order, holds cut to `visible`.
    static func messages(_ db: Database, ids: [Int64], visible: Set<String>?) throws -> [QuarantinedMessage] {
        guard !ids.isEmpty else { return [] }
        let placeholders = ids.map { _ in "?" }.joined(separator: ",")
        let rows = try Row.fetchAll(db, sql: "SELECT \(StoredRows.messageColumns) FROM messages WHERE id IN (\(placeholders))",
                                    arguments: StatementArguments(ids))
        var byID: [Int64: Row] = [:]
        for row in rows { byID[row["id"]] = row }
        let holds = try StoredRows.holds(db, messages: ids)
        return try ids.compactMap { id in
            guard let row = byID[id] else { return nil }
            var shown = holds[id] ?? []
            if let visible { shown = shown.filter { visible.contains($0.quarantine) } }
            return try StoredRows.message(row, holds: shown)
        }
    }
}
