import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
@testable import Spool

@Suite struct SpoolTests {
    @Test func storeThenReopenRecoversEverything() async throws {
        try await withTemporaryDirectory { tmp in
            var stored: [SpooledMessage] = []
            do {
                let spool = try Spool.open(directory: tmp.spool)
                #expect(spool.recovered.isEmpty)
                for n in 0..<10 {
                    let mid = spool.nextMID()
                    let envelope = makeEnvelope(mid: mid, recipients: 1 + n % 3, size: 300)
                    try await spool.store(envelope, body: makeBody(mid, size: 300))
                    stored.append(SpooledMessage(envelope: envelope, pendingRecipients: Array(0..<envelope.recipients.count)))
                }
                #expect(spool.pendingCount == 10)
                spool.close()
            }
            let reopened = try Spool.open(directory: tmp.spool)
            defer { reopened.close() }
            #expect(reopened.recovered == stored)
            #expect(reopened.recoveryIssues.isEmpty)
            for message in stored {
                let body = try await reopened.body(of: message.envelope.mid)
                #expect(body == makeBody(message.envelope.mid, size: 300))
            }
        }
    }

    @Test func outcomesSurviveReopen() async throws {
        try await withTemporaryDirectory { tmp in
            do {
                let spool = try Spool.open(directory: tmp.spool)
                for mid: MID in 1...4 {
                    try await spool.store(makeEnvelope(mid: mid, recipients: 3), body: makeBody(mid))
                }
                try await spool.record(.delivered, mid: 1, recipients: [0, 1, 2])  // finished
                try await spool.record(.bounced, mid: 2, recipients: [1])           // partial
                try await spool.record(.delivered, mid: 3, recipients: [0])
                try await spool.record(.expired, mid: 3, recipients: [2, 0])        // 0 again: ignored
                try await spool.record(.deleted, mid: 999, recipients: [0])         // unknown MID: ignored
                #expect(spool.message(1) == nil)
                #expect(spool.message(2)?.pendingRecipients == [0, 2])
                await #expect(throws: SpoolError(.unknownMessage, "")) { try await spool.body(of: 1) }
                spool.close()
            }
            let reopened = try Spool.open(directory: tmp.spool)
            defer { reopened.close() }
            #expect(reopened.recovered.map(\.envelope.mid) == [2, 3, 4])
            #expect(reopened.recovered.map(\.pendingRecipients) == [[0, 2], [1], [0, 1, 2]])
            #expect(reopened.stats.pendingRecipients == 6)
        }
    }

    @Test func binaryAndLargeBodiesRoundTrip() async throws {
        try await withTemporaryDirectory { tmp in
            var large = ByteBufferAllocator().buffer(capacity: 5 * 1024 * 1024)
            var state: UInt64 = 42
            for _ in 0..<(5 * 1024 * 1024 / 8) {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                large.writeInteger(state)
            }
            var binary = ByteBufferAllocator().buffer(capacity: 512)
            for byte in 0...255 { binary.writeInteger(UInt8(byte)) }
            binary.writeBytes([0, 0, 0, 13, 10, 46, 13, 10, 0])
            let empty = ByteBufferAllocator().buffer(capacity: 0)
            do {
                let spool = try Spool.open(directory: tmp.spool)
                try await spool.store(makeEnvelope(mid: 1), body: large)
                try await spool.store(makeEnvelope(mid: 2), body: binary)
                try await spool.store(makeEnvelope(mid: 3), body: empty)
                #expect(try await spool.body(of: 1) == large)
                #expect(try await spool.body(of: 2) == binary)
                spool.close()
            }
            let reopened = try Spool.open(directory: tmp.spool)
            defer { reopened.close() }
            #expect(try await reopened.body(of: 1) == large)
            #expect(try await reopened.body(of: 2) == binary)
            #expect(try await reopened.body(of: 3) == empty)
        }
    }

