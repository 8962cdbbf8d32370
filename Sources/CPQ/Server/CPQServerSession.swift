import NIOCore
import SMTPProtocol

/// The CPQ side of one server connection (docs/CPQ.md) as a plain value:
/// whether TLS is up and with which peer certificate, the open transfer and
/// its holds or the open release, and the order rules (`503 5.5.1`).
///
/// The owner (normally ``CPQServerDelegate``) feeds it the `XCPQ` arguments
/// and the SMTP events (MAIL, end of DATA, RSET/EHLO, aborted transactions,
/// TLS) and carries out the ``Action``s: it asks its backend to authorize,
/// store or record and turns the answers into replies with the
/// `...Authorized`/`...Stored` functions. The SMTP layer runs one command at
/// a time, so at most one action is outstanding.
public struct CPQServerSession: Sendable {
    /// Which side of CPQ a listener serves.
    public enum Role: Hashable, Sendable {
        /// Takes TRANSFER, HOLD and REPORT from gateways.
        case manager
        /// Takes RELEASE from its manager.
        case gateway
    }

    /// The listener facts the session needs.
    public struct Configuration: Hashable, Sendable {
        public var role: Role
        /// `XCPQ` and MAIL are refused before STARTTLS (`530 5.7.0`), and
        /// `XCPQ` is announced only after it. Turn off only in tests.
        public var requireTLS: Bool
        /// Announced in EHLO as `XCPQ 1`.
        public var versions: [Int]

        public init(role: Role, requireTLS: Bool = true, versions: [Int] = CPQDefaults.versions) {
            self.role = role
            self.requireTLS = requireTLS
            self.versions = versions
        }
    }

    /// What the owner must do for an event.
    public enum Action: Hashable, Sendable {
        /// Answer with this reply.
        case reply(SMTPReply)
        /// Ask the manager backend, then answer with ``transferAuthorized(_:)``.
        case authorizeTransfer(CPQTransferHeader, peer: SMTPPeerCertificate?)
        /// Ask the gateway backend, then answer with ``releaseAuthorized(_:)``.
        case authorizeRelease(CPQReleaseHeader, peer: SMTPPeerCertificate?)
        /// Record it, then answer with ``reportRecorded(_:)``.
        case recordReport(CPQReport, peer: SMTPPeerCertificate?)
        /// Store it durably, then answer with ``transferStored(_:_:)``.
        case storeTransfer(CPQIncomingTransfer)
        /// Spool it, then answer with ``releaseQueued(_:_:)``.
        case acceptRelease(CPQIncomingRelease)
        /// Pair the gateway, then answer with ``joined(_:_:)``.
        case join(CPQJoinRequest)
    }

    enum State: Hashable, Sendable {
        case idle
        case authorizingTransfer(CPQTransferHeader)
        /// `refusedHold`: a HOLD line was refused, so MAIL is refused until RSET.
        case transfer(CPQTransferHeader, holds: [CPQHold], refusedHold: Bool, mailAccepted: Bool)
        case authorizingRelease(CPQReleaseHeader)
        case release(CPQReleaseHeader, mailAccepted: Bool)
    }

    public let configuration: Configuration
    private(set) var state: State = .idle
    /// True after the TLS handshake.
    public private(set) var isTLS = false
    /// The peer's certificate from the TLS handshake.
    public private(set) var peerCertificate: SMTPPeerCertificate?

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    // MARK: - Queries

    /// The open (authorized) transfer, if any.
    public var openTransfer: CPQTransferHeader? {
        if case .transfer(let header, _, _, _) = state { return header }
        return nil
    }

    /// The holds noted for the open transfer.
    public var holds: [CPQHold] {
        if case .transfer(_, let holds, _, _) = state { return holds }
        return []
    }

    /// The open (authorized) release, if any.
    public var openRelease: CPQReleaseHeader? {
        if case .release(let header, _) = state { return header }
        return nil
    }

    /// The EHLO keyword lines for the TLS state: `XCPQ 1` once TLS is up (or always without ``Configuration/requireTLS``).
    public func ehloKeywords(tls: Bool) -> [String] {
        guard tls || !configuration.requireTLS, !configuration.versions.isEmpty else { return [] }
        return ["\(CPQDefaults.verb) " + configuration.versions.map(String.init).joined(separator: " ")]
    }

    private var mustStartTLS: Bool { configuration.requireTLS && !isTLS }

    // MARK: - Session events

    /// STARTTLS completed: the session starts over (RFC 3207 §4.2).
    public mutating func tlsEstablished(peer: SMTPPeerCertificate?) {
        isTLS = true
        peerCertificate = peer
        state = .idle
    }

