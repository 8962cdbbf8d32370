import CPQ
import CPQTLS
import MailLog
import NIOSSL
import SMTPProtocol
import Spool

/// The gateway's end of the CPQ link once it has joined a manager (its `cpq.directory` holds
/// the join files): how the queue for quarantined mail (`the.cpq.host`) speaks CPQ — the
/// CPQ CA, its own certificate and the manager's pin for TLS, and `XCPQ TRANSFER` /
/// `XCPQ HOLD` lines from the message's quarantine tickets before each MAIL — and the TLS
/// of the gateway's own `cpq_listener`, which takes releases from that manager only
/// (docs/CPQ.md).
struct CPQLink: Sendable {
    static let logLabel = "Centralized Policy Quarantine"

    let bundle: CPQJoinBundle
    /// For connections to the manager (transfers, reports).
    let client: CPQClientTLS
    /// For the gateway's cpq_listener: only the manager's certificate is accepted.
    let server: CPQServerTLS

    var gatewayName: String { bundle.gatewayName }

    /// The link from the join files in `directory`, or nil (logged) when this gateway has not
    /// joined a manager or the files cannot be used: quarantined mail then waits in the queue.
    static func load(_ configuration: GatewayConfiguration, directory: String, log: MailLog) -> CPQLink? {
        let bundle: CPQJoinBundle
        do {
            bundle = try CPQJoinBundle.read(from: directory)
        } catch {
            log.warning("\(configuration.scanning.quarantineDestination): \(error); quarantined mail waits in the queue until then")
            return nil
        }
        do {
            let tls = try configuration.cpq.tlsConfiguration()
            let identity = try bundle.identity()
            let ca = try bundle.caCertificate()
            let manager = bundle.managerFingerprint
            let client = try tls.makeClientContext(identity: identity, trustRoot: ca, pinnedServerFingerprint: manager)
            let server = try tls.makeServerContext(identity: identity, authority: ca, acceptClient: { $0.fingerprint == manager })
            log.info("\(configuration.scanning.quarantineDestination): CPQ as gateway \(bundle.gatewayName), manager pinned at sha256 \(manager.hex)")
            return CPQLink(bundle: bundle, client: client, server: server)
        } catch {
            log.critical("\(configuration.scanning.quarantineDestination): the CPQ credentials in \(directory) cannot be used: \(error); quarantined mail waits in the queue")
            return nil
        }
    }

    /// The delivery customization for the quarantine queue.
    func transferCustomization(log: MailLog, onAttempt: (@Sendable (MessageEnvelope, [RecipientAttempt]) async -> Void)?) -> DeliveryCustomization {
        let gateway = gatewayName
        return DeliveryCustomization(
            tlsContext: client.sslContext,
            tlsSession: clientTLSSession,
            preamble: { envelope in Self.transferPreamble(envelope, gateway: gateway, log: log) },
            logLabel: Self.logLabel,
            onAttempt: onAttempt)
    }

    /// The STARTTLS handler (CA, pin) and the words for its failures, per connection.
    var clientTLSSession: @Sendable () -> DeliveryCustomization.TLSSession {
        let client = self.client
        return {
            let verification = CPQPeerVerification(role: .client)
            return DeliveryCustomization.TLSSession(
                makeHandler: { _, name in try client.makeHandler(serverHostname: name, verification: verification) },
                describeError: { verification.failure(for: $0).description })
        }
    }

    /// SMTP client options for a connection to the manager outside the delivery queue (reports).
    func clientOptions(localHostname: String) -> SMTPClientOptions {
        var options = SMTPClientOptions(localHostname: localHostname, tlsContext: client.sslContext, tlsRequired: true)
        let session = clientTLSSession()
        options.makeTLSHandler = session.makeHandler
        options.describeTLSError = session.describeError
        return options
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
