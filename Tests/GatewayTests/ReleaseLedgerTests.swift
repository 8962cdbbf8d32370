import CPQ
import Foundation
import Testing

@testable import Gateway

/// The gateway's memory of releases and of the reports it owes the manager, on a real
/// SQLite file in a temporary directory.
@Suite struct ReleaseLedgerTests {
    static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "ledger-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func aReleaseIsRememberedAcrossReopeningWithItsFirstMID() async throws {
        let path = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var ledger = try ReleaseLedger(directory: path)
        #expect(try await ledger.mid(forRelease: "r-1") == nil)
        try await ledger.remember(release: "r-1", qid: "Q1", mid: 913)
        try await ledger.remember(release: "r-1", qid: "Q1", mid: 914)  // a second write keeps the first MID
        #expect(try await ledger.mid(forRelease: "r-1") == 913)
        ledger.close()
        ledger = try ReleaseLedger(directory: path)
        #expect(try await ledger.mid(forRelease: "r-1") == 913)
        #expect(try await ledger.mid(forRelease: "r-2") == nil)
        ledger.close()
    }

    @Test func reportsAreQueuedOncePerStatusAndKeptUntilSent() async throws {
        let path = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var ledger = try ReleaseLedger(directory: path)
        let deferred = CPQReport(releaseID: "r-1", recipient: "bob@x.example", status: .deferred, reply: "451 4.2.1 later")
        let delivered = CPQReport(releaseID: "r-1", recipient: "bob@x.example", status: .delivered, reply: "250 2.0.0 Ok")
        try await ledger.queue([deferred])
        try await ledger.queue([deferred, delivered])  // the deferral again: not queued twice
        var pending = try await ledger.pendingReports()
        #expect(pending.map(\.report) == [deferred, delivered])
        try await ledger.markSent([pending[0].id])
        ledger.close()
        ledger = try ReleaseLedger(directory: path)
        pending = try await ledger.pendingReports()
        #expect(pending.map(\.report) == [delivered], "an unsent report must survive a restart")
        try await ledger.markSent(pending.map(\.id))
        #expect(try await ledger.pendingReports().isEmpty)
        let counts = try await ledger.counts()
        #expect(counts.unsentReports == 0)
        ledger.close()
    }

    @Test func anUnusableLedgerSaysWhatIsAtStake() throws {
        let path = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("not a database".utf8).write(to: URL(fileURLWithPath: path + "/cpq-ledger.sqlite"))
        #expect {
            _ = try ReleaseLedger(directory: path)
        } throws: { error in
            "\(error)".contains("cpq-ledger.sqlite cannot be opened") && "\(error)".contains("delivered twice")
        }
    }
}