    /// RSET, EHLO or HELO: an open transfer or release is abandoned.
    public mutating func reset() {
        state = .idle
    }

    /// The SMTP transaction ended without a message (RSET, a refused body, a
    /// lost connection): the transfer or release it belonged to is abandoned.
    public mutating func transactionAborted() {
        state = .idle
    }

    // MARK: - XCPQ

    /// One `XCPQ` command; `argument` is the text after `XCPQ `.
    ///
    /// Checks, in order: TLS (`530`), the sub-command (`504`/`501`), the
    /// listener's role (`502`), the fields (`501`/`555`), the order (`503`),
    /// the hold limit (`501`). A refused HOLD inside an open transfer marks
    /// it, so that its MAIL is refused: a pipelining client never gets a
    /// message stored with a hold missing.
    public mutating func command(argument: String) -> Action {
        if mustStartTLS { return .reply(CPQReplies.mustStartTLS) }
        let subCommand: CPQSubCommand
        do {
            subCommand = try CPQCommandParser.subCommand(of: argument)
        } catch {
            return .reply(error.reply)
        }
        guard takes(subCommand) else {
            return .reply(CPQReplies.notTakenHere(subCommand, role: configuration.role))
        }
        if lacksClientCertificate && subCommand != .join { return .reply(CPQReplies.noClientCertificate) }
        let command: CPQCommand
        do {
            command = try CPQCommandParser.parse(argument: argument)
        } catch {
            if subCommand == .hold { markRefusedHold() }
            return .reply(error.reply)
        }
        switch command {
        case .transfer(let header):
            if let open = openDescription { return .reply(CPQReplies.alreadyOpen(.transfer, open: open)) }
            state = .authorizingTransfer(header)
            return .authorizeTransfer(header, peer: peerCertificate)
        case .hold(let hold):
            return .reply(note(hold))
        case .release(let header):
            if let open = openDescription { return .reply(CPQReplies.alreadyOpen(.release, open: open)) }
            state = .authorizingRelease(header)
            return .authorizeRelease(header, peer: peerCertificate)
        case .report(let report):
            guard case .idle = state else { return .reply(CPQReplies.reportInsideTransaction) }
            return .recordReport(report, peer: peerCertificate)
        case .join(let request):
            guard case .idle = state else { return .reply(CPQReplies.joinInsideTransaction) }
            return .join(request)
        }
    }

    /// TLS is up on a manager's listener but the client showed no certificate (it may only join).
    private var lacksClientCertificate: Bool {
        configuration.requireTLS && isTLS && peerCertificate == nil && configuration.role == .manager
    }

    private func takes(_ subCommand: CPQSubCommand) -> Bool {
        switch (configuration.role, subCommand) {
        case (.manager, .transfer), (.manager, .hold), (.manager, .report), (.manager, .join), (.gateway, .release): true
        default: false
        }
    }

    /// `transfer t-1` / `release r-1` when one is open or being authorized.
    private var openDescription: String? {
        switch state {
        case .idle: nil
        case .authorizingTransfer(let header), .transfer(let header, _, _, _): "transfer \(header.transferID)"
        case .authorizingRelease(let header), .release(let header, _): "release \(header.releaseID)"
        }
    }

    private mutating func note(_ hold: CPQHold) -> SMTPReply {
        guard case .transfer(let header, var holds, let refusedHold, let mailAccepted) = state else {
            return CPQReplies.holdWithoutTransfer
        }
        if mailAccepted { return CPQReplies.holdAfterMail }
        if holds.count >= CPQDefaults.maxHolds {
            state = .transfer(header, holds: holds, refusedHold: true, mailAccepted: false)
            return CPQReplies.tooManyHolds
        }
        let name = hold.quarantine.lowercased()
        if holds.contains(where: { $0.quarantine.lowercased() == name }) {
            state = .transfer(header, holds: holds, refusedHold: true, mailAccepted: false)
            return CPQReplies.duplicateHold(hold.quarantine)
        }
        holds.append(hold)
        state = .transfer(header, holds: holds, refusedHold: refusedHold, mailAccepted: false)
        return CPQReplies.holdNoted(hold.quarantine)
    }

    private mutating func markRefusedHold() {
        if case .transfer(let header, let holds, _, false) = state {
            state = .transfer(header, holds: holds, refusedHold: true, mailAccepted: false)
        }
    }

