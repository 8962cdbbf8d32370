import Foundation
import GRDB
import Scanning
import Testing
@testable import QuarantineStore

/// `QuarantineStore.search`: each filter alone and combined, keyset paging, full text in
/// decoded MIME parts and headers, body removal, visible quarantines, hostile input.
@Suite struct SearchTests {
    static let day: TimeInterval = 86_400
    static let start = Date(timeIntervalSince1970: 1_790_000_000)

    /// One stored message for the fixtures.
    struct Sample {
        var id: String
        var sender = "alice@example.org"
        var recipients = ["bob@example.com"]
        var subject = "Quarterly report"
        var gateway = "gw1.example.org"
        var holds = [policyHold]
        var receivedDay = 0.0
        var bodyWords = "nothing special here"
        var padding = 0
    }

    static func body(_ sample: Sample) -> [UInt8] {
        var text = "From: Sender <\(sample.sender)>\r\nTo: \(sample.recipients.joined(separator: ", "))\r\n"
            + "Subject: \(sample.subject)\r\nMessage-ID: <\(sample.id)@example.org>\r\n\r\n\(sample.bodyWords)\r\n"
        text += String(repeating: "x", count: sample.padding) + "\r\n"
        return Array(text.utf8)
    }

    /// Stores `samples` in order; returns their QIDs by sample id.
    @discardableResult
    static func store(_ samples: [Sample], in store: QuarantineStore) async throws -> [String: QID] {
        var qids: [String: QID] = [:]
        for sample in samples {
            let transfer = IncomingTransfer(transferID: sample.id, gateway: sample.gateway, gatewayMID: 1, receivedAt:
                start.addingTimeInterval(sample.receivedDay * day), mailFrom: sample.sender,
                recipients: sample.recipients, holds: sample.holds)
            qids[sample.id] = try await store.storeTransfer(transfer, body: body(sample)).qid
        }
        return qids
    }

    static let options = QuarantineStoreOptions(fsync: false, now: { SearchTests.start })

    static let virusOther = QuarantineTicket(quarantine: "Virus",
                                             reason: QuarantineReason(kind: .antivirus, detail: "Win.Trojan.Agent-1"),
                                             stage: .antivirus, retentionSeconds: 30 * 86_400)

    static let samples: [Sample] = [
        Sample(id: "a", sender: "alice@example.org", subject: "Quarterly report", receivedDay: 0, bodyWords: "budget figures"),
        Sample(id: "b", sender: "mallory@evil.test", recipients: ["carol@corp.example"], subject: "You won a prize",
               gateway: "gw2.example.org", holds: [virusHold], receivedDay: 1, bodyWords: "click the link", padding: 5000),
        Sample(id: "c", sender: "dave@example.org", recipients: ["bob@example.com", "erin@corp.example"],
               subject: "Invoice overdue", holds: [outbreakHold], receivedDay: 2, bodyWords: "pay the invoice now"),
        Sample(id: "d", sender: "trent@partner.example", subject: "Project plan", gateway: "gw2.example.org",
               holds: [policyHold, virusOther], receivedDay: 3, bodyWords: "milestones and budget", padding: 20_000),
    ]

    func ids(_ page: (items: [QuarantinedMessage], next: String?), _ qids: [String: QID]) -> [String] {
        let names = Dictionary(uniqueKeysWithValues: qids.map { ($0.value, $0.key) })
        return page.items.map { names[$0.qid] ?? "?" }
    }

    // MARK: Filters

