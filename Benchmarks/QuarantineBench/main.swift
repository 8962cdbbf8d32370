// Benchmark (not a test) of the quarantine store at scale: loads COUNT synthetic
// quarantined messages through `storeTransfer`, then times each kind of `search` and a bulk
// release. Run it with scripts/bench-quarantine, which builds it with -O. Environment:
//   COUNT=1000000 DIR=/tmp/lazaret-bench-quarantine QUERIES=200
//   SYNCED=50000 CALLERS=64: the first SYNCED messages the real way (fsync on, CALLERS
//     concurrent callers, default group commit), measured;
//   FAST_CALLERS=1024: the rest with synchronous = OFF and commits of up to 1024 transfers
//     (only to reach COUNT in reasonable time; its rate is not the store's);
//   FSYNC=0: no fsync at all; OPTIMIZE=0: no FTS5 'optimize' after the load;
//   STOP_AT=N: stop loading at N of COUNT (searches then sample the N loaded).
// A store already loaded in DIR (file DIR/loaded) is searched without loading again; an
// interrupted load resumes at its last complete chunk of 10 000.
import Foundation
import GRDB
import Logging
import QuarantineStore
import Scanning
#if canImport(Glibc)
import Glibc
#endif

let environment = ProcessInfo.processInfo.environment
let count = Int(environment["COUNT"] ?? "") ?? 1_000_000
let directory = environment["DIR"] ?? "/tmp/lazaret-bench-quarantine"
let callers = Int(environment["CALLERS"] ?? "") ?? 64
let fastCallers = Int(environment["FAST_CALLERS"] ?? "") ?? 1024
let synced = Int(environment["SYNCED"] ?? "") ?? 50_000
let fsync = environment["FSYNC"] != "0"
let optimize = environment["OPTIMIZE"] != "0"
let queriesPerKind = Int(environment["QUERIES"] ?? "") ?? 200
/// Only the search kinds whose name contains one of these (comma-separated); all by default.
let onlyKinds = environment["KINDS"].map { $0.split(separator: ",").map(String.init) }
/// Print this many slowest searches of each kind with their parameters (0: none).
let showSlowest = Int(environment["SLOWEST"] ?? "") ?? 0
/// RELEASE=0: no bulk release (which releases 10 000 more held messages each run).
let bulkRelease = environment["RELEASE"] != "0"
/// Load only the first STOP_AT messages of the COUNT-message plan (a load cut short: the
/// messages keep the received times of the full plan).
let stopAt = min(count, Int(environment["STOP_AT"] ?? "") ?? count)
let chunk = 10_000

/// The store's clock during the load: just after the newest message generated, so stored
/// times (and hold expiry) spread over the same 30 days as the received times.
final class SimulatedClock: @unchecked Sendable {
    private let lock = NSLock()
    private var latest = SyntheticMail.base
    func advance(to date: Date) { lock.lock(); if date > latest { latest = date }; lock.unlock() }
    func now() -> Date { lock.lock(); defer { lock.unlock() }; return latest.addingTimeInterval(5) }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func diskBytes(_ path: String) -> Int {
    var total = 0
    for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
        var info = stat()
        if stat(path + "/" + name, &info) == 0 { total += Int(info.st_blocks) * 512 }
    }
    return total
}

func fileBytes(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
}

