import Foundation
import GRDB
import Scanning
import Testing
@testable import QuarantineStore

/// The fast search plans (envelope index, received and expiry zones, size-order walk with
/// its fallback, store-order walk) return exactly what one plain SQL query over every row
/// returns, page after page by cursor, for every kind of search and order, on a store of
/// a few thousand varied messages (some out of received order, released, deleted, delayed,
/// moved, without body, or gone).
@Suite struct SearchPlanTests {
    static let day: TimeInterval = 86_400
    static let start = Date(timeIntervalSince1970: 1_790_000_000)
    static let count = 2_400

    static let senderDomains = ["example.org", "evil.test", "partner.example", "bank.example", "news.example"]
    static let names = ["alice", "mallory", "trent", "dave", "erin", "frank", "grace", "heidi"]
    static let internalDomains = ["corp.example", "lab.example", "eu.corp.example"]
    static let words = ["invoice", "budget", "prize", "meeting", "overdue", "shipment", "password", "contract",
                        "holiday", "report", "urgent", "wire", "transfer", "kangaroo", "zanzibar", "pineapple"]
    static let gateways = ["gw1.example.org", "gw2.example.org", "gw3.example.org"]
    static let tickets: [QuarantineTicket] = [
        QuarantineTicket(quarantine: "Policy", reason: QuarantineReason(kind: .messageFilter, detail: "policy_rule_1"),
                         stage: .messageFilters),
        QuarantineTicket(quarantine: "Policy", reason: QuarantineReason(kind: .contentFilter, detail: "policy_rule_2"),
                         stage: .contentFilters, retentionSeconds: 3 * 86_400),
        QuarantineTicket(quarantine: "Virus", reason: QuarantineReason(kind: .antivirus, detail: "Eicar-Test-Signature"),
                         stage: .antivirus),
        QuarantineTicket(quarantine: "Virus", reason: QuarantineReason(kind: .antivirus, detail: "Win.Trojan.Agent-9001"),
                         stage: .antivirus, retentionSeconds: 20 * 86_400),
        QuarantineTicket(quarantine: "Outbreak", reason: QuarantineReason(kind: .outbreak, detail: "OUTB-17", threatLevel: 4),
                         stage: .outbreak),
        QuarantineTicket(quarantine: "Unclassified", reason: QuarantineReason(kind: .messageFilter, detail: "policy_rule_1"),
                         stage: .messageFilters, retentionSeconds: 7 * 86_400),
        QuarantineTicket(quarantine: "Legal", reason: QuarantineReason(kind: .contentFilter, detail: "legal_keywords"),
                         stage: .contentFilters),
    ]

    /// Message `index`, always the same (seeded by its index).
    static func message(_ index: Int) -> (transfer: IncomingTransfer, body: [UInt8]) {
        var random = SeededRandom(seed: UInt64(index) &+ 1)
        func pick<T>(_ values: [T]) -> T { values[Int(random.next() % UInt64(values.count))] }
        let sender = "\(pick(names))@\(pick(senderDomains))"
        let recipients = (0...Int(random.next() % 2)).map { _ in "\(pick(names)).\(pick(names))@\(pick(internalDomains))" }
        let subject = (0..<3).map { _ in pick(words) }.joined(separator: " ")
        let bodyWords = (0..<(2 + Int(random.next() % 6))).map { _ in pick(words) }.joined(separator: " ")
        // Mostly in received order over 30 days; every 50th arrives a week late (a backfill).
        var received = start.addingTimeInterval(Double(index) / Double(count) * 30 * day)
        if index % 50 == 7 { received = received.addingTimeInterval(-7 * day) }
        var holds = [pick(tickets)]
        if random.next() % 5 == 0 {
            let second = pick(tickets)
            if second.quarantine != holds[0].quarantine { holds.append(second) }
        }
        let padding = Int(random.next() % 4_000) + (index % 97 == 0 ? 10_000 : 0)
        let text = "From: <\(sender)>\r\nTo: \(recipients.joined(separator: ", "))\r\nSubject: \(subject)\r\n"
            + "Message-ID: <m\(index)@example.org>\r\n\r\n\(bodyWords)\r\n" + String(repeating: "y", count: padding) + "\r\n"
        let transfer = IncomingTransfer(transferID: "t\(index)", gateway: pick(gateways), gatewayMID: UInt64(index),
                                        receivedAt: received, mailFrom: sender, recipients: recipients, holds: holds)
        return (transfer, Array(text.utf8))
    }

