import Foundation
import NIOCore
import Testing
@testable import Spool

/// Recovery of hand-written journals: copies of a message in several segments (what a crash
/// during compaction leaves), stale copies, outcomes for unknown MIDs.
@Suite struct SpoolRecoveryTests {
    static func write(_ records: [ByteBuffer], to path: String) throws {
        var data = Data()
        for record in records { data.append(contentsOf: record.readableBytesView) }
        try data.write(to: URL(fileURLWithPath: path))
    }

    @Test func copiesAreMergedAndNeverReviveFinishedRecipients() async throws {
        try await withTemporaryDirectory { tmp in
            try FileManager.default.createDirectory(atPath: tmp.spool, withIntermediateDirectories: true)
            let one = makeEnvelope(mid: 1, recipients: 3)
            let two = makeEnvelope(mid: 2, recipients: 2)
            let three = makeEnvelope(mid: 3, recipients: 1)
            try Self.write([
                SpoolRecord.encodeMessage(one, pending: nil, body: makeBody(1)).record,
                SpoolRecord.encodeMessage(two, pending: nil, body: makeBody(2)).record,
                SpoolRecord.encodeMessage(three, pending: nil, body: makeBody(3)).record,
                SpoolRecord.encodeOutcome(.delivered, mid: 1, recipients: [0]),
                SpoolRecord.encodeOutcome(.delivered, mid: 3, recipients: [0]),  // 3 finished
            ], to: tmp.spool + "/segment-000001.log")
            try Self.write([
                SpoolRecord.encodeOutcome(.bounced, mid: 77, recipients: [0]),  // unknown MID: ignored
                // A copy taken before the outcome for RID 0 was applied: must not revive RID 0.
                SpoolRecord.encodeMessage(one, pending: [0, 1, 2], body: makeBody(1)).record,
                SpoolRecord.encodeMessage(two, pending: [1], body: makeBody(2)).record,
                // A copy of a finished message: ignored.
                SpoolRecord.encodeMessage(three, pending: [0], body: makeBody(3)).record,
                SpoolRecord.encodeOutcome(.delivered, mid: 1, recipients: [2]),
            ], to: tmp.spool + "/segment-000002.log")
            let spool = try Spool.open(directory: tmp.spool)
            defer { spool.close() }
            #expect(spool.recoveryIssues.isEmpty)
            #expect(spool.recovered.map(\.envelope) == [one, two])
            #expect(spool.recovered.map(\.pendingRecipients) == [[1], [1]])
            #expect(try await spool.body(of: 1) == makeBody(1))
            // Both messages now live in segment 2, so segment 1 was reclaimed at open.
            #expect(try segmentFiles(tmp.spool) == ["segment-000002.log"])
            #expect(spool.nextMID() == 4)
        }
    }

    @Test func emptyAndMissingSegmentsAreFine() async throws {
        try await withTemporaryDirectory { tmp in
            try FileManager.default.createDirectory(atPath: tmp.spool, withIntermediateDirectories: true)
            try Self.write([], to: tmp.spool + "/segment-000003.log")
            try Self.write([SpoolRecord.encodeMessage(makeEnvelope(mid: 9), pending: nil, body: makeBody(9)).record],
                           to: tmp.spool + "/segment-000005.log")
            let spool = try Spool.open(directory: tmp.spool)
            defer { spool.close() }
            #expect(spool.recovered.map(\.envelope.mid) == [9])
            #expect(spool.recoveryIssues.isEmpty)
            try await spool.store(makeEnvelope(mid: 10), body: makeBody(10))
            #expect(try segmentFiles(tmp.spool) == ["segment-000005.log"])
        }
    }
}
