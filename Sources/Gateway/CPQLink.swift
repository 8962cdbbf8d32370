import CPQ
import CPQTLS
import MailLog
import Spool

/// The gateway's end of the quarantine transfer: how the queue for quarantined mail
/// (`the.cpq.host`) speaks CPQ once the gateway has joined a manager — the CPQ CA,
/// its own certificate and the manager's pin for TLS, and `XCPQ TRANSFER` / `XCPQ HOLD`
/// lines from the message's quarantine tickets before each MAIL (docs/CPQ.md).
enum CPQLink {
    static let logLabel = "Centralized Policy Quarantine"

    /// The delivery customization for the quarantine queue, or nil (logged) when this
    /// gateway has not joined a manager: the mail then waits in the queue.
    static func customization(_ configuration: GatewayConfiguration, directory: String, log: MailLog) -> DeliveryCustomization? {
        let bundle: CPQJoinBundle
        do {
            bundle = try CPQJoinBundle.read(from: directory)
        } catch {
            log.warning("\(configuration.scanning.quarantineDestination): \(error); quarantined mail waits in the queue until then")
            return nil
        }
        do {
            let tls = try configuration.cpq.tlsConfiguration().makeClientContext(
                identity: try bundle.identity(), trustRoot: try bundle.caCertificate(),
                pinnedServerFingerprint: bundle.managerFingerprint)
            let gateway = bundle.gatewayName
            log.info("\(configuration.scanning.quarantineDestination): CPQ as gateway \(gateway), manager pinned at sha256 \(bundle.managerFingerprint.hex)")
            return DeliveryCustomization(
                tlsContext: tls.sslContext,
                tlsSession: {
                    let verification = CPQPeerVerification(role: .client)
                    return DeliveryCustomization.TLSSession(
                        makeHandler: { _, name in try tls.makeHandler(serverHostname: name, verification: verification) },
                        describeError: { verification.failure(for: $0).description })
                },
                preamble: { envelope in transferPreamble(envelope, gateway: gateway, log: log) },
                logLabel: logLabel)
        } catch {
            log.critical("\(configuration.scanning.quarantineDestination): the CPQ credentials in \(directory) cannot be used: \(error); quarantined mail waits in the queue")
            return nil
        }
    }

    /// `XCPQ TRANSFER t-<gateway>-<MID> ...` and one `XCPQ HOLD` per ticket. The transfer
    /// id depends only on gateway and MID, so a retry after a lost reply is recognised by
    /// the manager and stored once.
    static func transferPreamble(_ envelope: MessageEnvelope, gateway: String, log: MailLog) -> [String] {
        let header = CPQTransferHeader(transferID: "t-\(gateway)-\(envelope.mid)", gateway: gateway, mid: envelope.mid,
                                       icid: envelope.icid, received: Int64(envelope.receivedAt))
        do {
            return try CPQClient.transferPreamble(header, tickets: EnvelopeAttribute.tickets(envelope))
        } catch {
            log.critical("MID \(envelope.mid) quarantine metadata cannot be written for CPQ: \(error)")
            return []
        }
    }
}
