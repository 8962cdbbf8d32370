import CPQ
import CPQTLS
import Foundation
import MailLog
import NIOConcurrencyHelpers
import QuarantineStore
import SMTPProtocol

/// The manager's side of a cpq_listener connection: only paired gateways may transfer,
/// and every transfer is stored in the quarantine store before the 250. One instance
/// per connection (it carries the ICID for mail_logs).
public final class QuarantineBackend: CPQManagerBackend {
    let store: QuarantineStore
    let paired: PairedGateways
    let log: MailLog
    let icid: UInt64
    let interfaceName: String
    /// The CA, for `XCPQ JOIN`; nil: joining is not offered.
    let authority: CPQAuthority?
    /// Called when the store is full for a transfer of that many bytes: frees space if the
    /// quarantines allow it; true when the transfer fits now.
    let freeUpSpace: (@Sendable (Int64) async -> Bool)?
    private let remoteAddress = NIOLockedValueBox("")

    public init(store: QuarantineStore, paired: PairedGateways, log: MailLog, icid: UInt64, interfaceName: String,
                authority: CPQAuthority? = nil, freeUpSpace: (@Sendable (Int64) async -> Bool)? = nil) {
        self.freeUpSpace = freeUpSpace
        self.store = store
        self.paired = paired
        self.log = log
        self.icid = icid
        self.interfaceName = interfaceName
        self.authority = authority
    }

    public func connectionOpened(_ info: SMTPConnectionInfo, policy: SMTPSessionPolicy, greeting: String) async -> SMTPConnectionDecision {
        remoteAddress.withLockedValue { $0 = info.remoteAddress }
        log.info("New CPQ ICID \(icid) interface \(interfaceName) (\(info.localAddress)) address \(info.remoteAddress) reverse dns host unknown verified no")
        return .accept(policy, greeting: greeting)
    }

    public func tlsEstablished(_ info: SMTPTLSInfo) {
        let peer = info.peerCertificate.map { " peer sha256 \($0.fingerprint)" } ?? " no client certificate (only XCPQ JOIN is taken)"
        log.info("ICID \(icid) TLS success protocol \(info.protocolVersion) cipher \(info.cipher)\(peer)")
    }

    public func connectionClosed(reason: String) {
        log.info("ICID \(icid) close\(reason.isEmpty ? "" : " (\(reason))")")
    }

    public func authorizeTransfer(gateway: String, peer: SMTPPeerCertificate?) async -> CPQAuthorization {
        guard let peer, let fingerprint = CPQFingerprint(hex: peer.fingerprint),
              let record = try? paired.record(fingerprint: fingerprint) else {
            log.info("ICID \(icid) CPQ transfer for \(gateway) refused: " + (peer == nil ? "no certificate from client" : "the certificate is not a paired gateway's"))
            return .denied(certificateName: nil)
        }
        return record.gatewayName == gateway ? .granted : .denied(certificateName: record.gatewayName)
    }

    public func storeTransfer(_ transfer: CPQIncomingTransfer) async throws -> CPQStoredTransfer {
        let header = transfer.header
        let incoming = IncomingTransfer(transferID: header.transferID, gateway: header.gateway, gatewayMID: header.mid,
                                        gatewayICID: header.icid, receivedAt: Date(timeIntervalSince1970: Double(header.received)),
                                        mailFrom: transfer.envelope.mailFrom, recipients: transfer.envelope.recipients, holds: transfer.holds,
                                        smtpUTF8: transfer.envelope.mailParameters["SMTPUTF8"] != nil)
        let body = Array(transfer.body.readableBytesView)
        let result: StoreResult
        do {
            result = try await store.storeTransfer(incoming, body: body)
        } catch let error as QuarantineStoreError where error.code == .full {
            // Over quota: quarantines that allow it give up their oldest mail; else the
            // gateway keeps the message in the.cpq.host and tries again later.
            if let freeUpSpace, await freeUpSpace(Int64(body.count)), let stored = try? await store.storeTransfer(incoming, body: body) {
                result = stored
            } else {
                log.warning("ICID \(icid) transfer \(header.transferID) from \(header.gateway) MID \(header.mid) refused: \(error.message)")
                throw CPQProtocolError(SMTPReply(452, EnhancedStatusCode(4, 3, 1),
                                                 "Quarantine store full (quota store.quota_mb); keep the message queued and try again later"))
            }
        }
        let quarantines = transfer.holds.map { "\"\($0.quarantine)\" (\($0.reason))" }.joined(separator: ", ")
        if result.isDuplicate {
            log.info("ICID \(icid) transfer \(header.transferID) from \(header.gateway) MID \(header.mid) already stored as QID \(result.qid); nothing stored again")
        } else {
            log.info("ICID \(icid) QID \(result.qid) stored from \(header.gateway) MID \(header.mid) in \(quarantines)")
        }
        return CPQStoredTransfer(qid: result.qid.description, alreadyStored: result.isDuplicate)
    }