    /// The backend's answer to ``Action/authorizeTransfer(_:peer:)``.
    public mutating func transferAuthorized(_ authorization: CPQAuthorization) -> SMTPReply {
        guard case .authorizingTransfer(let header) = state else { return CPQReplies.localError }
        switch authorization {
        case .granted:
            state = .transfer(header, holds: [], refusedHold: false, mailAccepted: false)
            return CPQReplies.transferOpen(header.transferID)
        case .denied(let certificateName):
            state = .idle
            return CPQReplies.wrongGateway(header.gateway, certificateName: certificateName)
        }
    }

    /// The backend's answer to ``Action/authorizeRelease(_:peer:)``.
    public mutating func releaseAuthorized(_ authorization: CPQAuthorization) -> SMTPReply {
        guard case .authorizingRelease(let header) = state else { return CPQReplies.localError }
        switch authorization {
        case .granted:
            state = .release(header, mailAccepted: false)
            return CPQReplies.releaseOpen(header.releaseID)
        case .denied:
            state = .idle
            return CPQReplies.releaseNotAllowed
        }
    }

    /// The reply once the backend recorded (or failed to record) a report.
    public static func reportRecorded(_ result: Result<Void, any Error>) -> SMTPReply {
        switch result {
        case .success: CPQReplies.reportRecorded
        case .failure(let error as CPQProtocolError): error.reply
        case .failure: CPQReplies.localError
        }
    }

    // MARK: - SMTP transaction

    /// MAIL FROM passed the SMTP checks: it opens the envelope of the open
    /// transfer (with at least one hold) or release; anything else is `503`.
    public mutating func mailFrom() -> SMTPReply {
        if mustStartTLS { return CPQReplies.mustStartTLS }
        if lacksClientCertificate { return CPQReplies.noClientCertificate }
        switch state {
        case .transfer(let header, let holds, let refusedHold, false):
            if refusedHold { return CPQReplies.mailAfterRefusedHold(header.transferID) }
            if holds.isEmpty { return CPQReplies.mailWithoutHold(header.transferID) }
            state = .transfer(header, holds: holds, refusedHold: false, mailAccepted: true)
            return CPQReplies.senderOk
        case .release(let header, false):
            state = .release(header, mailAccepted: true)
            return CPQReplies.senderOk
        case .transfer, .release:
            // MAIL twice is refused by the SMTP layer before it gets here.
            return CPQReplies.alreadyOpen(.transfer, open: openDescription ?? "")
        case .idle, .authorizingTransfer, .authorizingRelease:
            return CPQReplies.plainTransaction
        }
    }

    /// RCPT TO passed the SMTP checks (the recipient limit included).
    public func rcptTo() -> SMTPReply {
        switch state {
        case .transfer(_, _, _, true), .release(_, true): CPQReplies.recipientOk
        default: CPQReplies.plainTransaction
        }
    }

    /// The message of the open transfer or release arrived: the session is
    /// idle again and the owner stores what it returns.
    public mutating func messageReceived(_ envelope: SMTPTransaction, body: ByteBuffer) -> Action {
        defer { state = .idle }
        switch state {
        case .transfer(let header, let holds, _, true):
            return .storeTransfer(CPQIncomingTransfer(header: header, holds: holds, envelope: envelope, body: body,
                                                      peerCertificate: peerCertificate))
        case .release(let header, true):
            return .acceptRelease(CPQIncomingRelease(header: header, envelope: envelope, body: body, peerCertificate: peerCertificate))
        default:
            return .reply(CPQReplies.plainTransaction)
        }
    }

    /// The final reply for a transfer once the backend answered.
    public static func transferStored(_ header: CPQTransferHeader, _ result: Result<CPQStoredTransfer, any Error>) -> SMTPReply {
        switch result {
        case .success(let stored): CPQReplies.transferStored(header.transferID, stored)
        case .failure(let error as CPQProtocolError): error.reply
        case .failure: CPQReplies.storeUnavailable
        }
    }

    /// The reply to `XCPQ JOIN` once the backend paired (or refused) the gateway.
    public static func joined(_ request: CPQJoinRequest, _ result: Result<CPQJoinAnswer, any Error>) -> SMTPReply {
        switch result {
        case .success(let answer): CPQReplies.joined(request.gateway, answer)
        case .failure(let error as CPQProtocolError): error.reply
        case .failure: CPQReplies.localError
        }
    }

    /// The final reply for a release once the backend answered.
    public static func releaseQueued(_ header: CPQReleaseHeader, _ result: Result<CPQQueuedRelease, any Error>) -> SMTPReply {
        switch result {
        case .success(let queued): CPQReplies.releaseQueued(header.releaseID, queued)
        case .failure(let error as CPQProtocolError): error.reply
        case .failure: CPQReplies.localError
        }
    }
}