    @Test func tornTailIsTruncatedAndAppendingContinues() async throws {
        try await withTemporaryDirectory { tmp in
            do {
                let spool = try Spool.open(directory: tmp.spool)
                for mid: MID in 1...5 { try await spool.store(makeEnvelope(mid: mid), body: makeBody(mid, size: 1000)) }
                spool.close()
            }
            let segments = try segmentFiles(tmp.spool)
            #expect(segments.count == 1)
            let path = tmp.spool + "/" + segments.last!
            let handle = try #require(FileHandle(forUpdatingAtPath: path))
            let size = try handle.seekToEnd()
            try handle.truncate(atOffset: size - 100)  // cut the last record short
            try handle.seekToEnd()
            try handle.write(contentsOf: Data([0x4C, 0x5A, 0x53, 0x31, 0xFF, 0x00, 0x12]))  // and append garbage
            try handle.close()
            do {
                let reopened = try Spool.open(directory: tmp.spool)
                #expect(reopened.recovered.map(\.envelope.mid) == [1, 2, 3, 4])
                #expect(reopened.recoveryIssues.map(\.kind) == [.tornTail])
                #expect(reopened.recoveryIssues.first?.file == path)
                #expect(reopened.nextMID() > 4)  // 5 was cut off: it is no longer in the journal
                try await reopened.store(makeEnvelope(mid: 6), body: makeBody(6))
                reopened.close()
            }
            let again = try Spool.open(directory: tmp.spool)
            defer { again.close() }
            #expect(again.recovered.map(\.envelope.mid) == [1, 2, 3, 4, 6])
            #expect(again.recoveryIssues.isEmpty)
            #expect(try await again.body(of: 6) == makeBody(6))
        }
    }

    @Test func corruptionInAnOlderSegmentIsReportedAndLaterSegmentsStillLoad() async throws {
        try await withTemporaryDirectory { tmp in
            let options = SpoolOptions(segmentSize: 4096, compactionMaxMessages: 0)
            do {
                let spool = try Spool.open(directory: tmp.spool, options: options)
                for mid: MID in 1...12 { try await spool.store(makeEnvelope(mid: mid), body: makeBody(mid, size: 1000)) }
                spool.close()
            }
            let segments = try segmentFiles(tmp.spool)
            #expect(segments.count >= 3)
            // Flip a byte inside the second record of the first segment.
            let path = tmp.spool + "/" + segments[0]
            var data = try Data(contentsOf: URL(fileURLWithPath: path))
            let secondRecord = data.count / 2 + 10
            data[secondRecord] ^= 0xFF
            try data.write(to: URL(fileURLWithPath: path))
            let reopened = try Spool.open(directory: tmp.spool, options: options)
            defer { reopened.close() }
            #expect(reopened.recoveryIssues.count == 1)
            let issue = try #require(reopened.recoveryIssues.first)
            #expect(issue.kind == .corruption)
            #expect(issue.file == path)
            #expect(issue.offset > 0 && issue.offset < data.count)
            #expect(issue.description.contains(path))
            let mids = reopened.recovered.map(\.envelope.mid)
            #expect(mids.first == 1)
            #expect(mids.last == 12)  // the later segments were not dropped
            #expect(mids.count < 12)
            // The spool still works, and the damaged segment is not appended to.
            try await reopened.store(makeEnvelope(mid: 100), body: makeBody(100))
            #expect(try await reopened.body(of: 100) == makeBody(100))
        }
    }

    @Test func corruptionInsideTheNewestSegmentIsNotMistakenForATornTail() async throws {
        try await withTemporaryDirectory { tmp in
            let options = SpoolOptions(compactionMaxMessages: 0)
            do {
                let spool = try Spool.open(directory: tmp.spool, options: options)
                for mid: MID in 1...5 { try await spool.store(makeEnvelope(mid: mid), body: makeBody(mid, size: 1000)) }
                spool.close()
            }
            let path = tmp.spool + "/segment-000001.log"
            var data = try Data(contentsOf: URL(fileURLWithPath: path))
            data[data.count / 5 + 600] ^= 0x01  // inside the second of five records
            try data.write(to: URL(fileURLWithPath: path))
            do {
                let reopened = try Spool.open(directory: tmp.spool, options: options)
                #expect(reopened.recoveryIssues.map(\.kind) == [.corruption])
                #expect(reopened.recovered.map(\.envelope.mid) == [1])
                // Not truncated: the acknowledged records after the damage stay on disk.
                #expect(try Data(contentsOf: URL(fileURLWithPath: path)).count == data.count)
                // New records go to a fresh segment, never after the damage.
                try await reopened.store(makeEnvelope(mid: 6), body: makeBody(6))
                #expect(try segmentFiles(tmp.spool) == ["segment-000001.log", "segment-000002.log"])
                reopened.close()
            }
            let again = try Spool.open(directory: tmp.spool, options: options)
            defer { again.close() }
            #expect(again.recovered.map(\.envelope.mid) == [1, 6])
            // Once nothing needs the damaged segment it is kept aside, not deleted.
            try await again.record(.delivered, mid: 1, recipients: [0, 1])
            let names = try FileManager.default.contentsOfDirectory(atPath: tmp.spool)
            #expect(names.contains("damaged-segment-000001.log"))
            #expect(!names.contains("segment-000001.log"))
        }
    }

