import Foundation
import MailMessage
import Scanning
import Testing
@testable import QuarantineStore

/// Quarantine definitions, delay, move, copy, bulk actions, expiry with an injected clock,
/// body purge, and the quota both ways.
@Suite struct QuarantineManagementTests {
    /// A clock the test moves.
    final class Clock: @unchecked Sendable {
        private let lock = NSLock()
        private var value = Date(timeIntervalSince1970: 1_790_000_100)
        var now: Date { lock.withLock { value } }
        func advance(_ seconds: TimeInterval) { lock.withLock { value += seconds } }
    }

    static func hold(_ quarantine: String, retention: Int? = nil) -> QuarantineTicket {
        QuarantineTicket(quarantine: quarantine, reason: QuarantineReason(kind: .contentFilter, detail: "rule_\(quarantine)"),
                         stage: .contentFilters, retentionSeconds: retention)
    }

    // MARK: Definitions

    @Test func systemQuarantinesExistAndCannotBeRemoved() async throws {
        try await withStore(QuarantineStoreOptions(fsync: false)) { store, _ in
            let all = try await store.quarantines()
            #expect(all.map(\.name) == ["Outbreak", "Policy", "Unclassified", "Virus"])
            #expect(all.allSatisfy { $0.kind == .system })
            for name in QuarantineDefinition.systemNames {
                await #expect(throws: QuarantineStoreError(.quarantine, "")) { _ = try await store.removeQuarantine(name, by: "admin") }
            }
            #expect(try await store.quarantines().count == 4)
            let refusals = try await store.auditEntries(last: 10).filter { $0.action == .quarantineRemove }
            #expect(refusals.count == 4 && refusals.allSatisfy { $0.outcome != .ok })
        }
    }

