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

    /// `search` with the store-order walk budget of size-range searches and the most text
    /// matches sorted by size set (tests use small ones, to reach every plan and fallback).
    func search(_ query: SearchQuery, visibleQuarantines: Set<String>?, walkBudget: Int,
                sortCap: Int = SearchPlanner.defaultSortCap) async throws
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
            try SearchPlanner(search, visible: visibleQuarantines, walkBudget: walkBudget, sortCap: sortCap).run(db)
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
/// full text (`message_text`, or `message_envelope` for sender/recipient/subject only;
/// FTS5 rowids, store order) > quarantine or reason (holds indexes) > gateway > size order
/// (`messages_by_size`) > the held messages in store order.
///
/// A received or expiry range first becomes id ranges from `received_zones` /
/// `expiry_zones`; a store-order search walks them one after the other, a size-order one
/// within their outer bounds (the rows outside are never read).
/// A size range alone walks the next `walkBudget` messages in store order (bounded by the
/// id of the last), then scans `messages_by_size`. Size order with a text filter sorts the
/// matches when there are at most `sortCap`; with more, it walks `messages_by_size` down to
/// the size of its `budget`-th message and probes the text index per message, and sorts
/// every match when that walk does not fill the page. A walk is bounded by a value found
/// first (an id, a size), never by a LIMIT in a subquery, so the index order is kept and
/// the walk stops at the page.
struct SearchPlanner {
    /// Messages a size-range-only search walks in store order before scanning the range instead.
    static let defaultWalkBudget = 20_000
    /// Text matches sorted by size directly; with more, size order walks `messages_by_size`.
    static let defaultSortCap = 4_000
    /// From this share of matching messages on, a store-order search with a quarantine,
    /// reason or gateway filter drives by that filter's index and probes the text index.
    static let minProbeDensity = 0.05
    /// Below this share of matching messages, walking `messages_by_size` costs more than sorting.
    static let minSizeWalkDensity = 0.02

    var search: ValidatedSearch
    let visible: Set<String>?
    let walkBudget: Int
    /// Most text matches sorted by size directly.
    let sortCap: Int
    /// Message ids a match can have (from the received and expiry zones); nil: any.
    var idBounds: ClosedRange<Int64>?
    /// A text filter checked per row (a rowid probe) rather than driving.
    var textProbe: ValidatedSearch.TextIndex?

