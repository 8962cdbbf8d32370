import Foundation
import NIOCore
import Testing
@testable import Spool

/// The scanning pipeline commits its verdicts with `replace`: the original and its
/// replacements must never both (or neither) survive a reopen.
@Suite struct SpoolReplaceTests {
    @Test func attributesRoundTripThroughReopen() async throws {
        try await withTemporaryDirectory { tmp in
            var envelope = makeEnvelope(mid: 1, recipients: 2)
            envelope.attributes = ["pipeline": "message-filters", "sendergroup": "RELAYLIST", "empty": ""]
            do {
                let spool = try Spool.open(directory: tmp.spool)
                try await spool.store(envelope, body: makeBody(1))
                #expect(spool.message(1)?.envelope.attributes == envelope.attributes)
                spool.close()
            }
            let reopened = try Spool.open(directory: tmp.spool)
            defer { reopened.close() }
            #expect(reopened.recovered.map(\.envelope) == [envelope])
        }
    }

    @Test func replaceFinishesTheOriginalAndStoresThePartsAtomically() async throws {
        try await withTemporaryDirectory { tmp in
            var rewritten = makeEnvelope(mid: 1, recipients: 1)
            rewritten.destination = "the.cpq.host"
            rewritten.attributes = ["quarantines": "Policy"]
            let copy = makeEnvelope(mid: 2, recipients: 3)
            do {
                let spool = try Spool.open(directory: tmp.spool)
                try await spool.store(makeEnvelope(mid: 1, recipients: 2), body: makeBody(1))
                try await spool.store(makeEnvelope(mid: 3, recipients: 1), body: makeBody(3))
                try await spool.replace(1, with: [(rewritten, makeBody(10, size: 500)), (copy, makeBody(20))])
                #expect(spool.message(1)?.envelope == rewritten)
                #expect(spool.message(1)?.pendingRecipients == [0])
                #expect(spool.message(2)?.pendingRecipients == [0, 1, 2])
                #expect(try await spool.body(of: 1) == makeBody(10, size: 500))
                #expect(try await spool.body(of: 2) == makeBody(20))
                // Dropping: a replace with no parts finishes the message.
                try await spool.replace(3, with: [])
                #expect(spool.message(3) == nil)
                spool.close()
            }
            let reopened = try Spool.open(directory: tmp.spool)
            defer { reopened.close() }
            #expect(reopened.recovered.map(\.envelope) == [rewritten, copy])
            #expect(try await reopened.body(of: 1) == makeBody(10, size: 500))
            #expect(try await reopened.body(of: 2) == makeBody(20))
            #expect(reopened.recoveryIssues.isEmpty)
        }
    }

    @Test func replaceOfAFinishedMessageWritesNothing() async throws {
        try await withTemporaryDirectory { tmp in
            let spool = try Spool.open(directory: tmp.spool)
            defer { spool.close() }
            try await spool.store(makeEnvelope(mid: 1, recipients: 1), body: makeBody(1))
            try await spool.record(.deleted, mid: 1, recipients: [0])
            await #expect(throws: SpoolError(.unknownMessage, "")) {
                try await spool.replace(1, with: [(makeEnvelope(mid: 1, recipients: 1), makeBody(1))])
            }
            await #expect(throws: SpoolError(.invalidArgument, "")) {
                try await spool.replace(1, with: [(makeEnvelope(mid: 5, recipients: 0), makeBody(1))])
            }
            #expect(spool.pendingCount == 0)
        }
    }

    /// A replace record cut short by a crash is a torn tail: the original comes back, the
    /// parts do not (nothing was acknowledged for them).
    @Test func tornReplaceLeavesTheOriginalPending() async throws {
        try await withTemporaryDirectory { tmp in
            let original = makeEnvelope(mid: 1, recipients: 2)
            do {
                let spool = try Spool.open(directory: tmp.spool, options: SpoolOptions(compactionMaxMessages: 0))
                try await spool.store(original, body: makeBody(1))
                try await spool.replace(1, with: [(makeEnvelope(mid: 2, recipients: 1), makeBody(2, size: 4000))])
                spool.close()
            }
            let segment = try #require(FileManager.default.contentsOfDirectory(atPath: tmp.spool)
                .filter { $0.hasPrefix("segment-") }.sorted().last)
            let path = tmp.spool + "/" + segment
            let size = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
            let handle = try #require(FileHandle(forUpdatingAtPath: path))
            try handle.truncate(atOffset: UInt64(size - 100))
            try handle.close()
            let reopened = try Spool.open(directory: tmp.spool)
            defer { reopened.close() }
            #expect(reopened.recovered.map(\.envelope) == [original])
            #expect(reopened.recoveryIssues.map(\.kind) == [.tornTail])
        }
    }

    /// Compaction copies a rewritten message (same MID) with its new envelope and body.
    @Test func compactionKeepsTheReplacedCopy() async throws {
        try await withTemporaryDirectory { tmp in
            var rewritten = makeEnvelope(mid: 1, recipients: 1)
            rewritten.attributes = ["pipeline": "done"]
            let options = SpoolOptions(segmentSize: 4096, compactionMaxMessages: 2)
            do {
                let spool = try Spool.open(directory: tmp.spool, options: options)
                try await spool.store(makeEnvelope(mid: 1, recipients: 2), body: makeBody(1, size: 300))
                try await spool.replace(1, with: [(rewritten, makeBody(9, size: 300))])
                for mid: MID in 2...40 {
                    try await spool.store(makeEnvelope(mid: mid, recipients: 1), body: makeBody(mid, size: 600))
                    try await spool.record(.delivered, mid: mid, recipients: [0])
                }
                #expect(spool.stats.compactedMessages > 0)
                spool.close()
            }
            let reopened = try Spool.open(directory: tmp.spool, options: options)
            defer { reopened.close() }
            #expect(reopened.recovered.map(\.envelope) == [rewritten])
            #expect(try await reopened.body(of: 1) == makeBody(9, size: 300))
        }
    }
}