    /// Stores the messages (the clock follows the received times), then acts on some.
    static func fill(_ store: QuarantineStore, clock: TestClock) async throws {
        // Policy quarantines, so messages can be moved from one to the other.
        try await store.addQuarantine(QuarantineDefinition(name: "Legal", retentionSeconds: 60 * 86_400), by: "admin")
        try await store.addQuarantine(QuarantineDefinition(name: "Archive", retentionSeconds: 90 * 86_400), by: "admin")
        var qids: [QID] = []
        for index in 0..<count {
            let message = message(index)
            clock.advance(max(0, message.transfer.receivedAt.timeIntervalSince(clock.date)))
            qids.append(try await store.storeTransfer(message.transfer, body: message.body).qid)
        }
        for (index, qid) in qids.enumerated() {
            switch index % 23 {
            case 1: _ = try await store.release(qid, from: nil, by: "alice")
            case 2: try await store.delete(qid, from: nil, by: "alice")
            case 3: try await store.delay(qid, by: 5 * 86_400, in: nil, by: "alice")
            case 4, 5, 6, 7, 8, 9, 10: _ = try? await store.move(qid, from: "Legal", to: "Archive", by: "alice")
            default: break
            }
        }
        // Some released or deleted messages lose their body; a few lose their row too.
        try await store.database.write { db in
            let ids = try Int64.fetchAll(db, sql: """
                SELECT DISTINCT message FROM holds WHERE state != 'held' AND message % 3 = 0
                AND message NOT IN (SELECT message FROM holds WHERE state = 'held')
                """)
            for id in ids {
                try QuarantineStore.removeBody(db, message: id, at: start.timeIntervalSince1970)
                if id % 2 == 0 { try db.execute(sql: "DELETE FROM messages WHERE id = ?", arguments: [id]) }
            }
        }
    }

