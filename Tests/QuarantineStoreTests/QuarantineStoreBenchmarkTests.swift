import Foundation
import Testing
@testable import QuarantineStore

/// Throughput of `storeTransfer` with 10 KB bodies. Off by default (wall-clock numbers are
/// not test assertions); run with `scripts/bench-store` (release build) or
/// `STORE_BENCH=1 swift test --filter QuarantineStoreBenchmark` (debug build, CPU bound sooner).
@Suite struct QuarantineStoreBenchmarkTests {
    static var enabled: Bool { ProcessInfo.processInfo.environment["STORE_BENCH"] != nil }

    @Test(.enabled(if: enabled))
    func storeTransferThroughput() async throws {
        let callerCounts = (ProcessInfo.processInfo.environment["STORE_BENCH_CALLERS"] ?? "1,16,64,256")
            .split(separator: ",").compactMap { Int($0) }
        for fsync in [true, false] {
            for callers in callerCounts {
                try await withStore(QuarantineStoreOptions(fsync: fsync)) { store, directory in
                    let perCaller = max(1, (callers == 1 ? 500 : 10_000) / callers)
                    let body = makeBody(id: "bench", size: 10 * 1024)
                    let clock = ContinuousClock()
                    let start = clock.now
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for caller in 0..<callers {
                            group.addTask {
                                for index in 0..<perCaller {
                                    _ = try await store.storeTransfer(makeTransfer("t-\(caller)-\(index)", mid: UInt64(index)),
                                                                      body: body)
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                    let elapsed = clock.now - start
                    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                    let stored = perCaller * callers
                    let statistics = await store.ingestStatistics()
                    let size = fileSize(directory.store + "/quarantine.sqlite") + fileSize(directory.store + "/quarantine.sqlite-wal")
                    print("store bench fsync=\(fsync) callers=\(callers): \(stored) x 10 KB in \(String(format: "%.2f", seconds)) s = \(Int(Double(stored) / seconds)) msg/s, \(statistics.commits) commits (\(Int(Double(statistics.commits) / seconds))/s, avg \(String(format: "%.1f", Double(stored) / Double(statistics.commits))) per commit), database \(size >> 20) MiB")
                    #expect(try await store.rowCount("messages") == stored)
                }
            }
        }
    }
}
