import Foundation
import MailLog
import NIOConcurrencyHelpers
import QuarantineStore

/// The manager's retention sweeper and quota watch: on a timer (`store.sweep_s`) it applies
/// each quarantine's default action to the messages whose retention ended, removes the
/// bodies nothing needs any more, and says in mail_logs when the store crosses 75, 85 or
/// 95% of its quota. When a transfer finds the store full, ``freeUpSpace(bytes:)`` gives up
/// the oldest mail of quarantines that allow it. Releases it makes go on
/// `the.cpq.release.host` at once. The clock is injectable, for tests.
final class RetentionSweeper: Sendable {
    let store: QuarantineStore
    let log: MailLog
    let onReleased: @Sendable (ReleaseRequest) async -> Void
    let now: @Sendable () -> Date
    private let alertLevel = NIOLockedValueBox<Int?>(nil)
    /// One sweep or free-up at a time.
    private let running = AsyncSerializer()

    init(store: QuarantineStore, log: MailLog, now: @escaping @Sendable () -> Date = { Date() },
         onReleased: @escaping @Sendable (ReleaseRequest) async -> Void) {
        self.store = store
        self.log = log
        self.now = now
        self.onReleased = onReleased
    }

    /// What one sweep did.
    struct Report: Sendable, Hashable {
        var actions: [HeldMessageAction] = []
        var removedBodies = 0
        var usage: StoreUsage?
    }

    /// One pass: expiry (all that is due, a page at a time), bodies, quota alert.
    @discardableResult
    func sweep() async -> Report {
        await running.run {
            var report = Report()
            let at = self.now()
            do {
                while true {
                    let page = try await self.store.expire(now: at, limit: 500)
                    await self.done(page)
                    report.actions += page
                    if page.count < 500 || page.allSatisfy({ $0.problem != nil }) { break }
                }
                while true {
                    let removed = try await self.store.purgeBodies(now: at)
                    report.removedBodies += removed
                    if removed < 1000 { break }
                }
            } catch {
                self.log.warning("Retention sweep stopped: \(error); it runs again at the next interval")
            }
            report.usage = await self.checkQuota()
            return report
        }
    }

    /// Frees room for `bytes` more (a transfer the store refused as full). True when it fits now.
    func freeUpSpace(bytes: Int64) async -> Bool {
        await running.run {
            do {
                let freed = try await self.store.freeUpSpace(bytes: bytes)
                await self.done(freed.actions)
                if freed.removedBodies > 0 || !freed.actions.isEmpty {
                    self.log.info("Quarantine store over quota: removed \(freed.removedBodies) body(ies) of messages no longer held, applied the default action early to \(freed.actions.count) message(s)")
                }
            } catch {
                self.log.warning("Quarantine store over quota and space could not be freed: \(error)")
            }
            let usage = await self.checkQuota()
            guard let usage, let quota = usage.quotaBytes else { return true }
            return usage.bodyBytes + bytes <= quota
        }
    }

    /// Logs a crossing of 75/85/95% (up: warning; back down: info) and returns the usage.
    @discardableResult
    func checkQuota() async -> StoreUsage? {
        guard let usage = try? await store.usage(), let quota = usage.quotaBytes else { return nil }
        let level = usage.alertLevel
        let previous = alertLevel.withLockedValue { value -> Int?? in
            guard value != level else { return .none }
            defer { value = level }
            return .some(value)
        }
        guard case .some(let before) = previous else { return usage }
        let figures = "\(Self.megabytes(usage.bodyBytes)) of \(Self.megabytes(quota)) used (\(String(format: "%.1f", usage.percent))%, store.quota_mb)"
        if let level, level > (before ?? 0) {
            log.warning("Quarantine store is over \(level)% of its quota: \(figures)")
        } else {
            log.info("Quarantine store is back below \(before ?? 0)% of its quota: \(figures)")
        }
        return usage
    }

    /// The alert level last logged (75, 85, 95), nil below 75%.
    var currentAlertLevel: Int? { alertLevel.withLockedValue { $0 } }

    /// Runs ``sweep()`` every `interval` seconds until the task is cancelled.
    func run(every interval: Double) async {
        while !Task.isCancelled {
            await sweep()
            try? await Task.sleep(for: .milliseconds(Int(interval * 1000)))
        }
    }

    private func done(_ actions: [HeldMessageAction]) async {
        for action in actions {
            action.logLines.forEach { action.problem == nil ? log.info($0) : log.warning($0) }
            if let request = action.request { await onReleased(request) }
        }
    }

    static func megabytes(_ bytes: Int64) -> String {
        String(format: "%.1f MB", Double(bytes) / 1_048_576)
    }
}

/// Runs async blocks one at a time, in call order (no task of its own).
actor AsyncSerializer {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func run<T: Sendable>(_ body: @Sendable () async -> T) async -> T {
        if busy {
            await withCheckedContinuation { waiting.append($0) }
        } else {
            busy = true
        }
        let result = await body()
        if waiting.isEmpty {
            busy = false
        } else {
            waiting.removeFirst().resume()   // the lock passes to the next caller
        }
        return result
    }
}