    @Test func eachFilterAloneFindsExactlyItsMessages() async throws {
        try await withStore(Self.options) { store, _ in
            let qids = try await Self.store(Self.samples, in: store)
            func find(_ query: SearchQuery) async throws -> [String] {
                ids(try await store.search(query), qids)
            }
            #expect(try await find(SearchQuery()) == ["d", "c", "b", "a"])
            #expect(try await find(SearchQuery(text: "budget")) == ["d", "a"])
            #expect(try await find(SearchQuery(sender: "alice@example.org")) == ["a"])
            #expect(try await find(SearchQuery(sender: "example.org")) == ["c", "a"])
            #expect(try await find(SearchQuery(recipient: "corp.example")) == ["c", "b"])
            #expect(try await find(SearchQuery(recipient: "bob@example.com")) == ["d", "c", "a"])
            #expect(try await find(SearchQuery(subject: "invoice")) == ["c"])
            #expect(try await find(SearchQuery(subject: "quarter*")) == ["a"])
            #expect(try await find(SearchQuery(gateway: "gw2.example.org")) == ["d", "b"])
            #expect(try await find(SearchQuery(quarantine: "Virus")) == ["d", "b"])
            #expect(try await find(SearchQuery(reason: "eicar-test-signature")) == ["b"])
            #expect(try await find(SearchQuery(reason: "Win.Trojan.Agent-1")) == ["d"])
            #expect(try await find(SearchQuery(reasonKind: .outbreak)) == ["c"])
            let start = Self.start
            #expect(try await find(SearchQuery(receivedAfter: start.addingTimeInterval(Self.day),
                                               receivedBefore: start.addingTimeInterval(3 * Self.day))) == ["c", "b"])
            // outbreakHold expires after 1 hour, virusOther after 30 days; the others take their
            // quarantine's retention (Policy 10 days, Virus 30 days).
            #expect(try await find(SearchQuery(expiresBefore: start.addingTimeInterval(Self.day))) == ["c"])
            #expect(try await find(SearchQuery(expiresAfter: start.addingTimeInterval(20 * Self.day))) == ["d", "b"])
            #expect(try await find(SearchQuery(expiresAfter: start.addingTimeInterval(5 * Self.day),
                                               expiresBefore: start.addingTimeInterval(15 * Self.day))) == ["d", "a"])
            #expect(try await find(SearchQuery(minSize: 4000)) == ["d", "b"])
            #expect(try await find(SearchQuery(minSize: 4000, maxSize: 10_000)) == ["b"])
            #expect(try await find(SearchQuery(text: "nowhere-to-be-found")) == [])
        }
    }

    @Test func combinedFiltersMustAllMatch() async throws {
        try await withStore(Self.options) { store, _ in
            let qids = try await Self.store(Self.samples, in: store)
            func find(_ query: SearchQuery) async throws -> [String] {
                ids(try await store.search(query), qids)
            }
            #expect(try await find(SearchQuery(text: "budget", gateway: "gw2.example.org")) == ["d"])
            #expect(try await find(SearchQuery(text: "budget", quarantine: "Virus", minSize: 10_000)) == ["d"])
            #expect(try await find(SearchQuery(sender: "example.org", recipient: "erin@corp.example")) == ["c"])
            // Reason and quarantine must be the same hold: d is in Virus, but not for Eicar.
            #expect(try await find(SearchQuery(quarantine: "Virus", reason: "Eicar-Test-Signature")) == ["b"])
            #expect(try await find(SearchQuery(quarantine: "Policy", reason: "Win.Trojan.Agent-1")) == [])
            #expect(try await find(SearchQuery(gateway: "gw1.example.org", receivedAfter: Self.start.addingTimeInterval(Self.day))) == ["c"])
            #expect(try await find(SearchQuery(subject: "report", gateway: "gw2.example.org")) == [])
            var query = SearchQuery(quarantine: "Virus", order: .largest)
            query.maxSize = 100_000
            #expect(try await find(query) == ["d", "b"])
        }
    }

    @Test(arguments: SearchQuery.Order.allCases)
    func orders(_ order: SearchQuery.Order) async throws {
        try await withStore(Self.options) { store, _ in
            let qids = try await Self.store(Self.samples, in: store)
            let found = ids(try await store.search(SearchQuery(order: order)), qids)
            switch order {
            case .newest: #expect(found == ["d", "c", "b", "a"])
            case .oldest: #expect(found == ["a", "b", "c", "d"])
            case .largest: #expect(found == ["d", "b", "c", "a"])
            case .smallest: #expect(found == ["a", "c", "b", "d"])
            }
        }
    }

    // MARK: Paging

    /// Every page boundary, every order, every driver: each match exactly once, in order,
    /// while new matching messages arrive and one on a later page is released in between.
    @Test(arguments: SearchQuery.Order.allCases)
    func pagingGivesEveryMatchOnceWhileMessagesArrive(_ order: SearchQuery.Order) async throws {
        try await withStore(Self.options) { store, _ in
            var samples: [Sample] = []
            for index in 0..<23 {
                samples.append(Sample(id: "m\(index)", gateway: index % 3 == 0 ? "gw2.example.org" : "gw1.example.org",
                                      receivedDay: Double(index % 5), bodyWords: "needle number \(index)",
                                      padding: (index * 7919) % 3000))
            }
            let qids = try await Self.store(samples, in: store)
            let expected = try await store.search(SearchQuery(text: "needle", order: order, limit: 1000)).items.map(\.qid)
            #expect(expected.count == 23)
            for query in [SearchQuery(text: "needle"), SearchQuery(), SearchQuery(quarantine: "Policy"),
                          SearchQuery(receivedAfter: Self.start)] {
                var query = query
                query.order = order
                query.limit = 4
                var seen: [QID] = []
                var arrivals = 0
                while true {
                    let page = try await store.search(query)
                    #expect(page.items.count <= 4)
                    seen += page.items.map(\.qid)
                    arrivals += 1
                    // New matching messages between pages (newest ids, largest/smallest sizes too).
                    try await Self.store([Sample(id: "late-\(query.hashValue)-\(arrivals)", bodyWords: "needle late",
                                                 padding: arrivals % 2 == 0 ? 0 : 9000)], in: store)
                    guard let next = page.next else { break }
                    query.cursor = next
                }
                let lateOnes = Set(seen).subtracting(qids.values)
                let original = seen.filter { !lateOnes.contains($0) }
                #expect(original == expected, "\(query)")
                #expect(Set(seen).count == seen.count, "no message twice: \(query)")
            }
        }
    }

    /// A range-only search first walks store order, then scans the range index when the walk
    /// runs out of budget: both give the same pages.
    @Test func rangeSearchFallsBackToItsIndexWithTheSameResults() async throws {
        try await withStore(Self.options) { store, _ in
            var samples: [Sample] = []
            for index in 0..<40 {
                samples.append(Sample(id: "r\(index)", receivedDay: Double(index), padding: index * 100))
            }
            try await Self.store(samples, in: store)
            for query in [SearchQuery(receivedBefore: Self.start.addingTimeInterval(5 * Self.day), limit: 2),
                          SearchQuery(maxSize: 700, limit: 2),
                          SearchQuery(receivedAfter: Self.start.addingTimeInterval(10 * Self.day),
                                      receivedBefore: Self.start.addingTimeInterval(13 * Self.day), limit: 2)] {
                for budget in [3, 1000] {
                    var query = query
                    var all: [QID] = []
                    repeat {
                        let page = try await store.search(query, visibleQuarantines: nil, walkBudget: budget)
                        all += page.items.map(\.qid)
                        query.cursor = page.next
                    } while query.cursor != nil
                    var unpaged = query
                    unpaged.limit = 1000
                    let reference = try await store.search(unpaged, visibleQuarantines: nil, walkBudget: 1_000_000).items.map(\.qid)
                    #expect(all == reference, "budget \(budget): \(query)")
                    #expect(!all.isEmpty)
                }
            }
        }
    }

    // MARK: Full text

    @Test func fullTextFindsWordsInBase64PartsQuotedPrintableHTMLAndHeaders() async throws {
        try await withStore(Self.options) { store, _ in
            let encoded = Data("The secret codeword is zanzibar.\r\n".utf8).base64EncodedString()
            let raw = """
                From: Alice <alice@example.org>\r
                To: bob@example.com\r
                Subject: =?UTF-8?B?w4l0w6kgcmVwb3J0?=\r
                X-Campaign-Id: quokka-2026\r
                MIME-Version: 1.0\r
                Content-Type: multipart/mixed; boundary="b1"\r
                \r
                --b1\r
                Content-Type: text/plain; charset=utf-8\r
                Content-Transfer-Encoding: base64\r
                \r
                \(encoded)\r
                --b1\r
                Content-Type: text/html; charset=utf-8\r
                Content-Transfer-Encoding: quoted-printable\r
                \r
                <p>caf=C3=A9 <b>wombat</b></p>\r
                --b1--\r

                """
            let qid = try await store.storeTransfer(makeTransfer("mime"), body: Array(raw.utf8)).qid
            _ = try await store.storeTransfer(makeTransfer("plain"), body: makeBody(subject: "Other"))
            for words in ["zanzibar", "codeword zanzibar", "\"secret codeword\"", "quokka", "quokka-2026",
                          "wombat", "cafe", "café", "été", "ete report", "zanzi*"] {
                let found = try await store.search(SearchQuery(text: words)).items.map(\.qid)
                #expect(found == [qid], "\(words)")
            }
            // Words of the base64 text are not matched as base64, nor HTML tag names.
            #expect(try await store.search(SearchQuery(text: String(encoded.prefix(12)))).items.isEmpty)
            #expect(try await store.search(SearchQuery(text: "\"codeword secret\"")).items.isEmpty)
            #expect(try await store.search(SearchQuery(subject: "quokka")).items.isEmpty)
        }
    }

    @Test func removedBodyIsNoLongerFoundByItsTextButItsEnvelopeAndSubjectAre() async throws {
        try await withStore(Self.options) { store, directory in
            let qids = try await Self.store([
                Sample(id: "gone", sender: "zed@example.org", subject: "Platypus notice", bodyWords: "wallaby secrets"),
                Sample(id: "kept", bodyWords: "wallaby secrets"),
            ], in: store)
            let gone = try #require(qids["gone"])
            #expect(try await store.search(SearchQuery(text: "wallaby")).items.count == 2)
            try await store.delete(gone, from: nil, by: "alice")

            var history = SearchQuery(text: "wallaby")
            history.includeReleasedAndDeleted = true
            #expect(try await store.search(history).items.map(\.qid) == [qids["kept"]!])
            // Held-only searches no longer show it at all.
            #expect(try await store.search(SearchQuery(sender: "zed@example.org")).items.isEmpty)
            for query in [SearchQuery(sender: "zed@example.org"), SearchQuery(subject: "platypus"),
                          SearchQuery(text: "platypus zed"), SearchQuery(recipient: "bob@example.com")] {
                var query = query
                query.includeReleasedAndDeleted = true
                #expect(try await store.search(query).items.map(\.qid).contains(gone), "\(query)")
            }
            var headerWord = SearchQuery(text: "\"Sender\" zed")
            headerWord.includeReleasedAndDeleted = true
            #expect(try await store.search(headerWord).items.isEmpty, "the From header was in the removed body")
            // The index is consistent (contentless FTS5 'delete' got exactly the indexed text).
            let queue = try DatabaseQueue(path: directory.store + "/quarantine.sqlite")
            try await queue.write { db in
                try db.execute(sql: "INSERT INTO message_text (message_text, rank) VALUES ('integrity-check', 0)")
            }
        }
    }

    @Test func messagesStoredBeforeTheSearchMigrationAreIndexedByIt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var store = try QuarantineStore.open(directory: directory.store, options: Self.options)
        let qid = try await store.storeTransfer(makeTransfer("old"), body: makeBody(subject: "Legacy kangaroo")).qid
        try store.close()
        let queue = try DatabaseQueue(path: directory.store + "/quarantine.sqlite")
        try await queue.write { db in
            try db.execute(sql: """
                DROP TABLE message_text; DROP INDEX messages_by_gateway; DROP INDEX messages_by_received;
                DROP INDEX messages_by_size; DROP INDEX holds_by_reason;
                DROP TRIGGER messages_keep_body_first; DROP TRIGGER messages_search_delete;
                DELETE FROM grdb_migrations WHERE identifier LIKE 'v2:%';
                """)
        }
        try queue.close()
        store = try QuarantineStore.open(directory: directory.store, options: Self.options)
        defer { try? store.close() }
        #expect(try await store.search(SearchQuery(text: "kangaroo")).items.map(\.qid) == [qid])
        #expect(try await store.search(SearchQuery(text: "body message")).items.map(\.qid) == [qid])
    }

    // MARK: Who sees what

    @Test func visibleQuarantinesHideMessagesHeldOnlyElsewhereAndOtherHolds() async throws {
        try await withStore(Self.options) { store, _ in
            let qids = try await Self.store(Self.samples, in: store)
            func find(_ query: SearchQuery, _ visible: Set<String>) async throws -> [String] {
                ids(try await store.search(query, visibleQuarantines: visible), qids)
            }
            #expect(try await find(SearchQuery(), ["Policy"]) == ["d", "a"])
            #expect(try await find(SearchQuery(), ["Policy", "Outbreak"]) == ["d", "c", "a"])
            #expect(try await find(SearchQuery(text: "budget"), ["Virus"]) == ["d"])
            #expect(try await find(SearchQuery(quarantine: "Virus"), ["Policy"]) == [])
            #expect(try await find(SearchQuery(reason: "Win.Trojan.Agent-1"), ["Policy"]) == [],
                    "a reason of a hold the user cannot see never matches")
            #expect(try await find(SearchQuery(gateway: "gw2.example.org"), ["Policy", "Outbreak"]) == ["d"])
            #expect(try await find(SearchQuery(), []) == [])
            let d = try #require(try await store.search(SearchQuery(sender: "trent@partner.example"),
                                                         visibleQuarantines: ["Policy"]).items.first)
            #expect(d.holds.map(\.quarantine) == ["Policy"], "the Virus hold is not shown")
            // Released from the one visible quarantine: no longer found by that user.
            _ = try await store.release(try #require(qids["a"]), from: ["Policy"], by: "op")
            #expect(try await find(SearchQuery(), ["Policy"]) == ["d"])
        }
    }

    // MARK: Hostile and bad input

    static let hostile = [
        "\"", "\"\"", "*", "**", "a*", "NEAR(", "NEAR(a b", "NEAR(budget, 5)", "'; DROP TABLE messages; --",
        "budget)", "((budget", "(", ")", "budget OR 1=1", "AND", "NOT budget", "-budget", "^budget", "budget:",
        "sender : budget", "{sender}: x", "message_text", "rank MATCH 'x'", "\"budget", "budget\"", "\"a\" \"b",
        "%", "_", "\\", "€", "🦘", "x\u{0301}", String(repeating: "a", count: 1024),
        String(repeating: "budget ", count: 32), "日本語 テキスト", "\u{FEFF}budget",
    ]

    @Test(arguments: hostile)
    func hostileTextGivesResultsOrAClearError(_ input: String) async throws {
        try await withStore(Self.options) { store, _ in
            try await Self.store(Self.samples, in: store)
            for query in [SearchQuery(text: input), SearchQuery(sender: input), SearchQuery(recipient: input),
                          SearchQuery(subject: input), SearchQuery(gateway: input), SearchQuery(quarantine: input),
                          SearchQuery(reason: input)] {
                do {
                    _ = try await store.search(query)
                    _ = try await store.search(query, visibleQuarantines: ["Policy"])
                } catch let error as QuarantineStoreError {
                    #expect(error.code == .invalidArgument, "\(error)")
                    #expect(error.message.hasPrefix("search field "), "\(error)")
                }
            }
            #expect(try await store.rowCount("messages") == 4)
            #expect(try await store.search(SearchQuery(text: "budget")).items.count == 2)
        }
    }

    @Test func injectionStringsAreSearchedAsWords() async throws {
        try await withStore(Self.options) { store, _ in
            let qids = try await Self.store(Self.samples + [
                Sample(id: "sql", subject: "drop table report", bodyWords: "near the budget"),
            ], in: store)
            #expect(ids(try await store.search(SearchQuery(text: "'; DROP TABLE")), qids) == ["sql"])
            #expect(ids(try await store.search(SearchQuery(text: "NEAR(")), qids) == ["sql"])
            #expect(ids(try await store.search(SearchQuery(text: "budget OR nothing")), qids) == [])
            #expect(ids(try await store.search(SearchQuery(text: "((budget")), qids) == ["sql", "d", "a"])
            #expect(try await store.rowCount("messages") == 5)
        }
    }

    @Test func badInputIsRefusedNamingTheField() async throws {
        try await withStore(Self.options) { store, _ in
            try await Self.store(Self.samples, in: store)
            let cases: [(SearchQuery, String)] = [
                (SearchQuery(limit: 0), "limit"),
                (SearchQuery(limit: 1001), "limit"),
                (SearchQuery(limit: Int.max), "limit"),
                (SearchQuery(text: "a\u{0}b"), "text"),
                (SearchQuery(sender: "x\r\nRCPT TO:<y>"), "sender"),
                (SearchQuery(text: String(repeating: "a", count: 1025)), "text"),
                (SearchQuery(subject: String(repeating: "w ", count: 33)), "subject"),
                (SearchQuery(text: "\"*()\""), "text"),
                (SearchQuery(recipient: "   "), "recipient"),
                (SearchQuery(gateway: ""), "gateway"),
                (SearchQuery(quarantine: "Vi\u{0}rus"), "quarantine"),
                (SearchQuery(reason: String(repeating: "r", count: 2000)), "reason"),
                (SearchQuery(minSize: -1), "minSize"),
                (SearchQuery(minSize: 10, maxSize: 5), "maxSize"),
                (SearchQuery(receivedAfter: Self.start, receivedBefore: Self.start), "receivedBefore"),
                (SearchQuery(expiresAfter: Self.start.addingTimeInterval(1), expiresBefore: Self.start), "expiresBefore"),
                (SearchQuery(receivedAfter: Date(timeIntervalSince1970: .nan)), "receivedAfter"),
                (SearchQuery(cursor: "garbage"), "cursor"),
                (SearchQuery(cursor: "n"), "cursor"),
                (SearchQuery(cursor: "n-5"), "cursor"),
                (SearchQuery(cursor: "n99999999999999999999"), "cursor"),
                (SearchQuery(order: .largest, cursor: "n5"), "cursor"),
                (SearchQuery(order: .largest, cursor: "l5"), "cursor"),
                (SearchQuery(cursor: "' OR 1=1 --"), "cursor"),
            ]
            for (query, field) in cases {
                await #expect(throws: QuarantineStoreError(.invalidArgument, "")) { try await store.search(query) }
                do {
                    _ = try await store.search(query)
                } catch let error as QuarantineStoreError {
                    #expect(error.message.hasPrefix("search field \"\(field)\":"), "\(error.message)")
                }
            }
            await #expect(throws: QuarantineStoreError(.invalidArgument, "")) {
                try await store.search(SearchQuery(), visibleQuarantines: ["Po\nlicy"])
            }
        }
    }
}