    /// The ids `query` must find, in order: one plain SQL query over every row (the text
    /// filters through `message_text` only, whose columns also hold sender, recipients and
    /// subject), with no index chosen and no page.
    static func reference(_ db: Database, _ query: SearchQuery, visible: Set<String>?) throws -> [Int64] {
        var conditions: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        var match: [String] = []
        for (value, column) in [(query.text, nil as String?), (query.sender, "sender"), (query.recipient, "recipients"),
                                (query.subject, "subject")] {
            guard let value else { continue }
            // A complete sender or recipient address matches exactly, ASCII case ignored.
            if column == "sender", let address = ValidatedSearch.exactAddress(value) {
                conditions.append("lower(m.mail_from) = lower(?)")
                arguments.append(address)
            } else if column == "recipients", let address = ValidatedSearch.exactAddress(value) {
                conditions.append("EXISTS (SELECT 1 FROM json_each(m.recipients) WHERE lower(value) = lower(?))")
                arguments.append(address)
            } else {
                match.append(try FullTextQuery(value).expression(column: column))
            }
        }
        if !match.isEmpty {
            conditions.append("m.id IN (SELECT rowid FROM message_text WHERE message_text MATCH ?)")
            arguments.append(match.joined(separator: " AND "))
        }
        var hold: [String] = ["1"]
        if !query.includeReleasedAndDeleted { hold.append("h.state = 'held'") }
        if let visible {
            hold.append("h.quarantine IN (SELECT value FROM json_each(?))")
            arguments.append(String(data: try JSONEncoder().encode(visible.sorted()), encoding: .utf8)!)
        }
        if let quarantine = query.quarantine { hold.append("h.quarantine = ?"); arguments.append(quarantine) }
        if let reason = query.reason { hold.append("lower(h.reason_detail) = lower(?)"); arguments.append(reason) }
        if let kind = query.reasonKind { hold.append("h.reason_kind = ?"); arguments.append(kind.rawValue) }
        if let after = query.expiresAfter { hold.append("h.expires_at >= ?"); arguments.append(after.timeIntervalSince1970) }
        if let before = query.expiresBefore { hold.append("h.expires_at < ?"); arguments.append(before.timeIntervalSince1970) }
        conditions.append("EXISTS (SELECT 1 FROM holds h WHERE h.message = m.id AND \(hold.joined(separator: " AND ")))")
        if let gateway = query.gateway { conditions.append("m.gateway = ?"); arguments.append(gateway) }
        if let after = query.receivedAfter { conditions.append("m.received_at >= ?"); arguments.append(after.timeIntervalSince1970) }
        if let before = query.receivedBefore { conditions.append("m.received_at < ?"); arguments.append(before.timeIntervalSince1970) }
        if let minSize = query.minSize { conditions.append("m.size >= ?"); arguments.append(minSize) }
        if let maxSize = query.maxSize { conditions.append("m.size <= ?"); arguments.append(maxSize) }
        let order = switch query.order {
        case .newest: "m.id DESC"
        case .oldest: "m.id ASC"
        case .largest: "m.size DESC, m.id DESC"
        case .smallest: "m.size ASC, m.id ASC"
        }
        return try Int64.fetchAll(db, sql: "SELECT m.id FROM messages m WHERE \(conditions.joined(separator: " AND ")) ORDER BY \(order)",
                                  arguments: StatementArguments(arguments.map { $0?.databaseValue ?? .null }))
    }

    /// Every kind of search the issue names, with parameters that match many, few or none.
    static var queries: [(name: String, query: SearchQuery)] {
        func days(_ from: Double, _ to: Double) -> (Date, Date) {
            (start.addingTimeInterval(from * day), start.addingTimeInterval(to * day))
        }
        let (r1, r2) = days(10, 11)
        let (w1, w2) = days(3, 10)
        let (e1, e2) = days(14, 15)
        let (e3, e4) = days(20, 28)
        let (late1, late2) = days(40, 41)
        return [
            ("everything", SearchQuery()),
            ("sender address", SearchQuery(sender: "alice@example.org")),
            ("sender domain", SearchQuery(sender: "evil.test")),
            ("recipient address", SearchQuery(recipient: "grace.heidi@lab.example")),
            ("recipient domain", SearchQuery(recipient: "eu.corp.example")),
            ("recipient address in other case", SearchQuery(recipient: "<Grace.HEIDI@Lab.Example>")),
            ("recipient address and text", SearchQuery(text: "budget", recipient: "trent.erin@corp.example")),
            ("recipient address and rare text", SearchQuery(text: "zanzibar kangaroo", recipient: "frank.dave@eu.corp.example")),
            ("recipient and sender addresses", SearchQuery(sender: "alice@example.org", recipient: "grace.heidi@lab.example")),
            ("sender address and subject", SearchQuery(sender: "Mallory@Evil.test", subject: "invoice")),
            ("recipient address and quarantine, 7 days", SearchQuery(recipient: "erin.grace@lab.example", quarantine: "Policy",
                                                                     receivedAfter: w1, receivedBefore: w2)),
            ("subject word", SearchQuery(subject: "invoice")),
            ("subject and sender", SearchQuery(sender: "trent", subject: "wire transfer")),
            ("text word", SearchQuery(text: "kangaroo")),
            ("text two words", SearchQuery(text: "budget zanzibar")),
            ("text phrase and sender", SearchQuery(text: "\"wire transfer\"", sender: "partner.example")),
            ("text of a header", SearchQuery(text: "m77")),
            ("text no match", SearchQuery(text: "nonexistentword")),
            ("gateway", SearchQuery(gateway: "gw2.example.org")),
            ("quarantine", SearchQuery(quarantine: "Virus")),
            ("moved to quarantine, expiry 2 days", SearchQuery(quarantine: "Archive", expiresAfter: days(60, 62).0, expiresBefore: days(60, 62).1)),
            ("reason virus", SearchQuery(reason: "eicar-test-signature")),
            ("reason filter", SearchQuery(reason: "policy_rule_1")),
            ("reason kind", SearchQuery(reasonKind: .outbreak)),
            ("received 1 day", SearchQuery(receivedAfter: r1, receivedBefore: r2)),
            ("received after", SearchQuery(receivedAfter: r1)),
            ("received before", SearchQuery(receivedBefore: r2)),
            ("received in the future", SearchQuery(receivedAfter: late1, receivedBefore: late2)),
            ("expiry 1 day", SearchQuery(expiresAfter: e1, expiresBefore: e2)),
            ("expiry 8 days and received 7", SearchQuery(receivedAfter: w1, receivedBefore: w2, expiresAfter: e3, expiresBefore: e4)),
            ("expiry after", SearchQuery(expiresAfter: e3)),
            ("size range", SearchQuery(minSize: 1_500, maxSize: 2_500)),
            ("size range narrow", SearchQuery(minSize: 12_000, maxSize: 12_400)),
            ("size at least", SearchQuery(minSize: 10_000)),
            ("combined", SearchQuery(text: "budget", gateway: "gw1.example.org", quarantine: "Policy", receivedAfter: w1, receivedBefore: w2)),
            ("combined sender domain and days", SearchQuery(sender: "example.org", receivedAfter: w1)),
            ("text and size", SearchQuery(text: "invoice", minSize: 2_000)),
            ("text, quarantine and gateway", SearchQuery(text: "kangaroo", gateway: "gw3.example.org", quarantine: "Policy")),
            ("text and reason", SearchQuery(text: "wire", reason: "Eicar-Test-Signature")),
            ("text and rare quarantine", SearchQuery(text: "budget", quarantine: "Unclassified")),
            ("text and gateway", SearchQuery(text: "holiday", gateway: "gw1.example.org")),
        ]
    }

