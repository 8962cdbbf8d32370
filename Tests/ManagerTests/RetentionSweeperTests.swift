import Foundation
import MailLog
import QuarantineStore
import Scanning
import Testing
@testable import Manager

/// The manager's sweeper: default actions at expiry with an injected clock (mail_logs lines,
/// releases queued), bodies removed after retention, quota alerts at 75/85/95% and back,
/// and freeing space for a transfer.
@Suite struct RetentionSweeperTests {
    final class Clock: @unchecked Sendable {
        private let lock = NSLock()
        private var value = Date(timeIntervalSince1970: 1_790_000_100)
        var now: Date { lock.withLock { value } }
        func advance(_ seconds: TimeInterval) { lock.withLock { value += seconds } }
    }

    func withSweeper(quota: Int64? = nil,
                     _ body: (RetentionSweeper, QuarantineStore, Clock, MailLog, ReleasedRequests) async throws -> Void) async throws {
        let home = NSTemporaryDirectory() + "lzsweep-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: home) }
        let clock = Clock()
        var options = QuarantineStoreOptions(fsync: false, now: { clock.now })
        options.quotaBytes = quota
        let store = try QuarantineStore.open(directory: home + "/quarantine", options: options)
        defer { try? store.close() }
        let log = MailLog(inMemoryKeeping: 200)
        let released = ReleasedRequests()
        let sweeper = RetentionSweeper(store: store, log: log, now: { clock.now }, onReleased: { released.append($0) })
        try await body(sweeper, store, clock, log, released)
    }

    static func lines(_ log: MailLog, _ level: String = "Info") -> [String] {
        log.recentLines.compactMap { line in line.range(of: " \(level): ").map { String(line[$0.upperBound...]) } }
    }

    @Test func expiredMessagesGetTheirDefaultActionWithTheLinesAdminsKnow() async throws {
        try await withSweeper { sweeper, store, clock, log, released in
            let outbreak = QuarantineTicket(quarantine: "Outbreak", reason: QuarantineReason(kind: .outbreak, detail: "OUTB-1", threatLevel: 2),
                                            stage: .outbreak, retentionSeconds: 7200)
            let virus = try await store.add("t1", holds: [virusHold])
            let held = try await store.add("t2", holds: [outbreak])
            #expect(await sweeper.sweep().actions.isEmpty)

            clock.advance(7201)
            let first = await sweeper.sweep()
            #expect(first.actions.map(\.qid) == [held])
            #expect(released.requests.map(\.qid) == [held], "released at expiry: queued for its gateway")
            #expect(Self.lines(log).contains(#"MID 482 released from quarantine "Outbreak" (expired)"#))
            #expect(Self.lines(log).contains("MID 482 released from all quarantines"))

            clock.advance(30 * 86_400)
            #expect(await sweeper.sweep().actions.map(\.qid) == [virus])
            #expect(Self.lines(log).contains(#"MID 482 deleted from quarantine "Virus" (expired)"#))
            #expect(try await store.message(virus)?.hasBody == false, "deleted from its only quarantine: body gone")
            #expect(try await store.message(held)?.hasBody == true, "its release is still pending")
            try await store.markReleaseAccepted(released.requests[0].releaseID, gatewayMID: 77)
            #expect(await sweeper.sweep().removedBodies == 1)
            #expect(try await store.message(held)?.hasBody == false)
        }
    }

    @Test func quotaAlertsAreLoggedOnceWhenCrossedEachWay() async throws {
        let size = 1000
        try await withSweeper(quota: 10 * Int64(size)) { sweeper, store, _, log, _ in
            func add(_ id: String) async throws -> QID {
                let transfer = IncomingTransfer(transferID: id, gateway: "gw1.example.org", gatewayMID: 1, gatewayICID: 1, receivedAt: Date(),
                                                mailFrom: "a@example.org", recipients: ["b@example.com"], holds: [policyHold])
                return try await store.storeTransfer(transfer, body: Array(String(repeating: "x", count: size).utf8)).qid
            }
            var qids: [QID] = []
            for index in 0..<7 { qids.append(try await add("t\(index)")) }
            #expect(await sweeper.checkQuota()?.alertLevel == nil)
            qids.append(try await add("t7"))    // 80%
            #expect(await sweeper.checkQuota()?.alertLevel == 75)
            await sweeper.checkQuota()          // the same level: no second line
            qids.append(try await add("t8"))    // 90%
            await sweeper.sweep()
            qids.append(try await add("t9"))    // 100%
            await sweeper.sweep()
            let warnings = Self.lines(log, "Warning").filter { $0.hasPrefix("Quarantine store is over") }
            #expect(warnings.count == 3, "\(warnings)")
            #expect(warnings.first?.hasPrefix("Quarantine store is over 75% of its quota: 0.0 MB of 0.0 MB used (80.0%") == true, "\(warnings)")
            #expect(warnings.last?.contains("over 95%") == true)
            for qid in qids.prefix(5) { try await store.delete(qid, from: nil, by: "op") }
            #expect(await sweeper.checkQuota()?.alertLevel == nil)
            #expect(Self.lines(log).contains { $0.hasPrefix("Quarantine store is back below 95% of its quota") })
        }
    }

    @Test func aFullStoreFreesSpaceOnlyWhereAllowed() async throws {
        let size = 1000
        try await withSweeper(quota: 3 * Int64(size)) { sweeper, store, _, log, _ in
            var qids: [QID] = []
            for index in 0..<3 {
                let transfer = IncomingTransfer(transferID: "t\(index)", gateway: "gw1.example.org", gatewayMID: UInt64(index), gatewayICID: 1,
                                                receivedAt: Date(), mailFrom: "a@example.org", recipients: ["b@example.com"], holds: [policyHold])
                qids.append(try await store.storeTransfer(transfer, body: Array(String(repeating: "x", count: size).utf8)).qid)
            }
            #expect(await sweeper.freeUpSpace(bytes: Int64(size)))
            #expect(try await store.message(qids[0])?.holds[0].state == .deleted)
            #expect(Self.lines(log).contains(#"MID 0 deleted from quarantine "Policy" (free up space)"#))
            var policy = try #require(try await store.quarantine(named: "Policy"))
            policy.freeUpSpace = false
            try await store.updateQuarantine(policy, by: "admin")
            let transfer = IncomingTransfer(transferID: "t3", gateway: "gw1.example.org", gatewayMID: 3, gatewayICID: 1, receivedAt: Date(),
                                            mailFrom: "a@example.org", recipients: ["b@example.com"], holds: [policyHold])
            _ = try await store.storeTransfer(transfer, body: Array(String(repeating: "x", count: size).utf8))
            #expect(await !sweeper.freeUpSpace(bytes: Int64(size)), "Policy no longer gives up mail")
            #expect(try await store.usage().bodies == 3)
        }
    }
}