func log(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

let mail = SyntheticMail(count: count)
let clock = SimulatedClock()
let logger = { var logger = Logger(label: "bench"); logger.logLevel = .warning; return logger }()
let loadedMarker = directory + "/loaded"
let optimizedMarker = directory + "/optimized"
let progressFile = directory + "/progress"

@MainActor func openStore(fsync: Bool, batch: Int = QuarantineStoreOptions.defaultMaxBatchMessages) throws -> QuarantineStore {
    try QuarantineStore.open(directory: directory, options: QuarantineStoreOptions(maxBatchMessages: batch, fsync: fsync,
                                                                                   logger: logger, now: { clock.now() }))
}

/// Stores messages `from..<to` with `callers` concurrent callers, in chunks; returns body bytes.
@MainActor func load(_ store: QuarantineStore, from: Int, to: Int, callers: Int, label: String) async throws {
    guard from < to else { return }
    log("quarantine bench: loading \(to - from) messages (\(from)..<\(to) of \(count)), \(label), \(callers) callers")
    let timer = ContinuousClock()
    let start = timer.now
    let commitsBefore = await store.ingestStatistics()
    var bodyBytes = 0
    var lastReport = start
    var lastDone = from
    for chunkStart in stride(from: from, to: to, by: chunk) {
        let chunkEnd = min(to, chunkStart + chunk)
        bodyBytes += try await withThrowingTaskGroup(of: Int.self) { group in
            for caller in 0..<callers {
                group.addTask {
                    var bytes = 0
                    var index = chunkStart + caller
                    while index < chunkEnd {
                        let message = mail.message(index)
                        clock.advance(to: message.transfer.receivedAt)
                        _ = try await store.storeTransfer(message.transfer, body: message.body)
                        bytes += message.body.count
                        index += callers
                    }
                    return bytes
                }
            }
            var total = 0
            for try await bytes in group { total += bytes }
            return total
        }
        try "\(chunkEnd)".write(toFile: progressFile, atomically: true, encoding: .utf8)
        if timer.now - lastReport > .seconds(30) || chunkEnd == to {
            let elapsed = seconds(timer.now - start)
            let recent = seconds(timer.now - lastReport)
            log(String(format: "  %7d stored, %.0f s, %.0f msg/s overall, %.0f msg/s last %.0f s, database %.1f GiB",
                       chunkEnd, elapsed, Double(chunkEnd - from) / elapsed, Double(chunkEnd - lastDone) / recent, recent,
                       Double(fileBytes(store.databasePath)) / Double(1 << 30)))
            lastReport = timer.now
            lastDone = chunkEnd
        }
    }
    let elapsed = seconds(timer.now - start)
    let statistics = await store.ingestStatistics()
    let commits = statistics.commits - commitsBefore.commits
    let transfers = statistics.transfers - commitsBefore.transfers
    log(String(format: "quarantine bench: ingest (%@) %d messages (%.2f GiB of bodies, mean %.1f KB) in %.0f s = %.0f msg/s, %.1f MB/s; %d commits (%.1f per commit)",
               label, to - from, Double(bodyBytes) / Double(1 << 30), Double(bodyBytes) / Double(to - from) / 1024,
               elapsed, Double(to - from) / elapsed, Double(bodyBytes) / elapsed / 1e6, commits,
               Double(transfers) / Double(max(1, commits))))
}

if !FileManager.default.fileExists(atPath: loadedMarker) {
    let resumeAt = (try? String(contentsOfFile: progressFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
    let syncedEnd = min(stopAt, synced)
    if resumeAt == 0 {
        // The synthetic mix holds 5 % in the policy quarantine Legal: define it, or its
        // transfers would be held in Unclassified (as an undefined quarantine's are).
        let store = try openStore(fsync: fsync)
        if try await store.quarantine(named: "Legal") == nil {
            try await store.addQuarantine(QuarantineDefinition(name: "Legal", retentionSeconds: 90 * 86_400), by: "bench")
        }
        try store.close()
    }
    if resumeAt < syncedEnd {
        let store = try openStore(fsync: fsync)
        try await load(store, from: resumeAt, to: syncedEnd, callers: callers,
                       label: fsync ? "fsync on, the real path" : "fsync off")
        try store.close()
    }
    let store = try openStore(fsync: false, batch: 1024)
    try await load(store, from: max(resumeAt, syncedEnd), to: stopAt, callers: fastCallers,
                   label: "synchronous = OFF, commits of up to 1024, only to fill the store")
    try store.close()
    try "\(stopAt)".write(toFile: loadedMarker, atomically: true, encoding: .utf8)
}
/// The messages in the store (the first `stored` of the plan).
let stored = (try? String(contentsOfFile: loadedMarker, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? count

// MARK: Searches

struct Kind {
    var name: String
    var make: (inout SplitMix64) -> SearchQuery
}

func day(_ random: inout SplitMix64) -> Date {
    SyntheticMail.base.addingTimeInterval(Double(random.next() % UInt64(SyntheticMail.days * Double(stored) / Double(count) - 1)) * 86_400)
}

func sample(_ random: inout SplitMix64) -> SyntheticMail.Message {
    mail.message(Int(random.next() % UInt64(stored)))
}

let kinds: [Kind] = [
    Kind(name: "sender (address)") { SearchQuery(sender: sample(&$0).transfer.mailFrom) },
    Kind(name: "sender (domain)") { SearchQuery(sender: String(sample(&$0).transfer.mailFrom.split(separator: "@")[1])) },
    Kind(name: "recipient (address)") { SearchQuery(recipient: sample(&$0).transfer.recipients[0]) },
    Kind(name: "subject (word)") { SearchQuery(subject: sample(&$0).subjectWord) },
    Kind(name: "full text (word of a body)") { SearchQuery(text: sample(&$0).bodyWord) },
    Kind(name: "full text (two words)") { random in
        SearchQuery(text: "\(sample(&random).bodyWord) \(mail.words[Int(random.next() % 3_000)])")
    },
    Kind(name: "full text (rare word)") { SearchQuery(text: mail.words[20_000 + Int($0.next() % 10_000)]) },
    Kind(name: "gateway") { SearchQuery(gateway: mail.gateways[Int($0.next() % UInt64(mail.gateways.count))]) },
    Kind(name: "quarantine") { SearchQuery(quarantine: ["Policy", "Virus", "Outbreak", "Legal", "Unclassified"][Int($0.next() % 5)]) },
    Kind(name: "reason (virus name)") { SearchQuery(reason: mail.viruses[Int($0.next() % UInt64(mail.viruses.count))]) },
    Kind(name: "reason (filter name)") { SearchQuery(reason: mail.filters[Int($0.next() % UInt64(mail.filters.count))]) },
    Kind(name: "received date range (1 day)") { random in
        let from = day(&random)
        return SearchQuery(receivedAfter: from, receivedBefore: from.addingTimeInterval(86_400))
    },
    Kind(name: "expiry range (1 day)") { random in
        let from = day(&random).addingTimeInterval(3 * 86_400)
        return SearchQuery(expiresAfter: from, expiresBefore: from.addingTimeInterval(86_400))
    },
    Kind(name: "size range (±2 KB)") { random in
        let size = 2_048 + Int(random.next() % 48_000)
        return SearchQuery(minSize: size - 2_048, maxSize: size + 2_048)
    },
    Kind(name: "combined (word, gateway, quarantine, 7 days)") { random in
        let message = sample(&random)
        return SearchQuery(text: message.bodyWord, gateway: message.transfer.gateway, quarantine: message.transfer.holds[0].quarantine,
                           receivedAfter: message.transfer.receivedAt.addingTimeInterval(-5 * 86_400),
                           receivedBefore: message.transfer.receivedAt.addingTimeInterval(2 * 86_400))
    },
    Kind(name: "combined, visible to Policy+Virus only") { random in
        let message = sample(&random)
        return SearchQuery(sender: String(message.transfer.mailFrom.split(separator: "@")[1]),
                           receivedAfter: message.transfer.receivedAt.addingTimeInterval(-10 * 86_400))
    },
    Kind(name: "full text (word), largest first") { random in
        var query = SearchQuery(text: sample(&random).bodyWord)
        query.order = .largest
        return query
    },
    Kind(name: "no filter, smallest first") { _ in SearchQuery(order: .smallest) },
]

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

@MainActor func searchAll(_ store: QuarantineStore, _ title: String) async throws {
    log("quarantine bench: \(queriesPerKind) searches per kind, first page of 50 and the page after it, \(stored) messages, \(title)")
    log("| search | p50 ms | p99 ms | max ms | next page p99 ms | mean hits on page 1 |")
    log("| --- | --- | --- | --- | --- | --- |")
    let timer = ContinuousClock()
    for kind in kinds where onlyKinds?.contains(where: { kind.name.contains($0) }) ?? true {
        var random = SplitMix64(seed: UInt64(kind.name.utf8.count) &* 7919)
        var first: [Double] = []
        var second: [Double] = []
        var hits = 0
        var slowest: [(ms: Double, query: SearchQuery, hits: Int)] = []
        let visible: Set<String>? = kind.name.contains("visible") ? ["Policy", "Virus"] : nil
        for _ in 0..<queriesPerKind {
            var query = kind.make(&random)
            let start = timer.now
            let page = try await store.search(query, visibleQuarantines: visible)
            first.append(seconds(timer.now - start) * 1000)
            hits += page.items.count
            if showSlowest > 0 {
                slowest.append((first.last!, query, page.items.count))
                slowest.sort { $0.ms > $1.ms }
                slowest = Array(slowest.prefix(showSlowest))
            }
            if let next = page.next {
                query.cursor = next
                let start = timer.now
                _ = try await store.search(query, visibleQuarantines: visible)
                second.append(seconds(timer.now - start) * 1000)
            }
        }
        first.sort()
        second.sort()
        log(String(format: "| %@ | %.2f | %.2f | %.2f | %@ | %.1f |", kind.name, percentile(first, 0.5), percentile(first, 0.99),
                   first.last!, second.isEmpty ? "–" : String(format: "%.2f", percentile(second, 0.99)),
                   Double(hits) / Double(queriesPerKind)))
        for slow in slowest {
            log(String(format: "    %.2f ms, %d hits: %@", slow.ms, slow.hits, String(describing: slow.query)))
        }
    }
}

@MainActor func optimizeTextIndexes() throws {
    let queue = try DatabaseQueue(path: directory + "/quarantine.sqlite")
    let timer = ContinuousClock()
    let start = timer.now
    try queue.write { db in
        try db.execute(sql: """
            INSERT INTO message_text (message_text) VALUES ('optimize');
            INSERT INTO message_envelope (message_envelope) VALUES ('optimize');
            """)
    }
    try queue.close()
    try "optimized".write(toFile: optimizedMarker, atomically: true, encoding: .utf8)
    log(String(format: "quarantine bench: FTS5 'optimize' of message_text and message_envelope in %.0f s", seconds(timer.now - start)))
}

var store = try openStore(fsync: true)
if optimize, !FileManager.default.fileExists(atPath: optimizedMarker) {
    try await searchAll(store, "as loaded (FTS5 segments as automerge left them)")
    try store.close()
    try optimizeTextIndexes()
    store = try openStore(fsync: true)
    try await searchAll(store, "after FTS5 'optimize'")
} else {
    try await searchAll(store, FileManager.default.fileExists(atPath: optimizedMarker) ? "after FTS5 'optimize'" : "as loaded")
}

// MARK: Bulk release

if bulkRelease {
    var query = SearchQuery(quarantine: "Policy", order: .oldest, limit: 1000)
    var qids: [QID] = []
    while qids.count < 10_000 {
        let page = try await store.search(query)
        qids += page.items.map(\.qid)
        guard let next = page.next else { break }
        query.cursor = next
    }
    let timer = ContinuousClock()
    let start = timer.now
    var released = 0
    var stillHeld = 0
    for batch in stride(from: 0, to: qids.count, by: 1000) {
        for result in try await store.release(Array(qids[batch..<min(qids.count, batch + 1000)]), from: nil, by: "bench") {
            switch result {
            case .released: released += 1
            case .stillHeld: stillHeld += 1
            case .refused: break
            }
        }
    }
    let elapsed = seconds(timer.now - start)
    log(String(format: "quarantine bench: bulk release of %d messages (10 calls of 1000, fsync on, audited) in %.2f s = %.0f msg/s (%d released, %d still held elsewhere)",
               qids.count, elapsed, Double(qids.count) / elapsed, released, stillHeld))
}
try store.close()

// MARK: Sizes

let databaseBytes = fileBytes(directory + "/quarantine.sqlite")
let walBytes = fileBytes(directory + "/quarantine.sqlite-wal")
let disk = diskBytes(directory)
log(String(format: "quarantine bench: database %.2f GiB (+ WAL %.1f MiB), %.0f bytes per message; disk %.2f GiB = %.0f bytes per message",
           Double(databaseBytes) / Double(1 << 30), Double(walBytes) / Double(1 << 20), Double(databaseBytes) / Double(stored),
           Double(disk) / Double(1 << 30), Double(disk) / Double(stored)))
if environment["DBSTAT"] != "0" {
    var configuration = Configuration()
    configuration.readonly = true
    let queue = try DatabaseQueue(path: directory + "/quarantine.sqlite", configuration: configuration)
    let rows = try queue.read { db in
        try Row.fetchAll(db, sql: """
            SELECT CASE WHEN name LIKE 'message_text%' THEN 'message_text (FTS5, all its tables)'
                        WHEN name LIKE 'message_envelope%' THEN 'message_envelope (FTS5, all its tables)' ELSE name END AS part,
                   SUM(pgsize) AS bytes FROM dbstat GROUP BY part ORDER BY bytes DESC
            """)
    }
    for row in rows {
        let part: String = row["part"]
        let bytes: Int = row["bytes"]
        log(String(format: "  %@: %.2f GiB, %.0f bytes per message", part, Double(bytes) / Double(1 << 30), Double(bytes) / Double(stored)))
    }
}
