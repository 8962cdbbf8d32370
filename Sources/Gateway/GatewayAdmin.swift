import AdminCLI
import Foundation
import MailLog
import NIOConcurrencyHelpers
import SMTPProtocol
import Spool

/// The gateway seen by the mail commands (`status`, `tophosts`, `suspend`...): its
/// delivery queues (the smarthost, `the.cpq.host`), its listeners (SMTP and the
/// cpq_listener) with their gates, and the counters of the router and the pipeline.
final class GatewayAdmin: MailAdminSystem {
    let roleName = "gateway"
    let hostname: String
    let startedAt = Date()
    let mailLogPath: String
    let suspension = SuspensionBook()
    let deletionNote: String? = nil

    private let router: MessageRouter
    private let work: WorkQueue
    private let log: MailLog
    private let quarantineDestination: String
    private let interfaceList: [InterfaceInfo]
    private let bound = NIOLockedValueBox<[(info: ListenerInfo, gate: SMTPListenerGate)]>([])

    init(configuration: GatewayConfiguration, router: MessageRouter, work: WorkQueue, log: MailLog, mailLogPath: String) {
        self.hostname = configuration.hostname
        self.router = router
        self.work = work
        self.log = log
        self.mailLogPath = mailLogPath
        self.quarantineDestination = configuration.scanning.quarantineDestination
        self.interfaceList = configuration.interfaces.map { InterfaceInfo(name: $0.name, address: $0.address) }
    }

    /// A gate for the listener about to be bound, closed already if it is suspended.
    func gate(for listener: String) -> SMTPListenerGate {
        let gate = SMTPListenerGate()
        if suspension.state.isRefusing(listener) {
            gate.suspend(reply: SMTPListenerGate.suspendedReply(hostname: hostname, listener: listener))
        }
        return gate
    }

    /// Records a bound listener (with its real port) and its gate.
    func register(_ info: ListenerInfo, gate: SMTPListenerGate) {
        bound.withLockedValue { $0.append((info, gate)) }
    }

    // MARK: MailAdminSystem

    func counters() async -> [StatusCounter] {
        let intake = router.intake.withLockedValue { $0 }
        let scanned = work.counters.withLockedValue { $0 }
        var delivered = 0
        var bounced = 0
        for queue in router.allQueues {
            let status = await queue.status
            if queue.destination.name != quarantineDestination { delivered += status.deliveredRecipients }
            bounced += status.hardBouncedRecipients
        }
        return [StatusCounter("Received messages", intake.received),
                StatusCounter("Delivered recipients", delivered),
                StatusCounter("Quarantined messages", scanned.quarantined),
                StatusCounter("Released messages", intake.released),
                StatusCounter("Hard bounced recipients", bounced)]
    }

    func hostStatuses() async -> [HostQueueStatus] {
        var result: [HostQueueStatus] = []
        for queue in router.allQueues { result.append(Self.snapshot(await queue.status)) }
        return result
    }

    func queuedMessages() async -> [QueuedMessageInfo] {
        var result: [QueuedMessageInfo] = []
        for queue in router.allQueues {
            for message in await queue.queuedMessages {
                result.append(Self.info(message, host: queue.destination.name))
            }
        }
        return result
    }

    func deleteRecipients(_ selection: RecipientSelection) async -> [DeletedRecipients] {
        var result: [DeletedRecipients] = []
        for queue in router.allQueues {
            let host = queue.destination.name
            let messages = await queue.queuedMessages.filter { selection.matches(host: host, sender: $0.envelope.mailFrom) }.count
            guard messages > 0 else { continue }
            let recipients = await queue.deleteAll { selection.matches(host: host, sender: $0.mailFrom) }
            if recipients > 0 { result.append(DeletedRecipients(host: host, messages: messages, recipients: recipients)) }
        }
        return result
    }

    func deliverNow(host: String?) async -> [String] {
        var touched: [String] = []
        for queue in router.allQueues where host == nil || queue.destination.name.lowercased() == host!.lowercased() {
            await queue.deliverNow()
            touched.append(queue.destination.name)
        }
        return touched
    }

    func listeners() -> [ListenerInfo] { bound.withLockedValue { $0.map { $0.info } } }

    func interfaces() -> [InterfaceInfo] { interfaceList }

    func apply(_ state: SuspensionState) async {
        for (info, gate) in bound.withLockedValue({ $0 }) {
            if state.isRefusing(info.name) {
                gate.suspend(reply: SMTPListenerGate.suspendedReply(hostname: hostname, listener: info.name))
            } else {
                gate.resume()
            }
        }
        for queue in router.allQueues {
            if state.system { await queue.pauseDelivery() } else { await queue.resumeDelivery() }
        }
    }

    func logInfo(_ line: String) { log.info(line) }

    // MARK: Snapshots

    static func snapshot(_ status: DeliveryQueueStatus, note: String? = nil) -> HostQueueStatus {
        HostQueueStatus(name: status.destination.name, address: "\(status.destination.host):\(status.destination.port)", note: note,
                        activeRecipients: status.activeRecipients, activeMessages: status.activeMessages,
                        connectionsOut: status.connectionsOut, deliveredRecipients: status.deliveredRecipients,
                        softBouncedRecipients: status.softBouncedRecipients, hardBouncedRecipients: status.hardBouncedRecipients,
                        isDown: status.isDown, isPaused: status.isPaused,
                        oldest: status.oldestReceivedAt.map(Date.init(timeIntervalSince1970:)))
    }

    static func info(_ message: SpooledMessage, host: String, note: String? = nil) -> QueuedMessageInfo {
        let envelope = message.envelope
        let recipients = message.pendingRecipients.compactMap { envelope.recipients.indices.contains($0) ? envelope.recipients[$0] : nil }
        return QueuedMessageInfo(mid: envelope.mid, host: host, sender: envelope.mailFrom, recipients: recipients, size: envelope.size,
                                 received: Date(timeIntervalSince1970: envelope.receivedAt), note: note)
    }
}