    @Test func aFailedWriteIsNeverAcknowledgedAndLeavesNoGarbage() async throws {
        try await withTemporaryDirectory { tmp in
            let failNext = NIOLockedValueBox(false)
            var options = SpoolOptions()
            options.faults.failWrite = { failNext.withLockedValue { fail in defer { fail = false }; return fail } }
            do {
                let spool = try Spool.open(directory: tmp.spool, options: options)
                try await spool.store(makeEnvelope(mid: 1), body: makeBody(1, size: 5000))
                failNext.withLockedValue { $0 = true }
                await #expect(throws: SpoolError(.write, "")) {
                    try await spool.store(makeEnvelope(mid: 2), body: makeBody(2, size: 5000))
                }
                #expect(spool.message(2) == nil)
                // The disk "has space again": later stores work and follow the last good record.
                try await spool.store(makeEnvelope(mid: 3), body: makeBody(3, size: 5000))
                spool.close()
            }
            let reopened = try Spool.open(directory: tmp.spool)
            defer { reopened.close() }
            #expect(reopened.recoveryIssues.isEmpty)
            #expect(reopened.recovered.map(\.envelope.mid) == [1, 3])
            #expect(try await reopened.body(of: 3) == makeBody(3, size: 5000))
        }
    }

    @Test func aFailedSyncStopsTheSpoolWithoutLosingAcknowledgedMail() async throws {
        try await withTemporaryDirectory { tmp in
            let fail = NIOLockedValueBox(false)
            var options = SpoolOptions()
            options.faults.failSync = { fail.withLockedValue { $0 } }
            do {
                let spool = try Spool.open(directory: tmp.spool, options: options)
                try await spool.store(makeEnvelope(mid: 1), body: makeBody(1))
                fail.withLockedValue { $0 = true }
                await #expect(throws: SpoolError(.sync, "")) { try await spool.store(makeEnvelope(mid: 2), body: makeBody(2)) }
                fail.withLockedValue { $0 = false }
                // Poisoned: nothing more is accepted until a restart.
                await #expect(throws: SpoolError(.sync, "")) { try await spool.store(makeEnvelope(mid: 3), body: makeBody(3)) }
                await #expect(throws: SpoolError(.sync, "")) { try await spool.record(.delivered, mid: 1, recipients: [0]) }
                spool.close()
            }
            let reopened = try Spool.open(directory: tmp.spool)
            defer { reopened.close() }
            // 1 was acknowledged and is back; 2 was written but never acknowledged (it may
            // come back: delivering it twice is better than losing it); 3 never reached the disk.
            #expect(reopened.recovered.first?.envelope.mid == 1)
            #expect(!reopened.recovered.contains { $0.envelope.mid == 3 })
        }
    }

    @Test func concurrentStoresShareSyncs() async throws {
        try await withTemporaryDirectory { tmp in
            let spool = try Spool.open(directory: tmp.spool)
            defer { spool.close() }
            let before = spool.stats.syncs
            // Build everything first, so that the stores really arrive together.
            let messages = (1...200).map { mid in (makeEnvelope(mid: MID(mid)), makeBody(MID(mid), size: 1000)) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (envelope, body) in messages {
                    group.addTask { try await spool.store(envelope, body: body) }
                }
                try await group.waitForAll()
            }
            let syncs = spool.stats.syncs - before
            #expect(spool.pendingCount == 200)
            #expect(syncs >= 1)
            #expect(syncs < 100, "200 concurrent stores took \(syncs) syncs; group commit is not sharing them")
        }
    }

    @Test func callbackAndPromiseVariants() async throws {
        try await withTemporaryDirectory { tmp in
            let spool = try Spool.open(directory: tmp.spool)
            defer { spool.close() }
            let promise = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Void.self)
            spool.store(makeEnvelope(mid: 1), body: makeBody(1), promise: promise)
            try await promise.futureResult.get()
            let result: Result<Void, any Error> = await withCheckedContinuation { continuation in
                spool.store(makeEnvelope(mid: 2), body: makeBody(2)) { continuation.resume(returning: $0) }
            }
            try result.get()
            #expect(spool.pendingCount == 2)
            // No recipients: refused, never acknowledged.
            await #expect(throws: SpoolError(.invalidArgument, "")) {
                try await spool.store(makeEnvelope(mid: 3, recipients: 0), body: makeBody(3))
            }
        }
    }

    @Test func closedSpoolRefusesWrites() async throws {
        try await withTemporaryDirectory { tmp in
            let spool = try Spool.open(directory: tmp.spool)
            spool.close()
            await #expect(throws: SpoolError(.closed, "")) {
                try await spool.store(makeEnvelope(mid: 1), body: makeBody(1))
            }
        }
    }

    @Test func closeFromACompletionCallbackDoesNotDeadlock() async throws {
        try await withTemporaryDirectory { tmp in
            let spool = try Spool.open(directory: tmp.spool)
            let result: Result<Void, any Error> = await withCheckedContinuation { continuation in
                spool.store(makeEnvelope(mid: 1), body: makeBody(1)) { result in
                    spool.close()  // runs on the writer thread
                    continuation.resume(returning: result)
                }
            }
            try result.get()
            await #expect(throws: SpoolError(.closed, "")) { try await spool.store(makeEnvelope(mid: 2), body: makeBody(2)) }
            // The writer releases the directory once the callback has returned.
            var reopened: Spool?
            for _ in 0..<200 where reopened == nil {
                reopened = try? Spool.open(directory: tmp.spool)
                if reopened == nil { try await Task.sleep(for: .milliseconds(10)) }
            }
            let again = try #require(reopened)
            defer { again.close() }
            #expect(again.recovered.map(\.envelope.mid) == [1])
        }
    }

    @Test func secondOpenOfTheSameDirectoryIsRefused() async throws {
        try await withTemporaryDirectory { tmp in
            let spool = try Spool.open(directory: tmp.spool)
            #expect(throws: SpoolError(.locked, "")) { _ = try Spool.open(directory: tmp.spool) }
            spool.close()
            let again = try Spool.open(directory: tmp.spool)
            again.close()
        }
    }

    @Test func segmentsRotateAndAreDeletedOnlyOnceDelivered() async throws {
        try await withTemporaryDirectory { tmp in
            let options = SpoolOptions(segmentSize: 4096, compactionMaxMessages: 0)
            let spool = try Spool.open(directory: tmp.spool, options: options)
            defer { spool.close() }
            for mid: MID in 1...20 { try await spool.store(makeEnvelope(mid: mid), body: makeBody(mid, size: 1000)) }
            let all = try segmentFiles(tmp.spool)
            #expect(all.count >= 5)
            #expect(all.first == "segment-000001.log")
            // Deliver everything except MID 1 (in the first segment): nothing can go yet.
            for mid: MID in 2...20 { try await spool.record(.delivered, mid: mid, recipients: [0, 1]) }
            #expect(try segmentFiles(tmp.spool) == all)
            // One of its two recipients: still held.
            try await spool.record(.delivered, mid: 1, recipients: [1])
            #expect(try segmentFiles(tmp.spool) == all)
            try await spool.record(.bounced, mid: 1, recipients: [0])
            let left = try segmentFiles(tmp.spool)
            #expect(left == [all.last!])
            #expect(spool.segmentNumbers.count == 1)
            #expect(spool.stats.pendingMessages == 0)
            // Reopen sees an empty spool and keeps working.
            spool.close()
            let reopened = try Spool.open(directory: tmp.spool, options: options)
            defer { reopened.close() }
            #expect(reopened.recovered.isEmpty)
            #expect(reopened.nextMID() > 20)
        }
    }

    @Test func compactionMovesLongDeferredMessagesForward() async throws {
        try await withTemporaryDirectory { tmp in
            let options = SpoolOptions(segmentSize: 4096, compactionMaxMessages: 2)
            do {
                let spool = try Spool.open(directory: tmp.spool, options: options)
                try await spool.store(makeEnvelope(mid: 1, recipients: 3), body: makeBody(1, size: 1000))
                try await spool.record(.delivered, mid: 1, recipients: [0])
                for mid: MID in 2...20 { try await spool.store(makeEnvelope(mid: mid), body: makeBody(mid, size: 1000)) }
                for mid: MID in 2...20 { try await spool.record(.delivered, mid: mid, recipients: [0, 1]) }
                // MID 1 alone held the old segments; it was copied forward and they were deleted.
                let files = try segmentFiles(tmp.spool)
                #expect(!files.contains("segment-000001.log"))
                #expect(files.count <= 2)
                #expect(spool.stats.compactedMessages >= 1)
                #expect(spool.message(1)?.pendingRecipients == [1, 2])
                #expect(try await spool.body(of: 1) == makeBody(1, size: 1000))
                spool.close()
            }
            let reopened = try Spool.open(directory: tmp.spool, options: options)
            defer { reopened.close() }
            #expect(reopened.recovered.map(\.envelope.mid) == [1])
            #expect(reopened.recovered.first?.pendingRecipients == [1, 2])
            #expect(try await reopened.body(of: 1) == makeBody(1, size: 1000))
            try await reopened.record(.delivered, mid: 1, recipients: [1, 2])
            #expect(reopened.pendingCount == 0)
        }
    }

    @Test func idsNeverRepeatAcrossReopenOrCrash() async throws {
        try await withTemporaryDirectory { tmp in
            let options = SpoolOptions(idBlockSize: 10)
            var seenMIDs = Set<MID>()
            var seenICIDs = Set<UInt64>()
            var seenDCIDs = Set<UInt64>()
            do {
                let spool = try Spool.open(directory: tmp.spool, options: options)
                #expect(spool.nextMID() == 1)
                seenMIDs.insert(1)
                for _ in 0..<24 {
                    #expect(seenMIDs.insert(spool.nextMID()).inserted)
                    #expect(seenICIDs.insert(spool.nextICID()).inserted)
                    #expect(seenDCIDs.insert(spool.nextDCID()).inserted)
                }
                // Crash: take the disk state while the spool is still open.
                try snapshotDirectory(tmp.spool, to: tmp.path + "/crashed")
                spool.close()
            }
            for directory in [tmp.spool, tmp.path + "/crashed"] {
                let spool = try Spool.open(directory: directory, options: options)
                defer { spool.close() }
                for _ in 0..<30 {
                    let mid = spool.nextMID(), icid = spool.nextICID(), dcid = spool.nextDCID()
                    #expect(!seenMIDs.contains(mid) && mid > 25)
                    #expect(!seenICIDs.contains(icid) && icid > 24)
                    #expect(!seenDCIDs.contains(dcid) && dcid > 24)
                }
            }
        }
    }

    @Test func midsStayAboveTheJournalEvenWithoutTheIDsFile() async throws {
        try await withTemporaryDirectory { tmp in
            do {
                let spool = try Spool.open(directory: tmp.spool)
                #expect(spool.nextMID() == 1)  // writes the ids file
                try await spool.store(makeEnvelope(mid: 5000), body: makeBody(5000))
                spool.close()
            }
            try FileManager.default.removeItem(atPath: tmp.spool + "/ids")
            let spool = try Spool.open(directory: tmp.spool)
            defer { spool.close() }
            #expect(spool.nextMID() == 5001)
        }
    }

    @Test func acknowledgedMessagesSurviveACrashSnapshot() async throws {
        try await withTemporaryDirectory { tmp in
            let spool = try Spool.open(directory: tmp.spool, options: SpoolOptions(segmentSize: 8192))
            for mid: MID in 1...10 { try await spool.store(makeEnvelope(mid: mid), body: makeBody(mid, size: 2000)) }
            try await spool.record(.delivered, mid: 3, recipients: [0, 1])
            try snapshotDirectory(tmp.spool, to: tmp.path + "/crashed")
            spool.close()
            let recovered = try Spool.open(directory: tmp.path + "/crashed")
            defer { recovered.close() }
            #expect(recovered.recovered.map(\.envelope.mid) == [1, 2, 4, 5, 6, 7, 8, 9, 10])
            for message in recovered.recovered {
                #expect(try await recovered.body(of: message.envelope.mid) == makeBody(message.envelope.mid, size: 2000))
            }
        }
    }
}
