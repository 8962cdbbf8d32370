import Foundation
import MailLog
import NIOConcurrencyHelpers
import Scanning
import NIOCore
import SMTPProtocol
import Spool

/// Hands stored messages to the delivery queue their envelope names
/// (`destination`), and turns bounces into DSNs queued back to the sender.
final class MessageRouter: Sendable {
    let defaultDestination: String
    private let queues: [String: DeliveryQueue]
    private let spool: Spool
    private let log: MailLog
    private let hostname: String

    init(defaultDestination: String, queues: [String: DeliveryQueue], spool: Spool, log: MailLog, hostname: String) {
        self.defaultDestination = defaultDestination
        self.queues = queues
        self.spool = spool
        self.log = log
        self.hostname = hostname
    }

    /// Messages taken in since start, for `status`.
    struct IntakeCounters: Sendable, Hashable {
        /// Accepted by an SMTP listener.
        var received = 0
        /// Released by the manager (taken on the cpq_listener; a repeated release not counted).
        var released = 0
    }

    let intake = NIOLockedValueBox(IntakeCounters())

    func queue(named name: String) -> DeliveryQueue? { queues[name] }
    var allQueues: [DeliveryQueue] { queues.keys.sorted().compactMap { queues[$0] } }

    /// Where messages that still have pipeline stages to run go (set once at start).
    private let workQueue = NIOLockedValueBox<WorkQueue?>(nil)

    func attach(_ queue: WorkQueue) {
        workQueue.withLockedValue { $0 = queue }
    }

    /// Reports outcomes of released mail to the manager (set once at start, when joined).
    private let releaseReporter = NIOLockedValueBox<ReleaseReporter?>(nil)

    func attach(_ reporter: ReleaseReporter) {
        releaseReporter.withLockedValue { $0 = reporter }
    }

    /// A released message the pipeline did not pass on for delivery: tell the manager.
    func releaseNotDelivered(_ envelope: MessageEnvelope, reason: String) async {
        guard envelope.attributes[EnvelopeAttribute.release] != nil,
              let reporter = releaseReporter.withLockedValue({ $0 }) else { return }
        log.info("MID \(envelope.mid) release \(envelope.attributes[EnvelopeAttribute.release] ?? "") not delivered: \(reason)")
        await reporter.notDelivered(envelope, reason: reason)
    }

    /// Sends a stored message on: to the work queue if pipeline stages remain (its
    /// `pipeline` attribute), else to the delivery queue its envelope names.
    func route(_ message: SpooledMessage) async {
        if let stage = EnvelopeAttribute.nextStage(message.envelope), stage != .delivery,
           let work = workQueue.withLockedValue({ $0 }) {
            work.submit(message, from: stage)
            return
        }
        let queue = queues[message.envelope.destination] ?? queues[defaultDestination]
        guard let queue else {
            log.critical("MID \(message.envelope.mid) names destination \"\(message.envelope.destination)\" which is not configured; it stays in the spool until the destination is added")
            return
        }
        await queue.enqueue(message)
    }

    /// Builds a DSN (RFC 3464) for the failed recipients, stores it in the
    /// spool and queues it to the original sender; returns once it is durable,
    /// throws if it could not be stored (the caller then keeps the recipients
    /// pending). Nothing is sent for the null sender (a bounce of a bounce).
    func bounce(_ envelope: MessageEnvelope, body original: ByteBuffer?, _ failed: [FailedRecipient]) async throws {
        guard DeliveryStatusNotification.shouldSend(forReversePath: envelope.mailFrom) else {
            log.info("MID \(envelope.mid) bounce not sent: the sender is null (<>)")
            return
        }
        let recipients = failed.map {
            DeliveryStatusNotification.Recipient(
                address: $0.address, status: $0.reply.enhanced?.description ?? "5.0.0",
                remoteMTA: $0.remoteMTA, diagnostic: $0.reply.description)
        }
        guard let (bounce, dsn) = GeneratedMail.bounce(of: envelope, body: original ?? ByteBuffer(), recipients: recipients,
                                                       mid: spool.nextMID(), hostname: hostname,
                                                       destination: defaultDestination) else { return }
        let mid = bounce.mid
        try await spool.store(bounce, body: dsn)
        log.info("MID \(mid) was generated for bounce of MID \(envelope.mid)")
        log.info("MID \(mid) From: <> To: <\(envelope.mailFrom)>")
        await route(SpooledMessage(envelope: bounce, pendingRecipients: [0]))
    }
}