    /// Costs under which probing the text index per row is the cheapest way to check it.
    static let cheapProbes = SearchPlanner.Cost(row: 0.5, probe: 0.001, match: 5, sortedMatch: 5)
    /// Costs under which reading the text matches into a set is.
    static let cheapSets = SearchPlanner.Cost(row: 0.5, probe: 1_000, match: 0.001, sortedMatch: 5)

    /// Every page of `query` by cursor, as message ids.
    static func pages(_ store: QuarantineStore, _ query: SearchQuery, visible: Set<String>?, walkBudget: Int,
                      sortCap: Int, cost: SearchPlanner.Cost = .measured) async throws -> [Int64] {
        var query = query
        var qids: [QID] = []
        var pages = 0
        repeat {
            let page = try await store.search(query, visibleQuarantines: visible, walkBudget: walkBudget, sortCap: sortCap, cost: cost)
            #expect(page.items.count <= query.limit)
            #expect(page.next == nil || page.items.count == query.limit, "a page before the last is full")
            qids += page.items.map(\.qid)
            query.cursor = page.next
            pages += 1
        } while query.cursor != nil && pages < 5_000
        let found = qids
        let ids = try await store.database.read { db in
            try found.map { qid in try Int64.fetchOne(db, sql: "SELECT id FROM messages WHERE qid = ?", arguments: [qid.rawValue]) ?? -1 }
        }
        return ids
    }

