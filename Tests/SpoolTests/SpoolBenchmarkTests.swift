import Foundation
import NIOCore
import Testing
@testable import Spool

/// Throughput of `store()` with 10 KB bodies. Off by default (wall-clock numbers are not
/// test assertions); run with `SPOOL_BENCH=1 swift test --filter SpoolBenchmark`.
@Suite struct SpoolBenchmarkTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["SPOOL_BENCH"] != nil))
    func storeThroughput() async throws {
        for fsync in [true, false] {
            for callers in [1, 16, 64, 256] {
                try await withTemporaryDirectory { tmp in
                    let spool = try Spool.open(directory: tmp.spool, options: SpoolOptions(fsync: fsync))
                    defer { spool.close() }
                    let total = callers == 1 ? 500 : 20_000
                    let body = makeBody(1, size: 10 * 1024)
                    let clock = ContinuousClock()
                    let start = clock.now
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for _ in 0..<callers {
                            group.addTask {
                                for _ in 0..<(total / callers) {
                                    let mid = spool.nextMID()
                                    try await spool.store(makeEnvelope(mid: mid, recipients: 1, size: body.readableBytes), body: body)
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                    let elapsed = clock.now - start
                    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                    let stats = spool.stats
                    let stored = (total / callers) * callers
                    print("spool bench fsync=\(fsync) callers=\(callers): \(stored) x 10 KB in \(String(format: "%.2f", seconds)) s = \(Int(Double(stored) / seconds)) msg/s, \(stats.syncs) syncs (\(Int(Double(stats.syncs) / seconds))/s), \(stats.batches) batches, \(stats.segments) segments")
                    #expect(spool.pendingCount == stored)
                }
            }
        }
    }
}
