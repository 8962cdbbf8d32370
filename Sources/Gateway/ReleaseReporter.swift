import CPQ
import Foundation
import MailLog
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SMTPProtocol
import Spool

/// Tells the manager what became of each released recipient (`XCPQ REPORT`, docs/CPQ.md),
/// so that a release shows as done only once the next hop took it. Outcomes are written
/// to the ``ReleaseLedger`` first (durable), then sent over a connection to the manager's
/// cpq_listener; one that the manager did not acknowledge is sent again later, also after
/// a restart.
final class ReleaseReporter: Sendable {
    private let ledger: ReleaseLedger
    private let link: CPQLink
    private let manager: (host: String, port: Int)
    private let hostname: String
    private let log: MailLog
    private let group: any EventLoopGroup
    /// Seconds between attempts while the manager cannot be reached.
    private let retrySeconds: Double
    private let wakeups = NIOLockedValueBox<(pending: Bool, waiter: CheckedContinuation<Void, Never>?)>((true, nil))

    init(ledger: ReleaseLedger, link: CPQLink, manager: (host: String, port: Int), hostname: String, log: MailLog,
         group: any EventLoopGroup, retrySeconds: Double) {
        self.ledger = ledger
        self.link = link
        self.manager = manager
        self.hostname = hostname
        self.log = log
        self.group = group
        self.retrySeconds = retrySeconds
    }

    // MARK: Recording outcomes

    /// The delivery queues' observer: outcomes of released mail become reports.
    func observe(_ envelope: MessageEnvelope, _ attempts: [RecipientAttempt]) async {
        guard let releaseID = envelope.attributes[EnvelopeAttribute.release] else { return }
        let reports = attempts.map { attempt -> CPQReport in
            let status: CPQReportStatus = switch attempt.result {
            case .delivered: .delivered
            case .deferred: .deferred
            case .bounced, .expired, .deleted: .bounced
            }
            return CPQReport(releaseID: releaseID, recipient: attempt.address, status: status, reply: attempt.reply.description)
        }
        await queue(reports, mid: envelope.mid)
    }

    /// A released message that the pipeline did not pass on for delivery (quarantined
    /// again, dropped, bounced by a filter): each recipient is reported as bounced.
    func notDelivered(_ envelope: MessageEnvelope, reason: String) async {
        guard let releaseID = envelope.attributes[EnvelopeAttribute.release] else { return }
        await queue(envelope.recipients.map { CPQReport(releaseID: releaseID, recipient: $0, status: .bounced, reply: reason) },
                    mid: envelope.mid)
    }

    private func queue(_ reports: [CPQReport], mid: MID) async {
        do {
            try await ledger.queue(reports)
        } catch {
            log.critical("MID \(mid) release outcomes cannot be written to the release ledger: \(error); the manager will not learn them")
            return
        }
        wake()
    }

    private func wake() {
        let waiter = wakeups.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            state.pending = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    // MARK: Sending

    /// Sends reports until `isStopped()`: whenever outcomes arrive, and every
    /// `retrySeconds` while some are unsent.
    func run(isStopped: @escaping @Sendable () -> Bool) async {
        while !isStopped() && !Task.isCancelled {
            await waitForWork()
            if isStopped() || Task.isCancelled { break }
            let delivered = await sendPending()
            if !delivered {
                try? await Task.sleep(for: .seconds(retrySeconds))
            }
        }
    }

    /// Stops `run` at its next wait.
    func stop() { wake() }

    private func waitForWork() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = wakeups.withLockedValue { state -> Bool in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            wake()
        }
    }

    /// Sends everything unsent over one connection; false when the manager could not take
    /// them now (they are sent again later).
    private func sendPending() async -> Bool {
        var pending: [ReleaseLedger.PendingReport]
        do {
            pending = try await ledger.pendingReports()
        } catch {
            log.critical("Release reports cannot be read from the release ledger: \(error)")
            return false
        }
        guard !pending.isEmpty else { return true }
        let connection: SMTPClientConnection
        do {
            connection = try await SMTPClientConnection.connect(host: manager.host, port: manager.port, group: group,
                                                                options: link.clientOptions(localHostname: hostname))
        } catch {
            log.info("Release reports: the manager at \(manager.host) port \(manager.port) cannot be reached (\(error)); \(pending.count) report(s) wait")
            return false
        }
        let sent = await send(pending, over: connection)
        await connection.quit()
        return sent
    }

    private func send(_ first: [ReleaseLedger.PendingReport], over connection: SMTPClientConnection) async -> Bool {
        var pending = first
        guard CPQClient.offersCPQ(connection.extensions) else {
            log.warning("Release reports: \(manager.host) port \(manager.port) does not offer XCPQ 1; \(pending.count) report(s) wait")
            return false
        }
        while !pending.isEmpty {
            var done: [Int64] = []
            for item in pending {
                let reply: SMTPReply
                do {
                    reply = try await CPQClient.report(item.report, over: connection)
                } catch {
                    try? await ledger.markSent(done)
                    log.info("Release reports: connection to the manager lost (\(error)); the rest are sent later")
                    return false
                }
                if reply.isPositiveCompletion {
                    done.append(item.id)
                    log.info("Release \(item.report.releaseID) to <\(item.report.recipient)> reported \(item.report.status.rawValue) to the manager")
                } else if reply.code >= 500 {
                    done.append(item.id)
                    log.warning("Release \(item.report.releaseID) to <\(item.report.recipient)>: the manager refused the \(item.report.status.rawValue) report for good ('\(reply)'); it is not sent again")
                } else {
                    try? await ledger.markSent(done)
                    log.info("Release reports: the manager deferred ('\(reply)'); the rest are sent later")
                    return false
                }
            }
            do {
                try await ledger.markSent(done)
                pending = try await ledger.pendingReports()
            } catch {
                log.critical("Release reports cannot be marked sent in the release ledger: \(error)")
                return false
            }
        }
        return true
    }
}