    @Test func everyKindAndOrderPagesExactlyAsThePlainQuery() async throws {
        let clock = TestClock()
        let options = QuarantineStoreOptions(fsync: false, now: { clock.date })
        try await withStore(options) { store, _ in
            try await Self.fill(store, clock: clock)
            var compared = 0
            var nonEmpty = 0
            for (name, base) in Self.queries {
                for order in SearchQuery.Order.allCases {
                    for (visible, include) in [(nil, false), (Set(["Policy", "Virus"]), false), (Set(["Virus"]), true),
                                               (nil, true)] as [(Set<String>?, Bool)] {
                        var query = base
                        query.order = order
                        query.includeReleasedAndDeleted = include
                        if let quarantine = query.quarantine, let visible, !visible.contains(quarantine) { continue }
                        let asked = query
                        let expected = try await store.database.read { db in try Self.reference(db, asked, visible: visible) }
                        // Default plans; then a tiny sort cap (size order walks messages_by_size
                        // and falls back; the text drives for a few matches, then the structured
                        // index) and a tiny walk budget (store-order walk falls back), with costs
                        // as measured, or making probes or sets cheap (so each check is chosen).
                        for (budget, cap, cost, limit) in [(SearchPlanner.defaultWalkBudget, SearchPlanner.defaultSortCap, SearchPlanner.Cost.measured, 97),
                                                           (3, 5, .measured, 23), (3, 5, Self.cheapProbes, 97), (3, 5, Self.cheapSets, 23)] {
                            query.limit = limit
                            let found = try await Self.pages(store, query, visible: visible, walkBudget: budget, sortCap: cap, cost: cost)
                            #expect(found == expected, "\(name), \(order), visible \(visible?.sorted() ?? []), all states \(include), budget \(budget), cap \(cap), cost \(cost), limit \(limit): \(found.count) found, \(expected.count) expected")
                            compared += 1
                        }
                        if !expected.isEmpty { nonEmpty += 1 }
                    }
                }
            }
            #expect(compared > 2_000)
            let moved = try await store.database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM holds WHERE quarantine = 'Archive'")! }
            #expect(moved > 10, "some holds were moved")
            #expect(nonEmpty > 300, "the fixtures match most searches")
        }
    }

    /// Zones stay a cover: after a delay the expiry zone of the message widens, and a search
    /// of the new expiry finds it.
    @Test func delayedHoldIsFoundByItsNewExpiry() async throws {
        let clock = TestClock()
        let options = QuarantineStoreOptions(fsync: false, now: { clock.date })
        try await withStore(options) { store, _ in
            var qids: [QID] = []
            for index in 0..<600 {
                let message = Self.message(index)
                qids.append(try await store.storeTransfer(message.transfer, body: message.body).qid)
            }
            let target = qids[3]
            try await store.delay(target, by: 200 * 86_400, in: nil, by: "alice")
            let after = Self.start.addingTimeInterval(190 * Self.day)
            let found = try await store.search(SearchQuery(expiresAfter: after)).items.map(\.qid)
            #expect(found == [target])
            #expect(try await store.search(SearchQuery(expiresAfter: after.addingTimeInterval(60 * Self.day))).items.isEmpty)
        }
    }

    /// Sender, recipient and subject words go through the envelope index, which follows
    /// the rows: a removed body keeps them, a removed row drops them.
    @Test func envelopeIndexFollowsTheMessageRows() async throws {
        try await withStore(QuarantineStoreOptions(fsync: false, now: { Self.start })) { store, _ in
            let message = Self.message(1)
            let qid = try await store.storeTransfer(message.transfer, body: message.body).qid
            // Words of the addresses (a complete address is looked up in message_recipients / messages_by_sender).
            let query = SearchQuery(sender: String(message.transfer.mailFrom.split(separator: "@")[1]),
                                    recipient: String(message.transfer.recipients[0].split(separator: "@")[0]))
            #expect(try await store.search(query).items.map(\.qid) == [qid])
            try await store.database.write { db in
                let id = try Int64.fetchOne(db, sql: "SELECT id FROM messages WHERE qid = ?", arguments: [qid.rawValue])!
                try QuarantineStore.removeBody(db, message: id, at: 0)
            }
            #expect(try await store.search(query).items.map(\.qid) == [qid])
            try await store.database.write { db in
                try db.execute(sql: "DELETE FROM messages WHERE qid = ?", arguments: [qid.rawValue])
                try db.execute(sql: "INSERT INTO message_envelope (message_envelope, rank) VALUES ('integrity-check', 0)")
            }
            #expect(try await store.search(query).items.isEmpty)
            let plan = try await store.database.read { db in
                let (sql, arguments) = SearchPlanner(try ValidatedSearch(query), visible: nil).plan(limit: 51)
                return try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { $0["detail"] as String }
            }
            #expect(plan.contains { $0.contains("message_envelope") }, "\(plan)")
            #expect(!plan.contains { $0.contains("message_text") }, "\(plan)")
        }
    }
}