    @Test func namesAreValidatedAndUniqueWhateverTheCase() async throws {
        try await withStore(QuarantineStoreOptions(fsync: false)) { store, _ in
            for bad in ["", " Lead", "a/b", "x\ny", String(repeating: "n", count: 65), "Trailing "] {
                do {
                    try await store.addQuarantine(QuarantineDefinition(name: bad), by: "admin")
                    Issue.record("\(bad.debugDescription) was taken")
                } catch let error as QuarantineStoreError {
                    #expect(error.code == .quarantine && error.message.hasPrefix("name:"), "\(error)")
                }
            }
            try await store.addQuarantine(QuarantineDefinition(name: "Invoices"), by: "admin")
            await #expect(throws: QuarantineStoreError(.quarantine, "")) {
                try await store.addQuarantine(QuarantineDefinition(name: "invoices"), by: "admin")
            }
            await #expect(throws: QuarantineStoreError(.quarantine, "")) {
                try await store.addQuarantine(QuarantineDefinition(name: "policy"), by: "admin")
            }
            do {
                try await store.addQuarantine(QuarantineDefinition(name: "Bad", retentionSeconds: 5, releaseOptions: ReleaseModifications(addedHeader: .init(name: "Bad Name", value: "x")),
                                                                   visibleToRoles: ["root"]), by: "admin")
                Issue.record("a bad definition was taken")
            } catch let error as QuarantineStoreError {
                #expect(error.message.contains("retention_seconds") && error.message.contains("release_header")
                        && error.message.contains("visible_to_roles"), "\(error)")
            }
            // A change keeps the name as first written and the kind.
            var changed = QuarantineDefinition(name: "INVOICES", kind: .system, retentionSeconds: 3600, defaultAction: .release)
            changed.visibleToUsers = ["hd1"]
            try await store.updateQuarantine(changed, by: "admin")
            let stored = try #require(try await store.quarantine(named: "invoices"))
            #expect(stored.name == "Invoices" && stored.kind == .policy && stored.retentionSeconds == 3600 && stored.defaultAction == .release)
            #expect(stored.isVisible(toRole: "operator", user: "x") && stored.isVisible(toRole: "help-desk", user: "hd1"))
        }
    }

    @Test func undefinedOrRemovedQuarantinesHoldInUnclassified() async throws {
        let clock = Clock()
        try await withStore(QuarantineStoreOptions(fsync: false, now: { clock.now })) { store, _ in
            try await store.addQuarantine(QuarantineDefinition(name: "Invoices", retentionSeconds: 7200, defaultAction: .delete), by: "admin")
            let inInvoices = try await store.storeTransfer(makeTransfer("t1", holds: [Self.hold("invoices")]), body: makeBody(id: "1")).qid
            let message = try #require(try await store.message(inInvoices))
            #expect(message.heldIn == ["Invoices"], "the manager's spelling")
            #expect(message.holds[0].expiresAt == clock.now.addingTimeInterval(7200), "the quarantine's retention")

            let unknown = try await store.storeTransfer(makeTransfer("t2", holds: [Self.hold("Nowhere"), Self.hold("Elsewhere")]),
                                                        body: makeBody(id: "2")).qid
            let held = try #require(try await store.message(unknown))
            #expect(held.heldIn == ["Unclassified"])
            #expect(held.holds[0].askedQuarantine == "Nowhere" && held.holds[0].ticket.reason.detail == "rule_Nowhere")

            // Removing Invoices applies its default action (delete) to what it holds.
            let removed = try await store.removeQuarantine("Invoices", by: "admin")
            #expect(removed.actions.map(\.qid) == [inInvoices] && removed.actions[0].action == .delete)
            #expect(removed.actions[0].logLines == ["MID 482 deleted from quarantine \"Invoices\" (quarantine removed)"])
            #expect(try await store.message(inInvoices)?.holds[0].state == .deleted)
            // Filters that still name it now send to Unclassified.
            let later = try await store.storeTransfer(makeTransfer("t3", holds: [Self.hold("Invoices")]), body: makeBody(id: "3")).qid
            #expect(try await store.message(later)?.heldIn == ["Unclassified"])
            #expect(try await store.message(later)?.holds[0].askedQuarantine == "Invoices")
        }
    }

    // MARK: Delay, move, copy

    @Test func delayExtendsOnlyTheNamedHeldQuarantines() async throws {
        let clock = Clock()
        try await withStore(QuarantineStoreOptions(fsync: false, now: { clock.now })) { store, _ in
            let qid = try await store.storeTransfer(makeTransfer("t1", holds: [policyHold, virusHold]), body: makeBody()).qid
            let before = try #require(try await store.message(qid))
            try await store.delay(qid, by: 86_400, in: ["Virus"], by: "op")
            let after = try #require(try await store.message(qid))
            #expect(after.holds[0].expiresAt == before.holds[0].expiresAt)
            #expect(after.holds[1].expiresAt == before.holds[1].expiresAt!.addingTimeInterval(86_400))
            await #expect(throws: QuarantineStoreError(.invalidArgument, "")) { try await store.delay(qid, by: 5, in: nil, by: "op") }
            await #expect(throws: QuarantineStoreError(.notHeld, "")) { try await store.delay(qid, by: 3600, in: ["Outbreak"], by: "op") }
            _ = try await store.release(qid, from: ["Policy"], by: "op")
            await #expect(throws: QuarantineStoreError(.notHeld, "")) { try await store.delay(qid, by: 3600, in: ["Policy"], by: "op") }
            let entries = try await store.auditEntries(last: 10).filter { $0.action == .delay }
            #expect(entries.first?.outcome == .ok && entries.dropFirst().allSatisfy { $0.outcome != .ok })
        }
    }

    @Test func moveKeepsReasonAndExpiryBetweenPolicyQuarantines() async throws {
        try await withStore(QuarantineStoreOptions(fsync: false)) { store, _ in
            try await store.addQuarantine(QuarantineDefinition(name: "Invoices"), by: "admin")
            let qid = try await store.storeTransfer(makeTransfer("t1", holds: [policyHold, virusHold]), body: makeBody()).qid
            let before = try #require(try await store.message(qid)?.holds[0])
            let moved = try await store.move(qid, from: "Policy", to: "Invoices", by: "op")
            #expect(moved.quarantine == "Invoices" && moved.ticket.reason == before.ticket.reason && moved.expiresAt == before.expiresAt)
            #expect(try await store.message(qid)?.heldIn == ["Invoices", "Virus"])
            // Not from or to a non-policy quarantine, not from where it is not, not to an unknown one.
            for (from, to) in [("Virus", "Policy"), ("Invoices", "Virus"), ("Policy", "Invoices"), ("Invoices", "Nope")] {
                do {
                    try await store.move(qid, from: from, to: to, by: "op")
                    Issue.record("moved \(from) → \(to)")
                } catch let error as QuarantineStoreError {
                    #expect(error.code == .quarantine || error.code == .notHeld, "\(error)")
                }
            }
            #expect(try await store.message(qid)?.heldIn == ["Invoices", "Virus"])
            #expect(try await store.auditEntries(last: 1)[0].action == .move)
        }
    }

    @Test func copyGoesToTheAddressStraightToDeliveryAndLeavesTheHolds() async throws {
        try await withStore(QuarantineStoreOptions(fsync: false)) { store, _ in
            let qid = try await store.storeTransfer(makeTransfer("t1", holds: [virusHold]), body: makeBody()).qid
            let copy = try await store.copy(qid, to: "analyst@example.net", by: "admin")
            #expect(copy.kind == .copy && copy.recipients == ["analyst@example.net"] && copy.resumeAt == .delivery)
            #expect(try await store.pendingReleases().map(\.releaseID) == [copy.releaseID])
            #expect(try await store.message(qid)?.heldIn == ["Virus"])
            // A copy is not a release: the message can still be deleted, and a release still makes one of its own.
            let release = try #require(try await store.release(qid, from: nil, by: "op"))
            #expect(release.releaseID != copy.releaseID && release.kind == .release)
            for bad in ["nobody", "a@b", "<x@example.com>", "x y@example.com"] {
                await #expect(throws: QuarantineStoreError(.invalidArgument, "")) { _ = try await store.copy(qid, to: bad, by: "admin") }
            }
        }
    }

    @Test func bulkActionsRefuseAloneAndAuditEach() async throws {
        try await withStore(QuarantineStoreOptions(fsync: false)) { store, _ in
            var qids: [QID] = []
            for index in 0..<5 {
                qids.append(try await store.storeTransfer(makeTransfer("t\(index)", mid: UInt64(index)), body: makeBody(id: "\(index)")).qid)
            }
            try await store.delete(qids[1], from: nil, by: "op")
            let unknown = QID("QAAAAAAAAAAAAAAAA")!
            let delayed = try await store.perform(.delay(seconds: 3600, in: nil), on: qids + [unknown], by: "op")
            #expect(delayed.filter { if case .done = $0 { true } else { false } }.count == 4)
            #expect(delayed[1] == .refused(QuarantineStoreError(.notHeld, "")) && delayed[5] == .refused(QuarantineStoreError(.notFound, "")))
            let released = try await store.perform(.release(from: nil), on: qids, by: "op", audit: AuditContext(selection: "search q=report"))
            #expect(released.compactMap { if case .done(let request) = $0 { request } else { nil } }.count == 4)
            #expect(try await store.pendingReleases().count == 4)
            let entries = try await store.auditEntries(last: 5)
            #expect(entries.allSatisfy { $0.action == .release && $0.target.selection == "search q=report" })
        }
    }

    // MARK: Expiry and quota

    @Test func expiryAppliesEachQuarantinesDefaultActionWithTheInjectedClock() async throws {
        let clock = Clock()
        try await withStore(QuarantineStoreOptions(fsync: false, now: { clock.now })) { store, _ in
            let policy = try await store.storeTransfer(makeTransfer("t1", mid: 1, holds: [policyHold]), body: makeBody(id: "1")).qid      // 10 d, delete
            let outbreak = try await store.storeTransfer(makeTransfer("t2", mid: 2, holds: [outbreakHold]), body: makeBody(id: "2")).qid  // 1 h, release
            let both = try await store.storeTransfer(makeTransfer("t3", mid: 3, holds: [outbreakHold, policyHold]), body: makeBody(id: "3")).qid
            #expect(try await store.expire(now: clock.now).isEmpty)

            clock.advance(3601)
            let first = try await store.expire(now: clock.now)
            #expect(Set(first.map(\.qid)) == [outbreak, both] && first.allSatisfy { $0.action == .release && $0.reason == .expired })
            #expect(first.first { $0.qid == outbreak }?.request != nil, "held nowhere else: released for delivery")
            #expect(first.first { $0.qid == both }?.request == nil, "still held in Policy")
            #expect(first.first { $0.qid == outbreak }?.logLines == ["MID 2 released from quarantine \"Outbreak\" (expired)", "MID 2 released from all quarantines"])

            clock.advance(10 * 86_400)
            let second = try await store.expire(now: clock.now)
            #expect(Set(second.map(\.qid)) == [policy, both] && second.allSatisfy { $0.action == .delete })
            #expect(second.first { $0.qid == policy }?.logLines == ["MID 1 deleted from quarantine \"Policy\" (expired)"])
            #expect(try await store.message(both)?.holds.map(\.state) == [.released, .deleted])
            #expect(try await store.expire(now: clock.now).isEmpty)
            let audit = try await store.auditEntries(last: 4)
            #expect(audit.allSatisfy { $0.actor.name == "system:expiry" && $0.target.selection == "expired" })
        }
    }

    @Test func bodiesOfDoneMessagesGoAfterRetentionNotBefore() async throws {
        let clock = Clock()
        try await withStore(QuarantineStoreOptions(fsync: false, now: { clock.now })) { store, _ in
            let qid = try await store.storeTransfer(makeTransfer("t1", holds: [policyHold]), body: makeBody()).qid
            let request = try #require(try await store.release(qid, from: nil, by: "op"))
            #expect(try await store.purgeBodies(now: clock.now.addingTimeInterval(20 * 86_400)) == 0, "release still pending")
            try await store.markReleaseAccepted(request.releaseID, gatewayMID: 9)
            #expect(try await store.purgeBodies(now: clock.now) == 0, "retention not over")
            #expect(try await store.message(qid)?.hasBody == true)
            #expect(try await store.purgeBodies(now: clock.now.addingTimeInterval(11 * 86_400)) == 1)
            #expect(try await store.message(qid)?.hasBody == false)
            #expect(try await store.usage().bodies == 0)
        }
    }

    @Test func quotaFreesSpaceFromQuarantinesThatAllowItElseRefuses() async throws {
        let size = 10_000
        var options = QuarantineStoreOptions(fsync: false)
        options.quotaBytes = Int64(size * 3 + size / 2)
        try await withStore(options) { store, _ in
            var qids: [QID] = []
            for index in 0..<3 {
                qids.append(try await store.storeTransfer(makeTransfer("t\(index)", mid: UInt64(index), holds: [virusHold]),
                                                          body: makeBody(id: "\(index)", size: size)).qid)
            }
            let usage = try await store.usage()
            #expect(usage.bodies == 3 && usage.alertLevel == 85)
            // Full: refused, nothing stored.
            await #expect(throws: QuarantineStoreError(.full, "")) {
                _ = try await store.storeTransfer(makeTransfer("t3", mid: 3, holds: [virusHold]), body: makeBody(id: "3", size: size))
            }
            #expect(try await store.usage().bodies == 3)
            // Virus allows freeing space (default): its oldest message is deleted first.
            let freed = try await store.freeUpSpace(bytes: Int64(size))
            #expect(freed.actions.map(\.qid) == [qids[0]] && freed.actions[0].action == .delete && freed.actions[0].reason == .freeUpSpace)
            #expect(freed.actions[0].logLines == ["MID 0 deleted from quarantine \"Virus\" (free up space)"])
            _ = try await store.storeTransfer(makeTransfer("t3", mid: 3, holds: [virusHold]), body: makeBody(id: "3", size: size))

            // No quarantine allows it: nothing is given up and transfers stay refused.
            var virus = try #require(try await store.quarantine(named: "Virus"))
            virus.freeUpSpace = false
            try await store.updateQuarantine(virus, by: "admin")
            let none = try await store.freeUpSpace(bytes: Int64(size))
            #expect(none.actions.isEmpty && none.removedBodies == 0)
            #expect(try await store.usage().bodies == 3)
            await #expect(throws: QuarantineStoreError(.full, "")) {
                _ = try await store.storeTransfer(makeTransfer("t4", mid: 4, holds: [virusHold]), body: makeBody(id: "4", size: size))
            }
            // An operator deletes one: room again.
            try await store.delete(qids[1], from: nil, by: "op")
            _ = try await store.storeTransfer(makeTransfer("t4", mid: 4, holds: [virusHold]), body: makeBody(id: "4", size: size))
        }
    }

    @Test func releaseOptionsOfTheQuarantinesGoWithAManualReleaseOnly() async throws {
        let clock = Clock()
        try await withStore(QuarantineStoreOptions(fsync: false, now: { clock.now })) { store, _ in
            var outbreak = try #require(try await store.quarantine(named: "Outbreak"))
            outbreak.releaseOptions = ReleaseModifications(subjectTag: "[RELEASED]", addedHeader: .init(name: "X-Lazaret-Released", value: "early"), stripAttachments: true)
            try await store.updateQuarantine(outbreak, by: "admin")
            let manual = try await store.storeTransfer(makeTransfer("t1", holds: [outbreakHold]), body: makeBody(id: "1")).qid
            let expiring = try await store.storeTransfer(makeTransfer("t2", holds: [outbreakHold]), body: makeBody(id: "2")).qid
            let request = try #require(try await store.release(manual, from: nil, by: "op"))
            #expect(request.options == outbreak.releaseOptions)
            clock.advance(3601)
            let expired = try await store.expire(now: clock.now)
            #expect(expired.first { $0.qid == expiring }?.request?.options.isEmpty == true)
            // Read back from the database, the same.
            #expect(try await store.release(id: request.releaseID)?.options == outbreak.releaseOptions)
        }
    }
}

@Suite struct MoveAndSearchTests {
    @Test func movedMessageIsNotFoundInItsOldQuarantine() async throws {
        try await withStore(QuarantineStoreOptions(fsync: false)) { store, _ in
            try await store.addQuarantine(QuarantineDefinition(name: "Invoices"), by: "admin")
            let a = try await store.storeTransfer(makeTransfer("t1", holds: [policyHold]), body: makeBody(id: "1")).qid
            let b = try await store.storeTransfer(makeTransfer("t2", holds: [policyHold]), body: makeBody(id: "2")).qid
            try await store.move(b, from: "Policy", to: "Invoices", by: "op")
            let found = try await store.search(SearchQuery(quarantine: "Policy"))
            #expect(found.items.map(\.qid) == [a])
            let all = try await store.search(SearchQuery())
            #expect(Set(all.items.map(\.qid)) == [a, b])
            let results = try await store.perform(.release(from: ["Policy"]), on: [a, b], by: "op")
            #expect(results[1] == .refused(QuarantineStoreError(.notHeld, "")), "\(results)")
        }
    }
}
