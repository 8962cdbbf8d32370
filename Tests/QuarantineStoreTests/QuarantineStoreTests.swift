import Foundation
import GRDB
import Scanning
import Testing
@testable import QuarantineStore

@Suite struct QuarantineStoreTests {
    // MARK: Storing

    @Test func storesEnvelopeHoldsMetadataAndBody() async throws {
        let clock = Date(timeIntervalSince1970: 1_790_000_100)
        try await withStore(QuarantineStoreOptions(now: { clock })) { store, _ in
            var transfer = makeTransfer("t-1", holds: [policyHold, outbreakHold])
            transfer.smtpUTF8 = true
            let body = makeBody(subject: "=?UTF-8?B?UsOpc3Vtw6k=?= du\r\n trimestre", id: "abc")
            let result = try await store.storeTransfer(transfer, body: body)
            #expect(!result.isDuplicate)
            #expect(QID(result.qid.rawValue) == result.qid)

            let message = try #require(try await store.message(result.qid))
            #expect(message.gateway == "gw1.example.org")
            #expect(message.transferID == "t-1")
            #expect(message.gatewayMID == 482)
            #expect(message.gatewayICID == 12345)
            #expect(message.mailFrom == "alice@example.org")
            #expect(message.recipients == ["bob@example.com", "carol@example.com"])
            #expect(message.smtpUTF8)
            #expect(message.receivedAt == Date(timeIntervalSince1970: 1_790_000_000))
            #expect(message.storedAt == clock)
            #expect(message.size == body.count)
            #expect(message.subject == "Résumé du trimestre")
            #expect(message.messageID == "<abc@example.org>")
            // Released from every quarantine, it resumes after the latest quarantining stage.
            #expect(message.resumeAt == .outbreak)
            #expect(message.hasBody)
            #expect(message.heldIn == ["Policy", "Outbreak"])
            #expect(message.holds.map(\.ticket) == [policyHold, outbreakHold])
            #expect(message.holds[1].expiresAt == clock.addingTimeInterval(3600))
            #expect(message.holds[0].expiresAt == clock.addingTimeInterval(10 * 86_400))  // Policy keeps 10 days
            #expect(message.holds.allSatisfy { $0.state == .held && $0.actedBy == nil })

            #expect(try await store.body(result.qid) == body)
            #expect(try await store.counts() == ["Policy": 1, "Outbreak": 1])
            #expect(try await store.message(QID("QAAAAAAAAAAAAAAAA")!) == nil)
            await #expect(throws: QuarantineStoreError(.notFound, "")) {
                try await store.body(QID("QAAAAAAAAAAAAAAAA")!)
            }
        }
    }

    @Test func sameTransferTwiceIsStoredOnce() async throws {
        try await withStore { store, _ in
            let transfer = makeTransfer("retry-me")
            let first = try await store.storeTransfer(transfer, body: makeBody(id: "1"))
            let second = try await store.storeTransfer(transfer, body: makeBody(id: "1"))
            #expect(!first.isDuplicate)
            #expect(second.isDuplicate)
            #expect(second.qid == first.qid)
            #expect(try await store.rowCount("messages") == 1)
            #expect(try await store.rowCount("bodies") == 1)
            #expect(try await store.rowCount("holds") == 1)
            #expect(try await store.counts() == ["Policy": 1])
        }
    }

    @Test func sameTransferIDFromTwoGatewaysIsTwoMessages() async throws {
        try await withStore { store, _ in
            let one = try await store.storeTransfer(makeTransfer("t-7", gateway: "gw1.example.org"), body: makeBody())
            let two = try await store.storeTransfer(makeTransfer("t-7", gateway: "gw2.example.org"), body: makeBody())
            #expect(!one.isDuplicate && !two.isDuplicate)
            #expect(one.qid != two.qid)
            #expect(try await store.message(two.qid)?.gateway == "gw2.example.org")
            #expect(try await store.rowCount("messages") == 2)
        }
    }

    @Test func fiftyConcurrentStoresIncludingDuplicates() async throws {
        try await withStore { store, _ in
            // 25 distinct transfers, and 25 callers racing with the same transfer id.
            let results = try await withThrowingTaskGroup(of: (String, StoreResult).self) { group in
                for index in 0..<50 {
                    let id = index < 25 ? "t-\(index)" : "same"
                    group.addTask {
                        (id, try await store.storeTransfer(makeTransfer(id, mid: UInt64(index)), body: makeBody(id: id, size: 10_240)))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.count == 50)
            let same = results.filter { $0.0 == "same" }.map(\.1)
            #expect(Set(same.map(\.qid)).count == 1)
            #expect(same.filter { !$0.isDuplicate }.count == 1)
            let distinct = results.filter { $0.0 != "same" }.map(\.1)
            #expect(Set(distinct.map(\.qid)).count == 25)
            #expect(distinct.allSatisfy { !$0.isDuplicate })
            #expect(try await store.rowCount("messages") == 26)
            #expect(try await store.rowCount("bodies") == 26)
            let count = try await store.database.read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM messages WHERE transfer_id = 'same'")!
            }
            #expect(count == 1)
            let statistics = await store.ingestStatistics()
            #expect(statistics.transfers == 50)
            #expect((1...50).contains(statistics.commits))
            for (id, result) in results where id != "same" {
                #expect(try await store.body(result.qid) == makeBody(id: id, size: 10_240))
            }
        }
    }

    // MARK: Release and delete

    @Test func releasedOnlyOnceReleasedFromEveryQuarantine() async throws {
        try await withStore { store, _ in
            let qid = try await store.storeTransfer(makeTransfer("t-1", holds: [policyHold, virusHold]), body: makeBody()).qid

            #expect(try await store.release(qid, from: ["Policy"], by: "alice") == nil)
            let held = try #require(try await store.message(qid))
            #expect(held.heldIn == ["Virus"])
            #expect(held.holds[0].state == .released && held.holds[0].actedBy == "alice")
            #expect(try await store.counts() == ["Virus": 1])
            #expect(try await store.pendingReleases().isEmpty)
            // Releasing from Policy again changes nothing.
            #expect(try await store.release(qid, from: ["Policy"], by: "alice") == nil)

            let request = try #require(try await store.release(qid, from: ["Virus"], by: "bob"))
            #expect(request.qid == qid)
            #expect(request.quarantines == ["Policy", "Virus"])
            #expect(request.requestedBy == "bob")
            #expect(request.state == .requested)
            #expect(request.gateway == "gw1.example.org" && request.gatewayMID == 482)
            #expect(request.recipients == ["bob@example.com", "carol@example.com"])
            #expect(request.resumeAt == .contentFilters)
            #expect(UUID(uuidString: request.releaseID) != nil)
            #expect(try await store.counts() == [:])
            #expect(try await store.pendingReleases() == [request])

            // A second release call (double click, retried API call) returns the same release.
            let again = try #require(try await store.release(qid, from: nil, by: "carol"))
            #expect(again.releaseID == request.releaseID)
            #expect(try await store.pendingReleases().count == 1)
            #expect(try await store.releaseHistory(qid).count == 1)
        }
    }

    @Test func releaseFromAllAtOnce() async throws {
        try await withStore { store, _ in
            let qid = try await store.storeTransfer(makeTransfer("t-1", holds: [policyHold, virusHold]), body: makeBody()).qid
            let request = try #require(try await store.release(qid, from: nil, by: "alice"))
            #expect(request.quarantines == ["Policy", "Virus"])
            #expect(try await store.message(qid)?.heldIn == [])
        }
    }

    @Test func aReleaseDeletedFromTheQueueLeavesTheMessageQuarantined() async throws {
        try await withStore { store, _ in
            let qid = try await store.storeTransfer(makeTransfer("t-1", holds: [policyHold, virusHold]), body: makeBody()).qid
            let request = try #require(try await store.release(qid, from: nil, by: "alice"))
            #expect(try await store.counts() == [:])
            #expect(try await store.returnToQuarantine(releaseID: request.releaseID, reply: "deleted by an administrator") == ["Policy", "Virus"])
            // Held again, listed again, nothing pending; the release is recorded as failed.
            #expect(try await store.message(qid)?.heldIn == ["Policy", "Virus"])
            #expect(try await store.counts() == ["Policy": 1, "Virus": 1])
            #expect(try await store.pendingReleases().isEmpty)
            #expect(try await store.releaseHistory(qid).first?.state == .failed)
            // A second time changes nothing; a new release gets a new id.
            #expect(try await store.returnToQuarantine(releaseID: request.releaseID, reply: "again") == [])
            let again = try #require(try await store.release(qid, from: nil, by: "bob"))
            #expect(again.releaseID != request.releaseID)
            await #expect(throws: QuarantineStoreError(.releaseNotFound, "")) {
                try await store.returnToQuarantine(releaseID: "no-such-release", reply: "x")
            }
        }
    }

    @Test func deletedFromOneQuarantineIsNeverReleased() async throws {
        try await withStore { store, _ in
            let body = makeBody()
            let qid = try await store.storeTransfer(makeTransfer("t-1", holds: [policyHold, virusHold]), body: body).qid
            try await store.delete(qid, from: ["Policy"], by: "alice")
            // Still held in Virus: still listed there, body still readable.
            #expect(try await store.counts() == ["Virus": 1])
            #expect(try await store.body(qid) == body)

            let error = await #expect(throws: QuarantineStoreError(.deleted, "")) {
                try await store.release(qid, from: ["Virus"], by: "bob")
            }
            #expect(error?.message.contains("deleted from \"Policy\" by alice") == true)
            await #expect(throws: QuarantineStoreError(.deleted, "")) {
                try await store.release(qid, from: nil, by: "bob")
            }
            // The failed release changed nothing.
            #expect(try await store.message(qid)?.heldIn == ["Virus"])
            #expect(try await store.pendingReleases().isEmpty)

            // Deleted from the last quarantine: the body goes, the metadata stays.
            try await store.delete(qid, from: nil, by: "bob")
            #expect(try await store.counts() == [:])
            let message = try #require(try await store.message(qid))
            #expect(!message.hasBody)
            #expect(message.holds.map(\.state) == [.deleted, .deleted])
            #expect(message.holds.map(\.actedBy) == ["alice", "bob"])
            let bodyError = await #expect(throws: QuarantineStoreError(.bodyRemoved, "")) { try await store.body(qid) }
            #expect(bodyError?.message.contains("deleted") == true)
            #expect(try await store.rowCount("bodies") == 0)
            // Deleting again is a no-op.
            try await store.delete(qid, from: nil, by: "bob")
        }
    }

    @Test func releasedMessageCannotBeDeleted() async throws {
        try await withStore { store, _ in
            let qid = try await store.storeTransfer(makeTransfer("t-1"), body: makeBody()).qid
            let request = try #require(try await store.release(qid, from: nil, by: "alice"))
            let error = await #expect(throws: QuarantineStoreError(.released, "")) {
                try await store.delete(qid, from: nil, by: "bob")
            }
            #expect(error?.message.contains(request.releaseID) == true)
            #expect(try await store.pendingReleases().map(\.releaseID) == [request.releaseID])
        }
    }

    @Test func unknownQuarantineOrMessageIsAClearError() async throws {
        try await withStore { store, _ in
            let qid = try await store.storeTransfer(makeTransfer("t-1"), body: makeBody()).qid
            let error = await #expect(throws: QuarantineStoreError(.notHeld, "")) {
                try await store.release(qid, from: ["Virus"], by: "alice")
            }
            #expect(error?.message == "message \(qid) is not in quarantine \"Virus\"; its quarantines: \"Policy\" (held)")
            await #expect(throws: QuarantineStoreError(.notHeld, "")) {
                try await store.delete(qid, from: ["Policy", "Outbreak"], by: "alice")
            }
            // Nothing was deleted by the refused call.
            #expect(try await store.counts() == ["Policy": 1])
            let missing = QID("QZZZZZZZZZZZZZZZZ")!
            await #expect(throws: QuarantineStoreError(.notFound, "")) { try await store.release(missing, from: nil, by: "alice") }
            await #expect(throws: QuarantineStoreError(.notFound, "")) { try await store.delete(missing, from: nil, by: "alice") }
            await #expect(throws: QuarantineStoreError(.notFound, "")) { try await store.releaseHistory(missing) }
        }
    }

    // MARK: Release queue and history

    @Test func releaseHistoryWithOutcomes() async throws {
        let now = TestClock()
        try await withStore(QuarantineStoreOptions(now: { now.date })) { store, _ in
            let recipients = ["bob@example.com", "carol@example.com", "dave@example.com"]
            let qid = try await store.storeTransfer(makeTransfer("t-1", recipients: recipients), body: makeBody()).qid
            now.advance(10)
            let request = try #require(try await store.release(qid, from: nil, by: "alice"))
            now.advance(1)
            try await store.markReleaseQueued(request.releaseID)
            #expect(try await store.pendingReleases().map(\.state) == [.queued])
            now.advance(1)
            try await store.markReleaseAccepted(request.releaseID, gatewayMID: 9001)
            try await store.markReleaseAccepted(request.releaseID, gatewayMID: 9002)   // idempotent: first MID stays
            try await store.markReleaseQueued(request.releaseID)                       // no step back
            #expect(try await store.pendingReleases().isEmpty)
            // The gateway owns delivery now; the body stays (download, investigation) until retention.
            #expect(try await store.message(qid)?.hasBody == true)
            #expect(try await !store.body(qid).isEmpty)

            now.advance(1)
            try await store.recordOutcome(releaseID: request.releaseID, recipient: "bob@example.com", status: .delivered,
                                          reply: "250 2.0.0 Ok: queued as 4F2")
            try await store.recordOutcome(releaseID: request.releaseID, recipient: "carol@example.com", status: .deferred,
                                          reply: "451 4.7.1 Try again later")
            try await store.recordOutcome(releaseID: request.releaseID, recipient: "dave@example.com", status: .bounced,
                                          reply: "550 5.1.1 User unknown")
            now.advance(60)
            try await store.recordOutcome(releaseID: request.releaseID, recipient: "carol@example.com", status: .delivered,
                                          reply: "250 2.0.0 Ok: queued as 5A1")
            // A repeated report is stored once, with its first reply.
            try await store.recordOutcome(releaseID: request.releaseID, recipient: "bob@example.com", status: .delivered,
                                          reply: "250 again")

            let history = try await store.releaseHistory(qid)
            #expect(history.count == 1)
            let record = try #require(history.first)
            #expect(record.releaseID == request.releaseID)
            #expect(record.requestedBy == "alice")
            #expect(record.requestedAt == now.start.addingTimeInterval(10))
            #expect(record.quarantines == ["Policy"])
            #expect(record.state == .accepted)
            #expect(record.stateChangedAt == now.start.addingTimeInterval(12))
            #expect(record.acceptedMID == 9001)
            #expect(record.failureReply == nil)
            #expect(record.outcomes.map { "\($0.recipient) \($0.status.rawValue) \($0.reply)" } == [
                "bob@example.com delivered 250 2.0.0 Ok: queued as 4F2",
                "carol@example.com deferred 451 4.7.1 Try again later",
                "dave@example.com bounced 550 5.1.1 User unknown",
                "carol@example.com delivered 250 2.0.0 Ok: queued as 5A1",
            ])
            #expect(record.outcomes.map(\.at) == [13, 13, 13, 73].map { now.start.addingTimeInterval($0) })
            await #expect(throws: QuarantineStoreError(.releaseNotFound, "")) {
                try await store.recordOutcome(releaseID: "no-such-release", recipient: "bob@example.com", status: .delivered, reply: "")
            }
        }
    }

    @Test func refusedReleaseShowsFailedAndCanBeReleasedAgain() async throws {
        try await withStore { store, _ in
            let body = makeBody()
            let qid = try await store.storeTransfer(makeTransfer("t-1"), body: body).qid
            let first = try #require(try await store.release(qid, from: nil, by: "alice"))
            try await store.markReleaseFailed(first.releaseID, reply: "554 5.7.1 release refused: unknown transfer")
            try await store.markReleaseFailed(first.releaseID, reply: "554 again")   // idempotent
            #expect(try await store.pendingReleases().isEmpty)
            // Never done: a failed release is not accepted later, and gets no outcomes.
            await #expect(throws: QuarantineStoreError(.releaseState, "")) {
                try await store.markReleaseAccepted(first.releaseID, gatewayMID: 1)
            }
            await #expect(throws: QuarantineStoreError(.releaseState, "")) {
                try await store.recordOutcome(releaseID: first.releaseID, recipient: "bob@example.com", status: .delivered, reply: "250")
            }
            var history = try await store.releaseHistory(qid)
            #expect(history.map(\.state) == [.failed])
            #expect(history.first?.failureReply == "554 5.7.1 release refused: unknown transfer")
            #expect(history.first?.outcomes == [])
            #expect(try await store.body(qid) == body)

            // Releasing again makes a new release with a new id.
            let second = try #require(try await store.release(qid, from: nil, by: "bob"))
            #expect(second.releaseID != first.releaseID)
            #expect(try await store.pendingReleases().map(\.releaseID) == [second.releaseID])
            try await store.markReleaseAccepted(second.releaseID)
            await #expect(throws: QuarantineStoreError(.releaseState, "")) {
                try await store.markReleaseFailed(second.releaseID, reply: "554")
            }
            history = try await store.releaseHistory(qid)
            #expect(history.map(\.state) == [.failed, .accepted])
            #expect(history.map(\.requestedBy) == ["alice", "bob"])
        }
    }

    @Test func outcomeBeforeAcceptanceMarksTheReleaseAccepted() async throws {
        try await withStore { store, _ in
            let qid = try await store.storeTransfer(makeTransfer("t-1"), body: makeBody()).qid
            let request = try #require(try await store.release(qid, from: nil, by: "alice"))
            try await store.recordOutcome(releaseID: request.releaseID, recipient: "bob@example.com", status: .accepted,
                                          reply: "250 2.1.5 Ok")
            #expect(try await store.pendingReleases().isEmpty)
            #expect(try await store.releaseHistory(qid).map(\.state) == [.accepted])
        }
    }

    @Test func pendingReleasesSurviveReopen() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var pending: [ReleaseRequest] = []
        do {
            let store = try QuarantineStore.open(directory: directory.store)
            var releases: [ReleaseRequest] = []
            for index in 0..<3 {
                let qid = try await store.storeTransfer(makeTransfer("t-\(index)"), body: makeBody(id: "\(index)")).qid
                releases.append(try #require(try await store.release(qid, from: nil, by: "alice")))
            }
            try await store.markReleaseQueued(releases[1].releaseID)
            try await store.markReleaseAccepted(releases[2].releaseID)
            pending = try await store.pendingReleases()
            #expect(pending.map(\.releaseID) == [releases[0].releaseID, releases[1].releaseID])
            #expect(pending.map(\.state) == [.requested, .queued])
            try store.close()
        }
        let reopened = try QuarantineStore.open(directory: directory.store)
        defer { try? reopened.close() }
        #expect(try await reopened.pendingReleases() == pending)
        for request in pending {
            #expect(try await reopened.body(request.qid) == makeBody(id: request.qid == pending[0].qid ? "0" : "1"))
        }
    }

    // MARK: Listing

    @Test func cursorPagingOver250Messages() async throws {
        // Paging does not depend on syncing; fsync off keeps 250 sequential stores quick.
        try await withStore(QuarantineStoreOptions(fsync: false)) { store, _ in
            var stored: [QID] = []
            for index in 0..<250 {
                let holds = index % 2 == 0 ? [policyHold] : [virusHold, policyHold]
                stored.append(try await store.storeTransfer(makeTransfer("t-\(index)", holds: holds),
                                                            body: makeBody(subject: "message \(index)")).qid)
            }
            var seen: [QID] = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await store.list(limit: 40, after: cursor)
                #expect(page.items.count == (page.next == nil ? 250 % 40 : 40))
                seen += page.items.map(\.qid)
                cursor = page.next
                pages += 1
                // A message stored between pages lands on a fresh first page, never on a later one.
                if pages == 2 { _ = try await store.storeTransfer(makeTransfer("late"), body: makeBody()) }
            } while cursor != nil
            #expect(pages == 7)
            #expect(seen == Array(stored.reversed()))   // newest first, no duplicates, no gaps

            // One quarantine: the odd messages are held in Virus; release some of them between pages.
            var virus: [QID] = []
            cursor = nil
            repeat {
                let page = try await store.list(quarantine: "Virus", limit: 30, after: cursor)
                #expect(page.items.allSatisfy { $0.heldIn.contains("Virus") })
                #expect(page.items.allSatisfy { $0.subject?.hasPrefix("message ") == true })
                virus += page.items.map(\.qid)
                cursor = page.next
                if virus.count == 30 {
                    // Released from Virus: the oldest one disappears from the later pages.
                    _ = try await store.release(stored[1], from: ["Virus"], by: "alice")
                }
            } while cursor != nil
            let expected = stride(from: 249, through: 3, by: -2).map { stored[$0] }
            #expect(virus == expected)
            #expect(try await store.list(quarantine: "Outbreak").items.isEmpty)
            #expect(try await store.counts() == ["Policy": 251, "Virus": 124])
        }
    }

    @Test func listArgumentsAreChecked() async throws {
        try await withStore { store, _ async throws in
            await #expect(throws: QuarantineStoreError(.invalidArgument, "")) { try await store.list(limit: 0) }
            await #expect(throws: QuarantineStoreError(.invalidArgument, "")) { try await store.list(limit: 1001) }
            await #expect(throws: QuarantineStoreError(.invalidArgument, "")) { try await store.list(quarantine: "") }
            let error = await #expect(throws: QuarantineStoreError(.invalidArgument, "")) {
                try await store.list(after: "OFFSET 40")
            }
            #expect(error?.message.contains("start again without a cursor") == true)
            #expect(try await store.list().items.isEmpty)
            #expect(try await store.list().next == nil)
        }
    }

    // MARK: Validation

    static let invalidTransfers: [(String, @Sendable (inout IncomingTransfer, inout [UInt8]) -> Void, String)] = [
        ("empty quarantine name", { transfer, _ in transfer.holds[0].quarantine = "" }, "quarantine 1 has an empty name"),
        ("too many holds", { transfer, _ in
            transfer.holds = (0..<17).map { var hold = policyHold; hold.quarantine = "Q\($0)"; return hold }
        }, "17 quarantines, more than the limit of 16 per message"),
        ("no holds", { transfer, _ in transfer.holds = [] }, "no quarantine named"),
        ("same quarantine twice", { transfer, _ in transfer.holds = [policyHold, policyHold] }, "quarantine \"Policy\" is named twice"),
        ("empty transfer id", { transfer, _ in transfer.transferID = "" }, "the transfer id is empty"),
        ("empty gateway", { transfer, _ in transfer.gateway = "" }, "the gateway name is empty"),
        ("no recipients", { transfer, _ in transfer.recipients = [] }, "there are no recipients"),
        ("recipient with CRLF", { transfer, _ in transfer.recipients = ["bob@example.com", "x@y\r\nRCPT TO:<z>"] },
         "recipient 2 \"x@y??RCPT TO:<z>\" holds a control character"),
        ("sender with NUL", { transfer, _ in transfer.mailFrom = "a\u{0}b" }, "the sender \"a?b\" holds a control character"),
        ("threat level 9", { transfer, _ in transfer.holds[0].reason.threatLevel = 9 }, "threat level 9 for quarantine \"Policy\" is not 1-5"),
        ("zero retention", { transfer, _ in transfer.holds[0].retentionSeconds = 0 }, "retention 0 s for quarantine \"Policy\""),
        ("MID out of range", { transfer, _ in transfer.gatewayMID = .max }, "gateway MID 18446744073709551615 is out of range"),
        ("empty body", { _, body in body = [] }, "the message body is empty"),
        ("body too large", { _, body in body = [UInt8](repeating: 0x41, count: 4097) }, "4097 bytes, more than the limit of 4096"),
    ]

    @Test(arguments: invalidTransfers.indices)
    func invalidTransferIsRefusedWithAClearMessage(_ index: Int) async throws {
        let (name, mutate, expected) = Self.invalidTransfers[index]
        try await withStore(QuarantineStoreOptions(maxMessageBytes: 4096)) { store, _ async throws in
            var transfer = makeTransfer("t-1")
            var body = makeBody()
            mutate(&transfer, &body)
            let error = await #expect(throws: QuarantineStoreError(.invalidTransfer, ""), "\(name)") {
                try await store.storeTransfer(transfer, body: body)
            }
            #expect(error?.message.contains(expected) == true, "\(name): \(error?.message ?? "no error")")
            #expect(error?.message.hasPrefix("transfer \"\(transfer.transferID)\" from gateway \"\(transfer.gateway)\": ") == true)
            #expect(try await store.rowCount("messages") == 0)
        }
    }

    @Test func adminArgumentsAreChecked() async throws {
        try await withStore { store, _ in
            let qid = try await store.storeTransfer(makeTransfer("t-1"), body: makeBody()).qid
            let error = await #expect(throws: QuarantineStoreError(.invalidArgument, "")) {
                try await store.release(qid, from: nil, by: "")
            }
            #expect(error?.message == "the user name is empty: name who releases or deletes")
            await #expect(throws: QuarantineStoreError(.invalidArgument, "")) { try await store.release(qid, from: [], by: "alice") }
            await #expect(throws: QuarantineStoreError(.invalidArgument, "")) { try await store.delete(qid, from: [""], by: "alice") }
            await #expect(throws: QuarantineStoreError(.invalidArgument, "")) { try await store.delete(qid, from: nil, by: "a\nb") }
            #expect(try await store.counts() == ["Policy": 1])
        }
    }

    // MARK: Durability

    @Test func databaseIsWALWithFullSync() async throws {
        try await withStore { store, directory in
            let (journal, synchronous, autoVacuum) = try await store.database.writeWithoutTransaction { db in
                (try String.fetchOne(db, sql: "PRAGMA journal_mode")!, try Int.fetchOne(db, sql: "PRAGMA synchronous")!,
                 try Int.fetchOne(db, sql: "PRAGMA auto_vacuum")!)
            }
            #expect(journal == "wal")
            #expect(synchronous == 2)     // FULL
            #expect(autoVacuum == 2)      // INCREMENTAL
            #expect(FileManager.default.fileExists(atPath: directory.store + "/quarantine.sqlite"))
        }
    }

    @Test func secondStoreOnTheSameDirectoryIsRefused() async throws {
        try await withStore { _, directory in
            let error = #expect(throws: QuarantineStoreError(.locked, "")) {
                try QuarantineStore.open(directory: directory.store)
            }
            #expect(error?.message.contains("in use by another process") == true)
        }
    }

    /// A crash after the body and rows were written but before the commit: the disk then
    /// holds WAL frames of an uncommitted transaction (a 6 MB body does not fit SQLite's
    /// page cache, so they are really there). Reopened, the store shows nothing of it, and
    /// the gateway's retry of the transfer stores it.
    @Test func crashBeforeCommitLeavesNothingVisible() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let crashImage = directory.path + "/crash"
        var options = QuarantineStoreOptions()
        let walSizeAtCrash = Counter()
        options.beforeTransferCommit = { [store = directory.store] in
            try snapshotStore(store, to: crashImage)
            walSizeAtCrash.set(fileSize(crashImage + "/quarantine.sqlite-wal"))
        }
        let big = makeBody(id: "big", size: 6 << 20)
        let transfer = makeTransfer("t-big")
        let kept: QID
        do {
            let store = try QuarantineStore.open(directory: directory.store, options: options)
            defer { try? store.close() }
            kept = try await store.storeTransfer(transfer, body: big).qid
            #expect(try await store.body(kept) == big)
        }
        #expect(walSizeAtCrash.value > 4 << 20, "the crash image should hold the uncommitted frames")

        let recovered = try QuarantineStore.open(directory: crashImage)
        defer { try? recovered.close() }
        #expect(try await recovered.rowCount("messages") == 0)
        #expect(try await recovered.rowCount("bodies") == 0)
        #expect(try await recovered.list().items.isEmpty)
        #expect(try await recovered.message(kept) == nil)
        let integrity = try await recovered.database.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") }
        #expect(integrity == "ok")
        // The gateway never got its 250 and sends the transfer again.
        let retried = try await recovered.storeTransfer(transfer, body: big)
        #expect(!retried.isDuplicate)
        #expect(try await recovered.body(retried.qid) == big)
    }

    /// A failure inside the transaction (here a hook that throws, as a disk error would)
    /// rolls back the whole batch: nothing stored, the caller told, the store still usable.
    @Test func failedCommitStoresNothing() async throws {
        var options = QuarantineStoreOptions()
        let failNext = Counter()
        failNext.set(1)
        options.beforeTransferCommit = {
            if failNext.value == 1 {
                failNext.set(0)
                throw QuarantineStoreError(.storage, "disk I/O error (simulated)")
            }
        }
        try await withStore(options) { store, _ in
            let error = await #expect(throws: QuarantineStoreError(.storage, "")) {
                try await store.storeTransfer(makeTransfer("t-1"), body: makeBody())
            }
            #expect(error?.message.contains("simulated") == true)
            #expect(try await store.rowCount("messages") == 0)
            let retried = try await store.storeTransfer(makeTransfer("t-1"), body: makeBody())
            #expect(!retried.isDuplicate)
            #expect(try await store.rowCount("messages") == 1)
        }
    }
}

/// A test clock: starts at a fixed time, moves only when told.
final class TestClock: @unchecked Sendable {
    let start = Date(timeIntervalSince1970: 1_790_000_000)
    private let lock = NSLock()
    private var offset: TimeInterval = 0

    var date: Date { lock.withLock { start.addingTimeInterval(offset) } }
    func advance(_ seconds: TimeInterval) { lock.withLock { offset += seconds } }
}

/// An integer shared with a `@Sendable` hook.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = 0

    var value: Int { lock.withLock { stored } }
    func set(_ value: Int) { lock.withLock { stored = value } }
}