extension SearchPlanTests {
    /// The body text is indexed up to `SearchableText.maxBodyBytes` (4 KB): a word before
    /// the limit is found, a word after it is not; the subject always is.
    @Test func bodyTextIsIndexedUpToItsLimit() async throws {
        try await withStore(QuarantineStoreOptions(fsync: false, now: { Self.start })) { store, _ in
            let filler = String(repeating: "lorem ", count: SearchableText.maxBodyBytes / 6 + 10)
            let text = "From: <a@example.org>\r\nSubject: long letter\r\n\r\nearlyword \(filler) lateword\r\n"
            let qid = try await store.storeTransfer(makeTransfer("long"), body: Array(text.utf8)).qid
            #expect(try await store.search(SearchQuery(text: "earlyword")).items.map(\.qid) == [qid])
            #expect(try await store.search(SearchQuery(text: "lateword")).items.isEmpty)
            #expect(try await store.search(SearchQuery(text: "letter")).items.map(\.qid) == [qid])
        }
    }

    /// A store from before `v4` gets the envelope index and the zones of what it holds, and
    /// its text index rebuilt (consistent: FTS5's integrity check passes after a removal).
    @Test func migrationV4IndexesMessagesStoredBeforeIt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let options = QuarantineStoreOptions(fsync: false, now: { Self.start })
        var store = try QuarantineStore.open(directory: directory.store, options: options)
        var qids: [QID] = []
        for index in 0..<300 {
            let message = Self.message(index)
            qids.append(try await store.storeTransfer(message.transfer, body: message.body).qid)
        }
        try store.close()
        let queue = try DatabaseQueue(path: directory.store + "/quarantine.sqlite")
        try await queue.write { db in
            try db.execute(sql: """
                DROP TRIGGER messages_envelope_insert; DROP TRIGGER messages_envelope_delete; DROP TRIGGER messages_envelope_update;
                DROP TABLE message_envelope; DROP TRIGGER messages_received_zone; DROP TABLE received_zones;
                DROP TRIGGER holds_expiry_zone_insert; DROP TRIGGER holds_expiry_zone_update; DROP TABLE expiry_zones;
                DELETE FROM grdb_migrations WHERE identifier LIKE 'v4:%';
                """)
        }
        try queue.close()
        store = try QuarantineStore.open(directory: directory.store, options: options)
        defer { try? store.close() }
        for query in Self.queries.map(\.query) {
            let expected = try await store.database.read { db in try Self.reference(db, query, visible: nil) }
            let found = try await Self.pages(store, query, visible: nil, walkBudget: SearchPlanner.defaultWalkBudget,
                                             sortCap: SearchPlanner.defaultSortCap)
            #expect(found == expected, "\(query)")
        }
        try await store.delete(qids[5], from: nil, by: "alice")
        try await store.database.write { db in
            try db.execute(sql: """
                INSERT INTO message_text (message_text, rank) VALUES ('integrity-check', 0);
                INSERT INTO message_envelope (message_envelope, rank) VALUES ('integrity-check', 0);
                """)
        }
    }

    /// The plan choices at a million messages with the measured costs: a rare word's
    /// matches are sorted, a mid word is read into a set, a very common word is probed per
    /// row; with a structured filter the more selective side drives.
    @Test func costModelChoosesThePlanThatReadsLeast() throws {
        let planner = SearchPlanner(try ValidatedSearch(SearchQuery(text: "word")), visible: nil)
        func estimate(_ local: Double, span: Double = 1_000_000) -> SearchPlanner.Estimate {
            SearchPlanner.Estimate(local: local, matches: local * span, share: local * span / 1_000_000, few: false)
        }
        #expect(planner.sizeOrderCheck(estimate(0.0005), limit: 51) == nil, "500 matches: sorted")
        #expect(planner.sizeOrderCheck(estimate(0.01), limit: 51) == .set, "10 000 matches: a set, a walk of about 5 000")
        #expect(planner.sizeOrderCheck(estimate(0.11), limit: 51) == .set, "110 000 matches: a set, a walk of about 460")
        #expect(planner.sizeOrderCheck(estimate(0.6), limit: 51) == .probe, "600 000 matches: about 85 probes")
        let week = 230_000.0
        #expect(planner.structuredCheck(estimate(0.3, span: week), estimate(0.55, span: week), limit: 51) == nil,
                "a common word in a large quarantine: the text drives")
        #expect(planner.structuredCheck(estimate(0.05, span: week), estimate(0.01, span: week), limit: 51) == .set,
                "a rare quarantine: it drives, the word's matches in a set")
        #expect(planner.structuredCheck(estimate(0.9, span: week), estimate(0.0005, span: week), limit: 51) == .probe,
                "a very rare quarantine and a word in almost every message: a probe per held message")
        #expect(planner.structuredCheck(estimate(0.05, span: week), estimate(0.01, span: week), others: 0.2, limit: 51) == .set,
                "a rare quarantine, one gateway in five and a word in 5 %: the quarantine drives, the word in a set")
        #expect(planner.structuredCheck(estimate(0.9, span: week), SearchPlanner.Estimate(local: 0, matches: 0, share: 0, few: true),
                                        limit: 51) == .probe, "a quarantine holding nothing in the range: nothing to walk")
        #expect(planner.addressCheck(estimate(0.6), limit: 51) == .probe)
        #expect(planner.addressCheck(estimate(0.01), limit: 51) == .set)
    }

    /// A store from before `v5` gets the recipient addresses of what it holds; the
    /// triggers then follow stored and removed messages.
    @Test func migrationV5IndexesAddressesStoredBeforeIt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let options = QuarantineStoreOptions(fsync: false, now: { Self.start })
        var store = try QuarantineStore.open(directory: directory.store, options: options)
        for index in 0..<300 {
            let message = Self.message(index)
            _ = try await store.storeTransfer(message.transfer, body: message.body)
        }
        try store.close()
        let queue = try DatabaseQueue(path: directory.store + "/quarantine.sqlite")
        try await queue.write { db in
            try db.execute(sql: """
                DROP TRIGGER messages_recipients_insert; DROP TRIGGER messages_recipients_delete;
                DROP TRIGGER messages_recipients_update; DROP TABLE message_recipients; DROP INDEX messages_by_sender;
                DELETE FROM grdb_migrations WHERE identifier LIKE 'v5:%';
                """)
        }
        try queue.close()
        store = try QuarantineStore.open(directory: directory.store, options: options)
        defer { try? store.close() }
        let rows = try await store.database.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM message_recipients")!
        }
        let expectedRows = (0..<300).reduce(0) { $0 + Set(Self.message($1).transfer.recipients).count }
        #expect(rows == expectedRows)
        let addresses = Set((0..<300).flatMap { Self.message($0).transfer.recipients }).sorted()
        #expect(addresses.count > 20)
        for address in addresses.prefix(25) {
            let query = SearchQuery(recipient: address)
            let expected = try await store.database.read { db in try Self.reference(db, query, visible: nil) }
            let found = try await Self.pages(store, query, visible: nil, walkBudget: SearchPlanner.defaultWalkBudget,
                                             sortCap: SearchPlanner.defaultSortCap)
            #expect(!expected.isEmpty)
            #expect(found == expected, "\(address)")
        }
        try await store.database.write { db in
            let ids = try Int64.fetchAll(db, sql: "SELECT id FROM messages")
            for id in ids { try QuarantineStore.removeBody(db, message: id, at: 0) }
            try db.execute(sql: "DELETE FROM holds; DELETE FROM messages")
        }
        let left = try await store.database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM message_recipients")! }
        #expect(left == 0, "the delete trigger removes a message's addresses")
    }

    /// A complete address matches that address only (ASCII case ignored, angle brackets
    /// allowed); a longer address holding the same words does not, and words still search
    /// every address.
    @Test func completeAddressMatchesExactly() async throws {
        try await withStore(QuarantineStoreOptions(fsync: false, now: { Self.start })) { store, _ in
            func hold(_ id: String, from: String, to: [String]) async throws -> QID {
                var transfer = makeTransfer(id, recipients: to)
                transfer.mailFrom = from
                let text = "From: <\(from)>\r\nSubject: hello\r\n\r\nbody\r\n"
                return try await store.storeTransfer(transfer, body: Array(text.utf8)).qid
            }
            let exact = try await hold("a", from: "alice@example.org", to: ["Bob.Smith@Lab.example"])
            let longer = try await hold("b", from: "x.alice@example.org.uk", to: ["jim.bob.smith@lab.example.net"])
            let both = try await hold("c", from: "ALICE@EXAMPLE.ORG", to: ["carol@lab.example", "bob.smith@lab.example"])
            func found(_ query: SearchQuery) async throws -> Set<QID> { Set(try await store.search(query).items.map(\.qid)) }
            #expect(try await found(SearchQuery(recipient: "bob.smith@lab.example")) == [exact, both])
            #expect(try await found(SearchQuery(recipient: "<BOB.SMITH@LAB.EXAMPLE>")) == [exact, both])
            #expect(try await found(SearchQuery(recipient: "bob.smith")) == [exact, longer, both])
            #expect(try await found(SearchQuery(recipient: "lab.example")) == [exact, longer, both])
            #expect(try await found(SearchQuery(sender: "alice@example.org")) == [exact, both])
            #expect(try await found(SearchQuery(sender: "alice")) == [exact, longer, both])
            #expect(try await found(SearchQuery(sender: "alice@example.org", recipient: "carol@lab.example")) == [both])
            #expect(try await found(SearchQuery(text: "hello", recipient: "jim.bob.smith@lab.example.net")) == [longer])
            #expect(try await found(SearchQuery(recipient: "nobody@lab.example")).isEmpty)
            let plans = try await store.database.read { db in
                try [SearchQuery(recipient: "bob.smith@lab.example"), SearchQuery(sender: "alice@example.org")].map { query in
                    let (sql, arguments) = SearchPlanner(try ValidatedSearch(query), visible: nil).plan(limit: 51)
                    return try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments)
                        .map { $0["detail"] as String }.joined(separator: "; ")
                }
            }
            #expect(plans[0].hasPrefix("SEARCH r USING PRIMARY KEY (address=?)") && !plans[0].contains("message_envelope"), "\(plans[0])")
            #expect(plans[1].contains("messages_by_sender") && !plans[1].contains("message_envelope"), "\(plans[1])")
        }
    }

    /// A transfer naming one recipient twice, in two cases, is stored (one address row:
    /// the trigger ignores the repeat rather than failing the transfer) and found by it.
    @Test func repeatedRecipientIsStoredOnce() async throws {
        try await withStore(QuarantineStoreOptions(fsync: false, now: { Self.start })) { store, _ in
            let transfer = makeTransfer("twice", recipients: ["Bob@Lab.example", "bob@lab.example", "carol@lab.example"])
            let qid = try await store.storeTransfer(transfer, body: makeBody()).qid
            let rows = try await store.database.read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM message_recipients")!
            }
            #expect(rows == 2)
            #expect(try await store.search(SearchQuery(recipient: "BOB@lab.example")).items.map(\.qid) == [qid])
        }
    }
}

/// SplitMix64, so the fixtures are the same on every run.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
