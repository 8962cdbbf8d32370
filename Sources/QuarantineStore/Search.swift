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

    /// `search` with the store-order walk budget of size-range searches, the most text
    /// matches sorted by size and the step costs set (tests use small budgets and costs
    /// that favour one plan or another, to reach every plan and fallback).
    func search(_ query: SearchQuery, visibleQuarantines: Set<String>?, walkBudget: Int,
                sortCap: Int = SearchPlanner.defaultSortCap, cost: SearchPlanner.Cost = .measured) async throws
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
            try SearchPlanner(search, visible: visibleQuarantines, walkBudget: walkBudget, sortCap: sortCap, cost: cost).run(db)
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
    /// Matches counted before estimating from where the last lies: at most this many text
    /// matches are sorted by size directly, or walked whatever the other filters.
    static let defaultSortCap = 4_000

    /// What one step of each way of reading costs, in microseconds, measured on the
    /// million-message store (docs/PERFORMANCE.md, "Quarantine search"). Only their ratios
    /// matter: the planner compares plans with them.
    struct Cost: Sendable {
        /// A row of a walked index: its `messages` row and the hold conditions checked.
        var row = 0.5
        /// A text-index probe for one message (`MATCH` and `rowid =`): FTS5 parses the
        /// expression and seeks every term's doclist again, in every segment.
        var probe = 75.0
        /// A text match read from its doclist into an id set (or, as a driver, walked).
        var match = 0.3
        /// A text match looked up in `messages` and sorted by size: mostly a page read of
        /// its own (matches of one word are scattered over the store; 0.6 when dense).
        var sortedMatch = 5.0

        /// The measured costs.
        static let measured = Cost()
    }

    /// How a text filter is checked when another index drives.
    enum TextCheck: Sendable, Equatable {
        /// Per row, a text-index probe for that message (cheap when few rows are walked).
        case probe
        /// Every match (within the id bounds) read once into an id set, then a set lookup per row.
        case set
    }

    var search: ValidatedSearch
    let visible: Set<String>?
    let walkBudget: Int
    /// Most text matches sorted by size directly.
    let sortCap: Int
    /// The step costs plans are compared with.
    let cost: Cost
    /// Message ids a match can have (from the received and expiry zones); nil: any.
    var idBounds: ClosedRange<Int64>?
    /// A text filter checked per row rather than driving, and how.
    var textProbe: ValidatedSearch.TextIndex?
    var textCheck = TextCheck.probe

    init(_ search: ValidatedSearch, visible: Set<String>?, walkBudget: Int = defaultWalkBudget, sortCap: Int = defaultSortCap,
         cost: Cost = .measured) {
        self.search = search
        self.visible = visible
        self.walkBudget = walkBudget
        self.sortCap = sortCap
        self.cost = cost
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
        if let sender = search.senderAddress { sql.append("m.mail_from = ? COLLATE NOCASE"); arguments.append(sender) }
        if let recipient = search.recipientAddress {
            sql.append("EXISTS (SELECT 1 FROM message_recipients r WHERE r.address = ? AND r.message = m.id)")
            arguments.append(recipient)
        }
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
        if textProbe != nil, textCheck == .set {
            // A lookup in an in-memory set: before the conditions that read other tables.
            let text = textCondition()
            conditions += text.sql
            arguments += text.arguments
        }
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
        if textProbe != nil, textCheck == .probe {
            let text = textCondition()
            conditions += text.sql
            arguments += text.arguments
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

    /// This planner with the text filter checked per row (`check`) instead of driving.
    private func checkingText(_ index: ValidatedSearch.TextIndex, by check: TextCheck) -> SearchPlanner {
        var planner = self
        planner.search.textIndex = nil
        planner.textProbe = index
        planner.textCheck = check
        return planner
    }

    /// The text filter checked per row (`textProbe`), by probe or by set.
    private func textCondition() -> (sql: [String], arguments: [(any DatabaseValueConvertible)?]) {
        guard let textProbe else { return ([], []) }
        let table = textProbe.table
        switch textCheck {
        case .probe:
            return (["EXISTS (SELECT 1 FROM \(table) WHERE \(table) MATCH ? AND \(table).rowid = m.id)"], [textProbe.expression])
        case .set:
            // Not correlated: SQLite reads the matches once into an ephemeral index.
            let match = textMatch(textProbe)
            return (["m.id IN (SELECT rowid FROM \(table) WHERE \(match.sql))"], match.arguments)
        }
    }

    /// The SELECT for the best driver (see the type's documentation).
    func plan(limit: Int) -> (String, StatementArguments) {
        if let index = search.textIndex {
            let table = index.table
            return select(from: "\(table) CROSS JOIN messages m ON m.id = \(table).rowid",
                          id: "\(table).rowid", driverConditions: ["\(table) MATCH ?"],
                          driverArguments: [index.expression], holdsOnDriver: false, limit: limit)
        }
        // An exact address: its messages in store order (the recipient's row is checked
        // again by the message conditions, a primary-key probe).
        if let recipient = search.recipientAddress {
            return select(from: "message_recipients r CROSS JOIN messages m ON m.id = r.message", id: "r.message",
                          driverConditions: ["r.address = ?"], driverArguments: [recipient], holdsOnDriver: false, limit: limit)
        }
        if search.senderAddress != nil {
            return select(from: "messages m INDEXED BY messages_by_sender", id: "m.id", holdsOnDriver: false, limit: limit)
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
    /// down to (or up to) `edge`, each message checked against the text filter.
    private func sizeWalk(_ index: ValidatedSearch.TextIndex, check: TextCheck, edge: Int64?, limit: Int) -> (String, StatementArguments) {
        let walker = checkingText(index, by: check)
        var conditions: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let edge {
            conditions.append(query.order == .largest ? "m.size >= ?" : "m.size <= ?")
            arguments.append(edge)
        }
        return walker.select(from: "messages m INDEXED BY messages_by_size", id: "m.id", driverConditions: conditions,
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
        if search.senderAddress != nil || search.recipientAddress != nil {
            // An address drives unless the text filters have few matches (then they do); the
            // text is probed per row, or read into a set when the walk may be long.
            var planner = self
            if let index = search.textIndex, let text = try estimate(db, text: index) {
                planner = checkingText(index, by: addressCheck(text, limit: limit))
            }
            return try Self.fetchKeys(db, planner.plan(limit: limit))
        }
        if let index = search.textIndex, !isStoreOrder {
            let text = try estimateOrCount(db, text: index)
            // Sort every match, or walk `messages_by_size` checking each message,
            // whichever costs less. The walk looks at `budget` messages at most (4 × what a
            // page needs on average); a page from them is the true first page. A walk that
            // does not fill the page falls back to sorting every match below.
            if let check = sizeOrderCheck(text, limit: limit) {
                let budget = Int(min(Double(Int32.max), 4 * Double(limit) / text.share))
                let (sql, arguments) = sizeWalk(index, check: check, edge: try sizeEdge(db, budget: budget), limit: limit)
                let keys = try Self.fetchKeys(db, sql, arguments)
                if keys.count == limit { return keys }
            }
        }
        if let index = search.textIndex, isStoreOrder, !query.includeReleasedAndDeleted,
           query.quarantine != nil || visible?.count == 1 || query.reason != nil || query.gateway != nil,
           let text = try estimate(db, text: index) {
            // Many text matches and a structured filter: the text index drives, or the
            // structured one with the text checked per row, whichever walks less.
            // Rows each walks to fill the page: the filters taken as independent.
            if let structured = try estimateStructured(db) {
                let others = try othersShare(db)
                if let check = structuredCheck(text, structured, others: others, limit: limit) {
                    return try Self.fetchKeys(db, checkingText(index, by: check).plan(limit: limit))
                }
                // The text drives, for a bounded number of its matches: the filters may not be
                // independent, and a page that does not fill walks every match. Past that
                // many, the structured index drives the rest of the id range.
                let expected = min(text.matches, Double(limit) / (structured.local * others))
                let budget = max(sortCap, Int(min(Double(Int32.max), 4 * expected)))
                if let edge = try textEdge(db, index, budget: budget) {
                    let lower = idBounds?.lowerBound ?? 0, upper = idBounds?.upperBound ?? Int64.max
                    var first = self
                    first.idBounds = query.order == .oldest ? lower...edge : edge...upper
                    var keys = try Self.fetchKeys(db, first.plan(limit: limit))
                    if keys.count == limit { return keys }
                    if query.order == .oldest ? edge >= upper : edge <= lower { return keys }
                    var rest = checkingText(index, by: text.matches * cost.match < structured.matches * cost.probe ? .set : .probe)
                    rest.idBounds = query.order == .oldest ? (edge + 1)...upper : lower...(edge - 1)
                    keys += try Self.fetchKeys(db, rest.plan(limit: limit - keys.count))
                    return keys
                }
            }
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

    /// Size order with many text matches: nil to sort them all, else walk `messages_by_size`
    /// checking the text per message this way (whichever costs least).
    func sizeOrderCheck(_ text: Estimate, limit: Int) -> TextCheck? {
        let walked = Double(limit) / text.share
        let sort = text.matches * cost.sortedMatch
        let probe = walked * (cost.row + cost.probe)
        let set = text.matches * cost.match + walked * cost.row
        guard min(probe, set) < sort else { return nil }
        return set < probe ? .set : .probe
    }

    /// Store order with many text matches and a structured filter: nil for the text index
    /// to drive, else the structured index drives and the text is checked this way. The
    /// rows each walks to fill the page take the filters as independent.
    /// `others`: the share of rows the per-row filters both walks check keep (a gateway
    /// filter besides a quarantine or reason driver).
    func structuredCheck(_ text: Estimate, _ structured: Estimate, others: Double = 1, limit: Int) -> TextCheck? {
        let textRows = min(text.matches, Double(limit) / (structured.local * others))
        let drive = textRows * (cost.row + cost.match)
        let structuredRows = min(structured.matches, Double(limit) / (text.local * others))
        // Probes are charged for every row the structured index holds: a page that does not
        // fill walks them all, and at a probe each that is the costliest way to be wrong.
        let probe = structured.matches * (cost.row + cost.probe)
        let set = text.matches * cost.match + structuredRows * cost.row
        guard min(probe, set) < drive else { return nil }
        return set < probe ? .set : .probe
    }

    /// An address drives and the text has many matches: probe per row, or read the matches
    /// into a set when the walk to fill a page may be long.
    func addressCheck(_ text: Estimate, limit: Int) -> TextCheck {
        text.matches * cost.match < Double(limit) / text.local * cost.probe ? .set : .probe
    }

    /// How many messages a filter matches, estimated from where its `sortCap`-th newest
    /// match lies (counting that many is cheap; counting all is not).
    struct Estimate {
        /// Share of the messages between that match and the newest (within the id bounds)
        /// that match; with `few`, of all the ids within the bounds.
        var local: Double
        /// Matches within the id bounds (local share × the ids they span); with `few`, counted.
        var matches: Double
        /// Share of all messages that match within the bounds (the bounds count as a filter).
        var share: Double
        /// The filter has at most `sortCap` matches (within the bounds).
        var few: Bool
    }

    /// The estimate for `select`, which selects the matching ids newest first with the
    /// arguments: from where its `sortCap`-th lies, or counted when there are fewer.
    private func estimate(_ db: Database, _ select: String, _ arguments: [(any DatabaseValueConvertible)?]) throws -> Estimate {
        func values(_ extra: Int) -> StatementArguments { StatementArguments((arguments + [extra]).map { $0?.databaseValue ?? .null }) }
        let capped = try Int64.fetchOne(db, sql: select + " LIMIT 1 OFFSET ?", arguments: values(sortCap))
        let newest = max(1, try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM messages") ?? 1)
        let top = min(newest, idBounds?.upperBound ?? newest)
        let span = Double(max(1, top - (idBounds?.lowerBound ?? 1) + 1))
        guard let capped else {
            let matches = Double(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM (\(select) LIMIT ?)", arguments: values(sortCap)) ?? 0)
            return Estimate(local: min(1, matches / span), matches: matches, share: matches / Double(newest), few: true)
        }
        let local = min(1, Double(sortCap) / Double(max(1, top - capped + 1)))
        return Estimate(local: local, matches: local * span, share: local * span / Double(newest), few: false)
    }

    /// `MATCH ?` on the text index within `idBounds`, with its arguments.
    private func textMatch(_ index: ValidatedSearch.TextIndex) -> (sql: String, arguments: [(any DatabaseValueConvertible)?]) {
        let range = bounds(id: "rowid")
        return ((["\(index.table) MATCH ?"] + range.sql).joined(separator: " AND "), [index.expression] + range.arguments)
    }

    /// How many messages (within `idBounds`) match the text filter; nil when at most `sortCap`.
    func estimate(_ db: Database, text index: ValidatedSearch.TextIndex) throws -> Estimate? {
        let estimate = try estimateOrCount(db, text: index)
        return estimate.few ? nil : estimate
    }

    /// How many messages (within `idBounds`) match the text filter, counted when at most `sortCap`.
    func estimateOrCount(_ db: Database, text index: ValidatedSearch.TextIndex) throws -> Estimate {
        let match = textMatch(index)
        return try estimate(db, "SELECT rowid FROM \(index.table) WHERE \(match.sql) ORDER BY rowid DESC", match.arguments)
    }

    /// How many held messages (within `idBounds`) the structured driver of `plan` walks:
    /// the quarantine's held ones, the reason's holds or the gateway's messages (counted
    /// when at most `sortCap`); nil without such a filter.
    func estimateStructured(_ db: Database) throws -> Estimate? {
        let range = bounds(id: "message")
        let bounded = range.sql.map { " AND " + $0 }.joined()
        if let quarantine = query.quarantine ?? (visible?.count == 1 ? visible!.first : nil) {
            return try estimate(db, """
                SELECT message FROM holds INDEXED BY holds_by_quarantine WHERE quarantine = ? AND state = 'held'\(bounded)
                ORDER BY message DESC
                """, [quarantine] + range.arguments)
        }
        if let reason = query.reason {
            return try estimate(db, """
                SELECT message FROM holds INDEXED BY holds_by_reason WHERE reason_detail = ? COLLATE NOCASE\(bounded)
                ORDER BY message DESC
                """, [reason] + range.arguments)
        }
        return try estimateGateway(db)
    }

    /// How many messages (within `idBounds`) came from the query's gateway; nil without a gateway filter.
    func estimateGateway(_ db: Database) throws -> Estimate? {
        guard let gateway = query.gateway else { return nil }
        let range = bounds(id: "id")
        return try estimate(db, """
            SELECT id FROM messages INDEXED BY messages_by_gateway WHERE gateway = ?\(range.sql.map { " AND " + $0 }.joined()) ORDER BY id DESC
            """, [gateway] + range.arguments)
    }

    /// The share of rows a gateway filter keeps when a quarantine or reason index drives
    /// (1 when there is no such second filter).
    func othersShare(_ db: Database) throws -> Double {
        let structuredDriver = query.quarantine != nil || visible?.count == 1 || query.reason != nil
        guard structuredDriver, let gateway = try estimateGateway(db) else { return 1 }
        return max(gateway.local, 1e-6)
    }

    private static func fetchKeys(_ db: Database, _ sql: String, _ arguments: StatementArguments) throws -> [(id: Int64, size: Int64)] {
        try Row.fetchAll(db, sql: sql, arguments: arguments).map { ($0[0], $0[1]) }
    }

    private static func fetchKeys(_ db: Database, _ statement: (String, StatementArguments)) throws -> [(id: Int64, size: Int64)] {
        try fetchKeys(db, statement.0, statement.1)
    }

    /// The id of the `budget`-th text match after the cursor in store order (within
    /// `idBounds`); nil when fewer remain.
    private func textEdge(_ db: Database, _ index: ValidatedSearch.TextIndex, budget: Int) throws -> Int64? {
        let match = textMatch(index), after = keyset(id: "rowid")   // store order: `rowid <` or `>` the cursor
        let conditions = [match.sql] + after.sql
        let arguments = match.arguments + after.arguments + [budget]
        return try Int64.fetchOne(db, sql: """
            SELECT rowid FROM \(index.table) WHERE \(conditions.joined(separator: " AND "))
            ORDER BY rowid \(query.order == .oldest ? "ASC" : "DESC") LIMIT 1 OFFSET ?
            """, arguments: StatementArguments(arguments.map { $0?.databaseValue ?? .null }))
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