    public func join(_ request: CPQJoinRequest) async throws -> CPQJoinAnswer {
        guard let authority else { throw CPQProtocolError(CPQReplies.joinNotOffered) }
        let address = remoteAddress.withLockedValue { $0 }
        var listener: PairingRecord.Listener?
        if let text = request.listener {
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port),
                  colon != text.startIndex else {
                throw CPQProtocolError(CPQReplies.malformed(.join, "LISTENER must be HOST:PORT, e.g. 10.10.20.1:7025"))
            }
            var host = text[..<colon]
            if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
            listener = PairingRecord.Listener(host: String(host), port: port)
        }
        var ssh: PairingRecord.SSHEndpoint?
        if let text = request.ssh {
            guard let key = request.sshKey, let hostKey = PairingRecord.SSHEndpoint.hostKeyLine(key) else {
                throw CPQProtocolError(CPQReplies.malformed(.join, "SSH needs SSHKEY, the base64 blob of the gateway's ssh-ed25519 host key"))
            }
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
                throw CPQProtocolError(CPQReplies.malformed(.join, "SSH must be HOST:PORT, e.g. 10.10.20.1:2222"))
            }
            var host = String(text[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            // A wildcard or empty address means: where the gateway joined from.
            if host.isEmpty || host == "0.0.0.0" || host == "::" { host = address }
            ssh = PairingRecord.SSHEndpoint(host: host, port: port, hostKey: hostKey)
        }
        do {
            let (bundle, proof) = try authority.pair(proof: request.proof, presentedName: request.gateway, from: [address])
            let certificate = try bundle.identity().fingerprint.hex
            if let ssh {
                // The gateway is asked over SSH where its cpq_listener is; LISTENER, if given, is not pinned.
                try authority.pairedGateways.setSSH(ssh, forGateway: bundle.gatewayName)
                try authority.pairedGateways.setListener(nil, forGateway: bundle.gatewayName)
                log.info("ICID \(icid) gateway \(bundle.gatewayName) joined from \(address): certificate sha256 \(certificate), SSH \(ssh.host) port \(ssh.port) host key pinned (\(ssh.hostKeyFingerprint)); releases go where it says its cpq_listener is")
            } else {
                let route = listener ?? PairingRecord.Listener(host: address)
                try authority.pairedGateways.setListener(route, forGateway: bundle.gatewayName)
                log.info("ICID \(icid) gateway \(bundle.gatewayName) joined from \(address): certificate sha256 \(certificate), releases go to its cpq_listener \(route.host) port \(route.port)")
            }
            return CPQJoinAnswer(bundle: try bundle.encoded(), proof: proof)
        } catch let error as PairingError {
            log.info("ICID \(icid) join as \(request.gateway) from \(address) refused: \(error.message)")
            throw CPQProtocolError(CPQReplies.joinRefused(error.message))
        }
    }

    public func recordReport(_ report: CPQReport, peer: SMTPPeerCertificate?) async throws {
        guard let status = ReleaseOutcome.Status(rawValue: report.status.rawValue) else { return }
        guard let peer, let fingerprint = CPQFingerprint(hex: peer.fingerprint),
              let record = try? paired.record(fingerprint: fingerprint) else {
            log.info("ICID \(icid) report for release \(report.releaseID) refused: the certificate is not a paired gateway's")
            throw CPQProtocolError(SMTPReply(550, .init(5, 7, 1), "Your certificate does not belong to a paired gateway"))
        }
        let release: ReleaseRequest?
        do {
            release = try await store.release(id: report.releaseID)
        } catch {
            log.critical("ICID \(icid) report for release \(report.releaseID) cannot be checked: \(error)")
            throw error
        }
        guard let release else {
            log.info("ICID \(icid) report from \(record.gatewayName) for unknown release \(report.releaseID) refused")
            throw CPQProtocolError(SMTPReply(550, .init(5, 1, 0), "XCPQ REPORT: release \(report.releaseID) is not known here"))
        }
        guard release.gateway.lowercased() == record.gatewayName.lowercased() else {
            log.info("ICID \(icid) report from \(record.gatewayName) for release \(report.releaseID) of gateway \(release.gateway) refused")
            throw CPQProtocolError(SMTPReply(550, .init(5, 7, 1), "XCPQ REPORT: release \(report.releaseID) went to another gateway"))
        }
        do {
            try await store.recordOutcome(releaseID: report.releaseID, recipient: report.recipient, status: status, reply: report.reply)
        } catch let error as QuarantineStoreError where error.code == .releaseState || error.code == .invalidArgument {
            throw CPQProtocolError(SMTPReply(550, .init(5, 5, 4), "XCPQ REPORT: \(error.message)"))
        }
        log.info("QID \(release.qid) release \(report.releaseID) to <\(report.recipient)>: \(report.status.rawValue) ('\(report.reply)') reported by \(record.gatewayName)")
    }
}