    init(_ search: ValidatedSearch, visible: Set<String>?, walkBudget: Int = defaultWalkBudget, sortCap: Int = defaultSortCap) {
        self.search = search
        self.visible = visible
        self.walkBudget = walkBudget
        self.sortCap = sortCap
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

    /// The zone bounds on the driver's id column.
    private func bounds(id: String) -> (sql: [String], arguments: [(any DatabaseValueConvertible)?]) {
        guard let idBounds else { return ([], []) }
        return (["\(id) BETWEEN ? AND ?"], [idBounds.lowerBound, idBounds.upperBound])
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
        let bounds = bounds(id: id)
        conditions += bounds.sql
        arguments += bounds.arguments
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
        if let textProbe {
            let table = textProbe.table
            conditions.append("EXISTS (SELECT 1 FROM \(table) WHERE \(table) MATCH ? AND \(table).rowid = m.id)")
            arguments.append(textProbe.expression)
        }
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
        if let index = search.textIndex {
            let table = index.table
            return select(from: "\(table) CROSS JOIN messages m ON m.id = \(table).rowid",
                          id: "\(table).rowid", driverConditions: ["\(table) MATCH ?"],
                          driverArguments: [index.expression], holdsOnDriver: false, limit: limit)
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

    /// Size order with a text filter of many matches: `messages_by_size` in the asked order
    /// down to (or up to) `edge`, each message probed in the text index.
    private func sizeWalk(_ index: ValidatedSearch.TextIndex, edge: Int64?, limit: Int) -> (String, StatementArguments) {
        let table = index.table
        var conditions: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let edge {
            conditions.append(query.order == .largest ? "m.size >= ?" : "m.size <= ?")
            arguments.append(edge)
        }
        conditions.append("EXISTS (SELECT 1 FROM \(table) WHERE \(table) MATCH ? AND \(table).rowid = m.id)")
        arguments.append(index.expression)
        return select(from: "messages m INDEXED BY messages_by_size", id: "m.id", driverConditions: conditions,
                      driverArguments: arguments, holdsOnDriver: false, limit: limit)
    }

    /// The size of the `budget`-th message after the cursor in size order; nil when fewer remain.
    private func sizeEdge(_ db: Database, budget: Int) throws -> Int64? {
        let keys = keyset(id: "m.id")
        return try Int64.fetchOne(db, sql: """
            SELECT m.size FROM messages m INDEXED BY messages_by_size \(keys.sql.isEmpty ? "" : "WHERE " + keys.sql[0])
            ORDER BY \(orderBy(id: "m.id")) LIMIT 1 OFFSET ?
            """, arguments: StatementArguments((keys.arguments + [budget]).map { $0?.databaseValue ?? .null }))
    }

    /// The id of the `budget`-th message after the cursor in store order (held ones only
    /// unless `includeReleasedAndDeleted`); nil when fewer remain.
    private func storeOrderEdge(_ db: Database, budget: Int) throws -> Int64? {
        let direction = query.order == .oldest ? "ASC" : "DESC"
        let comparison = query.order == .oldest ? ">" : "<"
        let column = query.includeReleasedAndDeleted ? "id" : "message"
        var conditions = query.includeReleasedAndDeleted ? [] : ["state = 'held'"]
        var arguments: [Int64] = []
        if let cursor = search.cursor { conditions.append("\(column) \(comparison) ?"); arguments.append(cursor.id) }
        let from = query.includeReleasedAndDeleted ? "messages" : "holds INDEXED BY holds_by_state"
        return try Int64.fetchOne(db, sql: """
            SELECT \(column) FROM \(from) \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY \(column) \(direction) LIMIT 1 OFFSET ?
            """, arguments: StatementArguments(arguments + [Int64(budget)]))
    }

    /// What the received and expiry zones say about the ids a match can have.
    enum ZoneBounds: Equatable {
        /// The query has no received or expiry range.
        case unbounded
        /// No zone overlaps the range: nothing matches.
        case empty
        /// Disjoint id ranges, ascending.
        case ids([ClosedRange<Int64>])
    }

    /// Most id ranges a search walks one after the other (closest ones are merged beyond).
    static let maxIDRanges = 64

    /// The id ranges of the zones the query's received and expiry ranges overlap (expiry
    /// zones of the quarantines the query can match only).
    func zoneBounds(_ db: Database) throws -> ZoneBounds {
        var bounds = ZoneBounds.unbounded
        var holdQuarantines: [String]?
        if let quarantine = query.quarantine { holdQuarantines = [quarantine] } else if let visible { holdQuarantines = visible.sorted() }
        for (table, first, last, after, before) in [
            ("received_zones", "first_received", "last_received", query.receivedAfter, query.receivedBefore),
            ("expiry_zones", "first_expiry", "last_expiry", query.expiresAfter, query.expiresBefore),
        ] where after != nil || before != nil {
            var conditions: [String] = []
            var arguments: [(any DatabaseValueConvertible)?] = []
            if let after { conditions.append("\(last) >= ?"); arguments.append(after.timeIntervalSince1970) }
            if let before { conditions.append("\(first) < ?"); arguments.append(before.timeIntervalSince1970) }
            if table == "expiry_zones", let holdQuarantines {
                conditions.append("quarantine IN (\(holdQuarantines.map { _ in "?" }.joined(separator: ",")))")
                arguments += holdQuarantines.map { $0 }
            }
            let zones = try Int64.fetchAll(db, sql: "SELECT DISTINCT zone FROM \(table) WHERE \(conditions.joined(separator: " AND ")) ORDER BY zone",
                                           arguments: StatementArguments(arguments.map { $0?.databaseValue ?? .null }))
            let ranges = Self.idRanges(zones: zones)
            if case .ids(let current) = bounds {
                bounds = .ids(Self.intersection(current, ranges))
            } else {
                bounds = .ids(ranges)
            }
            if bounds == .ids([]) { return .empty }
        }
        if case .ids(let ranges) = bounds { return .ids(Self.coalesced(ranges, to: Self.maxIDRanges)) }
        return bounds
    }

    /// The ids of `zones` (ascending) as ranges, adjacent zones joined.
    static func idRanges(zones: [Int64]) -> [ClosedRange<Int64>] {
        let shift = Int64(SearchAtScaleSchema.zoneShift)
        var ranges: [ClosedRange<Int64>] = []
        for zone in zones {
            let ids = (zone << shift)...((zone << shift) + (1 << shift) - 1)
            if let last = ranges.last, last.upperBound + 1 == ids.lowerBound {
                ranges[ranges.count - 1] = last.lowerBound...ids.upperBound
            } else {
                ranges.append(ids)
            }
        }
        return ranges
    }

    /// The ids in both lists of disjoint ascending ranges.
    static func intersection(_ a: [ClosedRange<Int64>], _ b: [ClosedRange<Int64>]) -> [ClosedRange<Int64>] {
        var result: [ClosedRange<Int64>] = []
        var i = 0, j = 0
        while i < a.count, j < b.count {
            let low = max(a[i].lowerBound, b[j].lowerBound), high = min(a[i].upperBound, b[j].upperBound)
            if low <= high { result.append(low...high) }
            if a[i].upperBound < b[j].upperBound { i += 1 } else { j += 1 }
        }
        return result
    }

    /// `ranges` with the smallest gaps closed until at most `count` remain (a cover of them).
    static func coalesced(_ ranges: [ClosedRange<Int64>], to count: Int) -> [ClosedRange<Int64>] {
        guard ranges.count > count else { return ranges }
        let gaps = (1..<ranges.count).map { ranges[$0].lowerBound - ranges[$0 - 1].upperBound }.sorted()
        let closeBelow = gaps[ranges.count - count - 1]    // close every gap up to this size
        var result: [ClosedRange<Int64>] = []
        var closed = 0
        let toClose = ranges.count - count
        for range in ranges {
            if let last = result.last, closed < toClose, range.lowerBound - last.upperBound <= closeBelow {
                result[result.count - 1] = last.lowerBound...range.upperBound
                closed += 1
            } else {
                result.append(range)
            }
        }
        return result
    }

    /// Runs the search: ids and sizes of up to `limit` + 1 matches, then their rows.
    func run(_ db: Database) throws -> (items: [QuarantinedMessage], next: String?) {
        let limit = query.limit + 1
        var keys: [(id: Int64, size: Int64)] = []
        switch try zoneBounds(db) {
        case .unbounded:
            keys = try self.keys(db, limit: limit)
        case .empty:
            return ([], nil)
        case .ids(let ranges):
            var planner = self
            if isStoreOrder {
                // One range after the other in the result order, skipping those before the cursor.
                for range in query.order == .newest ? ranges.reversed() : ranges {
                    if let cursor = search.cursor,
                       query.order == .newest ? range.lowerBound >= cursor.id : range.upperBound <= cursor.id { continue }
                    planner.idBounds = range
                    keys += try planner.keys(db, limit: limit - keys.count)
                    if keys.count == limit { break }
                }
            } else {
                planner.idBounds = ranges[0].lowerBound...ranges[ranges.count - 1].upperBound
                keys = try planner.keys(db, limit: limit)
            }
        }
        let page = Array(keys.prefix(query.limit))
        let items = try Self.messages(db, ids: page.map(\.id), visible: visible)
        let next = keys.count > query.limit ? page.last.map { SearchCursor(order: query.order, id: $0.id, size: $0.size).text } : nil
        return (items, next)
    }

    /// Ids and sizes of up to `limit` matches in the query's order.
    private func keys(_ db: Database, limit: Int) throws -> [(id: Int64, size: Int64)] {
        if let index = search.textIndex, !isStoreOrder, let budget = try sizeWalkBudget(db, index, limit: limit) {
            // Many matches: the first `budget` messages in size order, probed; a page from them
            // is the true first page. Otherwise (a page not filled), sort every match below.
            let (sql, arguments) = sizeWalk(index, edge: try sizeEdge(db, budget: budget), limit: limit)
            let keys = try Self.fetchKeys(db, sql, arguments)
            if keys.count == limit { return keys }
        }
        if let index = search.textIndex, isStoreOrder,
           query.quarantine != nil || visible?.count == 1 || query.reason != nil || query.gateway != nil,
           let density = try textDensity(db, index), density >= Self.minProbeDensity {
            // A common word with a structured filter: the structured index drives (it holds
            // fewer candidates), the text index is probed per row.
            var probing = self
            probing.search.textIndex = nil
            probing.textProbe = index
            let (sql, arguments) = probing.plan(limit: limit)
            return try Self.fetchKeys(db, sql, arguments)
        }
        let sizeRangeOnly = search.textIndex == nil && query.quarantine == nil && (visible?.count ?? 0) != 1
            && query.reason == nil && query.gateway == nil && isStoreOrder && idBounds == nil
            && (query.minSize != nil || query.maxSize != nil)
        if sizeRangeOnly, let edge = try storeOrderEdge(db, budget: walkBudget) {
            // The next `walkBudget` messages in store order: cheap when matches are dense.
            var bounded = self
            bounded.idBounds = query.order == .oldest ? 0...edge : edge...Int64.max
            let (sql, arguments) = bounded.plan(limit: limit)
            let keys = try Self.fetchKeys(db, sql, arguments)
            if keys.count == limit { return keys }
            // Sparse: scan the size range (every match) and keep the top of the page.
            let (scanSQL, scanArguments) = select(from: "messages m INDEXED BY messages_by_size", id: "m.id",
                                                  holdsOnDriver: false, limit: limit)
            return try Self.fetchKeys(db, scanSQL, scanArguments)
        }
        let (sql, arguments) = plan(limit: limit)
        return try Self.fetchKeys(db, sql, arguments)
    }

    /// For size order with a text filter: nil when sorting every match is the cheaper way
    /// (at most `sortCap` matches, or matches rarer than `minSizeWalkDensity`), else how
    /// many messages a `messages_by_size` walk may look at.
    private func sizeWalkBudget(_ db: Database, _ index: ValidatedSearch.TextIndex, limit: Int) throws -> Int? {
        guard let density = try textDensity(db, index), density >= Self.minSizeWalkDensity else { return nil }
        return Int(min(Double(Int32.max), 4 * Double(limit) / density))
    }

    /// The share of the messages (within `idBounds`) that match the text filter, from
    /// where its `sortCap`-th newest match lies; nil when it has at most `sortCap` matches.
    private func textDensity(_ db: Database, _ index: ValidatedSearch.TextIndex) throws -> Double? {
        let table = index.table
        var arguments: [(any DatabaseValueConvertible)?] = [index.expression]
        var range = ""
        if let idBounds {
            range = "AND rowid BETWEEN ? AND ?"
            arguments += [idBounds.lowerBound, idBounds.upperBound]
        }
        arguments.append(sortCap)
        // The sortCap-th newest match: none means few matches; its id says how dense they are.
        guard let capped = try Int64.fetchOne(db, sql: """
            SELECT rowid FROM \(table) WHERE \(table) MATCH ? \(range) ORDER BY rowid DESC LIMIT 1 OFFSET ?
            """, arguments: StatementArguments(arguments.map { $0?.databaseValue ?? .null })),
              let newest = try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM messages"), newest > 0
        else { return nil }
        let top = min(newest, idBounds?.upperBound ?? newest)
        let span = Double(top - (idBounds?.lowerBound ?? 1) + 1)
        // Share of all messages that match (the bounds count as a filter).
        return Double(sortCap) / Double(max(1, top - capped + 1)) * min(1, span / Double(newest))
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
