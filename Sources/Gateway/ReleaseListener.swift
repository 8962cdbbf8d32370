import CPQ
import CPQTLS
import Foundation
import MailLog
import NIOConcurrencyHelpers
import NIOCore
import SMTPProtocol
import Scanning
import Spool

/// What the gateway's `cpq_listener` connections share: the spool, the router, the ledger
/// of releases already taken, and the in-flight releases (so that two deliveries of the
/// same release at the same time still spool it once).
final class ReleaseIntake: Sendable {
    let spool: Spool
    let router: MessageRouter
    let ledger: ReleaseLedger
    let log: MailLog
    let managerFingerprint: CPQFingerprint
    private let inFlight = NIOLockedValueBox<[String: Task<CPQQueuedRelease, any Error>]>([:])

    init(spool: Spool, router: MessageRouter, ledger: ReleaseLedger, log: MailLog, managerFingerprint: CPQFingerprint) {
        self.spool = spool
        self.router = router
        self.ledger = ledger
        self.log = log
        self.managerFingerprint = managerFingerprint
    }

    /// Spools a released message once per release id: the message is fsynced in the spool,
    /// then its id in the ledger, then it goes on through the pipeline from `RESUME`. A
    /// release id seen before is answered with its first MID and spools nothing.
    func accept(_ release: CPQIncomingRelease, icid: UInt64, remoteAddress: String) async throws -> CPQQueuedRelease {
        let id = release.header.releaseID
        let (task, isNew) = inFlight.withLockedValue { running -> (Task<CPQQueuedRelease, any Error>, Bool) in
            if let task = running[id] { return (task, false) }
            let task = Task { try await self.spoolOnce(release, icid: icid, remoteAddress: remoteAddress) }
            running[id] = task
            return (task, true)
        }
        defer { if isNew { inFlight.withLockedValue { $0[id] = nil } } }
        let queued = try await task.value
        return isNew ? queued : CPQQueuedRelease(mid: queued.mid, alreadyQueued: true)
    }

    private func spoolOnce(_ release: CPQIncomingRelease, icid: UInt64, remoteAddress: String) async throws -> CPQQueuedRelease {
        let header = release.header
        if let mid = try await ledger.mid(forRelease: header.releaseID) {
            log.info("ICID \(icid) release \(header.releaseID) of QID \(header.qid) was already queued as MID \(mid); nothing is delivered twice")
            return CPQQueuedRelease(mid: mid, alreadyQueued: true)
        }
        let mid = spool.nextMID()
        var attributes = MessageEnvelope.attributes(forMailParameters: release.envelope.mailParameters)
        attributes[EnvelopeAttribute.pipeline] = header.resume.rawValue
        attributes[EnvelopeAttribute.release] = header.releaseID
        attributes[EnvelopeAttribute.releaseQID] = header.qid
        attributes[EnvelopeAttribute.origin] = String(header.mid)
        let envelope = MessageEnvelope(
            mid: mid, icid: icid, listener: "cpq_listener", remoteAddress: remoteAddress, heloName: release.envelope.heloName,
            mailFrom: release.envelope.mailFrom, recipients: release.envelope.recipients, receivedAt: Date().timeIntervalSince1970,
            destination: router.defaultDestination, size: release.body.readableBytes, attributes: attributes)
        do {
            try await spool.store(envelope, body: release.body)
        } catch {
            log.critical("ICID \(icid) release \(header.releaseID) MID \(mid) could not be written to the spool: \(error)")
            throw error
        }
        do {
            try await ledger.remember(release: header.releaseID, qid: header.qid, mid: mid)
        } catch {
            // The spooled message carries the release id: the next start mends the ledger.
            log.critical("ICID \(icid) release \(header.releaseID) MID \(mid) spooled but not written to the release ledger: \(error)")
        }
        let quarantines = header.quarantines.map { "\"\($0)\"" }.joined(separator: ", ")
        log.info("MID \(mid) ICID \(icid) released by the manager from \(quarantines): QID \(header.qid) (gateway MID \(header.mid)), release \(header.releaseID), \(envelope.recipients.count) recipient(s), resuming at \(header.resume.rawValue)")
        router.intake.withLockedValue { $0.released += 1 }
        await router.route(SpooledMessage(envelope: envelope, pendingRecipients: Array(envelope.recipients.indices)))
        return CPQQueuedRelease(mid: mid)
    }

    /// At start: released messages still in the spool whose id the ledger lacks (a crash
    /// between the spool and the ledger) are written to it.
    func mendLedger(recovered: [SpooledMessage]) async {
        for message in recovered {
            guard let id = message.envelope.attributes[EnvelopeAttribute.release] else { continue }
            do {
                if try await ledger.mid(forRelease: id) == nil {
                    try await ledger.remember(release: id, qid: message.envelope.attributes[EnvelopeAttribute.releaseQID] ?? "",
                                              mid: message.envelope.mid)
                    log.info("MID \(message.envelope.mid) release \(id) written to the release ledger after a restart")
                }
            } catch {
                log.critical("MID \(message.envelope.mid) release \(id) cannot be written to the release ledger: \(error)")
            }
        }
    }
}

/// The gateway's side of one `cpq_listener` connection: only its manager's certificate may
/// release (the TLS handshake already refuses any other; this checks again), and every
/// release is spooled before the 250.
final class ReleaseBackend: CPQGatewayBackend {
    let intake: ReleaseIntake
    let icid: UInt64
    let interfaceName: String
    private let remoteAddress = NIOLockedValueBox("")

    init(intake: ReleaseIntake, icid: UInt64, interfaceName: String) {
        self.intake = intake
        self.icid = icid
        self.interfaceName = interfaceName
    }

    private var log: MailLog { intake.log }

    func connectionOpened(_ info: SMTPConnectionInfo, policy: SMTPSessionPolicy, greeting: String) async -> SMTPConnectionDecision {
        remoteAddress.withLockedValue { $0 = info.remoteAddress }
        log.info("New CPQ ICID \(icid) interface \(interfaceName) (\(info.localAddress)) address \(info.remoteAddress) reverse dns host unknown verified no")
        return .accept(policy, greeting: greeting)
    }

    func tlsEstablished(_ info: SMTPTLSInfo) {
        let peer = info.peerCertificate.map { " peer sha256 \($0.fingerprint)" } ?? ""
        log.info("ICID \(icid) TLS success protocol \(info.protocolVersion) cipher \(info.cipher)\(peer)")
    }

    func connectionClosed(reason: String) {
        log.info("ICID \(icid) close\(reason.isEmpty ? "" : " (\(reason))")")
    }

    func authorizeRelease(peer: SMTPPeerCertificate?) async -> CPQAuthorization {
        guard let peer, CPQFingerprint(hex: peer.fingerprint) == intake.managerFingerprint else {
            log.info("ICID \(icid) CPQ release refused: the certificate is not this gateway's manager's")
            return .denied(certificateName: nil)
        }
        return .granted
    }

    func acceptRelease(_ release: CPQIncomingRelease) async throws -> CPQQueuedRelease {
        try await intake.accept(release, icid: icid, remoteAddress: remoteAddress.withLockedValue { $0 })
    }
}
