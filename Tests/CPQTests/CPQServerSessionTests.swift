import NIOCore
import Scanning
import SMTPProtocol
import Testing
@testable import CPQ

@Suite struct CPQServerSessionTests {
    static let peer = SMTPPeerCertificate(der: Array("gateway certificate".utf8))
    static let transfer = "TRANSFER t-1 GATEWAY=gw1 MID=482 ICID=77 RECEIVED=1795426153"
    static let header = CPQTransferHeader(transferID: "t-1", gateway: "gw1", mid: 482, icid: 77, received: 1795426153)
    static let policyHold = "HOLD Policy STAGE=message-filters RESUME=antivirus KIND=message-filter DETAIL=block_exe"
    static let virusHold = "HOLD Virus STAGE=antivirus RESUME=content-filters KIND=antivirus DETAIL=Eicar-Test-Signature"
    static let release = "RELEASE r-1 MID=482 QID=Q7KD2M4XH1 RESUME=content-filters QUARANTINES=Policy,Virus"
    static let envelope = SMTPTransaction(mailFrom: "alice@sender.example", recipients: ["bob@rcpt.example"], heloName: "gw1", tls: true)

    func session(_ role: CPQServerSession.Role = .manager) -> CPQServerSession {
        var session = CPQServerSession(configuration: .init(role: role))
        session.tlsEstablished(peer: Self.peer)
        return session
    }

    /// The reply of an action that must be a reply.
    func reply(_ action: CPQServerSession.Action, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        guard case .reply(let reply) = action else {
            Issue.record("expected a reply, got \(action)", sourceLocation: sourceLocation)
            return ""
        }
        return reply.description
    }

    /// Opens the transfer of `Self.transfer`, granted.
    func open(_ session: inout CPQServerSession) {
        guard case .authorizeTransfer(let header, let peer) = session.command(argument: Self.transfer) else {
            Issue.record("expected authorizeTransfer")
            return
        }
        #expect(header == Self.header && peer == Self.peer)
        #expect(session.transferAuthorized(.granted).description == "250 2.0.0 Transfer t-1 open")
    }

    @Test func tlsComesFirst() throws {
        var session = CPQServerSession(configuration: .init(role: .manager))
        #expect(session.ehloKeywords(tls: false) == [])
        #expect(reply(session.command(argument: Self.transfer)) == "530 5.7.0 Must issue a STARTTLS command first")
        #expect(reply(session.command(argument: "FOO")) == "530 5.7.0 Must issue a STARTTLS command first")
        #expect(session.mailFrom().description == "530 5.7.0 Must issue a STARTTLS command first")
        session.tlsEstablished(peer: nil)
        #expect(session.ehloKeywords(tls: true) == ["XCPQ 1"])
        #expect(session.isTLS && session.peerCertificate == nil)
        // Without a client certificate a manager's session takes JOIN and nothing else.
        let noCertificate = "530 5.7.1 No client certificate: only XCPQ JOIN is taken without one; pair this gateway first (lazaret gateway join)"
        #expect(reply(session.command(argument: Self.transfer)) == noCertificate)
        #expect(reply(session.command(argument: "REPORT r-1 RCPT=a@b.example STATUS=delivered")) == noCertificate)
        #expect(session.mailFrom().description == noCertificate)
        let join = "JOIN gw1 PROOF=" + String(repeating: "ab", count: 32) + " LISTENER=10.0.0.5:7025"
        #expect(session.command(argument: join)
            == .join(CPQJoinRequest(gateway: "gw1", proof: String(repeating: "ab", count: 32), listener: "10.0.0.5:7025")))
        // A gateway with an admin SSH server tells where it is and its host key, for the manager to pin.
        let key = "AAAAC3NzaC1lZDI1NTE5AAAAIHvbA0WmqTeV5ts3WG+XomfD2c5OKBTYnGdWHhDxuhfS"
        let withSSH = CPQJoinRequest(gateway: "gw1", proof: String(repeating: "ab", count: 32), listener: "10.0.0.5:7025",
                                     ssh: "10.0.0.5:2222", sshKey: key)
        let line = try CPQCommandEncoder.line(for: .join(withSSH))
        #expect(line.hasSuffix(" SSH=10.0.0.5:2222 SSHKEY=" + key))
        #expect(session.command(argument: String(line.dropFirst("XCPQ ".count))) == .join(withSSH))
        #expect(reply(session.command(argument: join + " SSH=10.0.0.5:2222 SSHKEY=not*base64"))
            == "501 5.5.4 XCPQ JOIN: SSHKEY must be the base64 blob of an OpenSSH public key, at most 1024 characters")
        #expect(reply(session.command(argument: join + " SSH=nocolon")) == "501 5.5.4 XCPQ JOIN: SSH must be HOST:PORT in xtext, at most 300 octets")
        #expect(reply(session.command(argument: "JOIN gw1 PROOF=xyz")) == "501 5.5.4 XCPQ JOIN: PROOF must be 64 hexadecimal digits (HMAC-SHA256)")
        #expect(reply(session.command(argument: "JOIN PROOF=" + String(repeating: "0", count: 64))) == "501 5.5.4 XCPQ JOIN: gateway name is missing")
        let relaxed = CPQServerSession(configuration: .init(role: .gateway, requireTLS: false, versions: [1, 2]))
        #expect(relaxed.ehloKeywords(tls: false) == ["XCPQ 1 2"])
    }

    @Test func aTransferWithTwoHolds() {
        var session = session()
        open(&session)
        #expect(reply(session.command(argument: Self.policyHold)) == "250 2.0.0 Hold Policy noted")
        #expect(reply(session.command(argument: Self.virusHold)) == "250 2.0.0 Hold Virus noted")
        #expect(session.holds.map(\.quarantine) == ["Policy", "Virus"])
        #expect(session.mailFrom().description == "250 2.1.0 Ok")
        #expect(session.rcptTo().description == "250 2.1.5 Ok")
        guard case .storeTransfer(let transfer) = session.messageReceived(Self.envelope, body: ByteBuffer(string: "Subject: x\r\n\r\nhi\r\n")) else {
            Issue.record("expected storeTransfer")
            return
        }
        #expect(transfer.header == Self.header)
        #expect(transfer.holds.map(\.reason.kind) == [.messageFilter, .antivirus])
        #expect(transfer.holds.map(\.resumeAt) == [.antivirus, .contentFilters])
        #expect(transfer.envelope == Self.envelope)
        #expect(String(buffer: transfer.body) == "Subject: x\r\n\r\nhi\r\n")
        #expect(transfer.peerCertificate == Self.peer)
        #expect(session.openTransfer == nil, "the transfer is done at the end of DATA")
        #expect(session.mailFrom().description == "503 5.5.1 This is a CPQ listener: XCPQ TRANSFER or RELEASE first")

        let stored = CPQServerSession.transferStored(Self.header, .success(CPQStoredTransfer(qid: "Q7KD2M4XH1")))
        #expect(stored.description == "250 2.0.0 Ok: quarantined as QID Q7KD2M4XH1 (transfer t-1)")
        let again = CPQServerSession.transferStored(Self.header, .success(CPQStoredTransfer(qid: "Q7KD2M4XH1", alreadyStored: true)))
        #expect(again.description == "250 2.0.0 Ok: already stored as QID Q7KD2M4XH1 (transfer t-1)")
        struct DiskFull: Error {}
        #expect(CPQServerSession.transferStored(Self.header, .failure(DiskFull())).description == "452 4.3.1 Quarantine store full, try again later")
        let own = CPQProtocolError(SMTPReply(554, .init(5, 6, 0), "no"))
        #expect(CPQServerSession.transferStored(Self.header, .failure(own)) == own.reply)
    }

    @Test func orderErrors() {
        var session = session()
        #expect(reply(session.command(argument: Self.policyHold)) == "503 5.5.1 XCPQ HOLD: no open transfer; send XCPQ TRANSFER first")
        #expect(session.mailFrom().description == "503 5.5.1 This is a CPQ listener: XCPQ TRANSFER or RELEASE first")
        #expect(session.rcptTo().description == "503 5.5.1 This is a CPQ listener: XCPQ TRANSFER or RELEASE first")
        open(&session)
        #expect(session.mailFrom().description == "503 5.5.1 XCPQ TRANSFER t-1: send XCPQ HOLD before MAIL")
        #expect(reply(session.command(argument: Self.transfer)) == "503 5.5.1 XCPQ TRANSFER: transfer t-1 is already open; send RSET first")
        #expect(reply(session.command(argument: "REPORT r-1 RCPT=b@x STATUS=accepted"))
            == "503 5.5.1 XCPQ REPORT: not inside a transfer or release; send RSET first")
        #expect(reply(session.command(argument: Self.policyHold)) == "250 2.0.0 Hold Policy noted")
        #expect(session.mailFrom().description == "250 2.1.0 Ok")
        #expect(reply(session.command(argument: Self.virusHold)) == "503 5.5.1 XCPQ HOLD: send every HOLD before MAIL")
        session.transactionAborted()
        #expect(session.openTransfer == nil, "an aborted transaction abandons its transfer")
        #expect(reply(session.command(argument: Self.policyHold)) == "503 5.5.1 XCPQ HOLD: no open transfer; send XCPQ TRANSFER first")
        open(&session)
        session.reset()
        #expect(session.openTransfer == nil, "RSET abandons an open transfer")
    }

    @Test func roles() {
        var manager = session(.manager)
        #expect(reply(manager.command(argument: Self.release))
            == "502 5.5.1 XCPQ RELEASE is not taken here: this listener takes TRANSFER, HOLD, REPORT and JOIN")
        var gateway = session(.gateway)
        #expect(reply(gateway.command(argument: Self.transfer)) == "502 5.5.1 XCPQ TRANSFER is not taken here: this listener takes RELEASE")
        #expect(reply(gateway.command(argument: Self.policyHold)) == "502 5.5.1 XCPQ HOLD is not taken here: this listener takes RELEASE")
        #expect(reply(gateway.command(argument: "REPORT r-1 RCPT=b@x STATUS=accepted"))
            == "502 5.5.1 XCPQ REPORT is not taken here: this listener takes RELEASE")
        #expect(reply(gateway.command(argument: "BOGUS x")) == "504 5.5.2 XCPQ BOGUS is not a CPQ command (TRANSFER, HOLD, RELEASE, REPORT, JOIN)")
    }

    @Test func holdLimitsPoisonTheTransfer() {
        var session = session()
        open(&session)
        for index in 1...16 {
            #expect(reply(session.command(argument: "HOLD Q\(index) STAGE=antivirus RESUME=outbreak KIND=antivirus DETAIL=x"))
                == "250 2.0.0 Hold Q\(index) noted")
        }
        #expect(reply(session.command(argument: "HOLD Q17 STAGE=antivirus RESUME=outbreak KIND=antivirus DETAIL=x"))
            == "501 5.5.4 XCPQ HOLD: at most 16 holds")
        #expect(session.mailFrom().description == "503 5.5.1 XCPQ TRANSFER t-1: a HOLD was refused; send RSET and start again")
        session.reset()

        open(&session)
        #expect(reply(session.command(argument: Self.policyHold)) == "250 2.0.0 Hold Policy noted")
        #expect(reply(session.command(argument: "HOLD policy STAGE=antivirus RESUME=outbreak KIND=antivirus DETAIL=x"))
            == "501 5.5.4 XCPQ HOLD: policy is already held in this transfer")
        #expect(session.mailFrom().description == "503 5.5.1 XCPQ TRANSFER t-1: a HOLD was refused; send RSET and start again")
        session.reset()

        // A malformed HOLD in a pipelined batch: the MAIL after it is refused.
        open(&session)
        #expect(reply(session.command(argument: Self.policyHold)) == "250 2.0.0 Hold Policy noted")
        #expect(reply(session.command(argument: "HOLD Virus STAGE=antivirus RESUME=outbreak KIND=antivirus DETAIL=x LEVEL=9"))
            == "501 5.5.4 XCPQ HOLD: LEVEL must be 1-5")
        #expect(reply(session.command(argument: Self.virusHold)) == "250 2.0.0 Hold Virus noted")
        #expect(session.mailFrom().description == "503 5.5.1 XCPQ TRANSFER t-1: a HOLD was refused; send RSET and start again")
        // A malformed TRANSFER opens nothing.
        session.reset()
        #expect(reply(session.command(argument: "TRANSFER t-2 GATEWAY=gw1")) == "501 5.5.4 XCPQ TRANSFER: MID is missing")
        #expect(session.openTransfer == nil)
    }

    @Test func authorization() {
        var session = self.session()
        _ = session.command(argument: "TRANSFER t-1 GATEWAY=gw2 MID=482 ICID=77 RECEIVED=1")
        #expect(session.transferAuthorized(.denied(certificateName: "gw1")).description
            == "550 5.7.1 GATEWAY gw2 is not the name in your certificate (gw1)")
        #expect(session.openTransfer == nil)
        _ = session.command(argument: "TRANSFER t-1 GATEWAY=gw2 MID=482 ICID=77 RECEIVED=1")
        #expect(session.transferAuthorized(.denied(certificateName: nil)).description
            == "550 5.7.1 GATEWAY gw2: your certificate does not belong to a paired gateway")
        #expect(session.transferAuthorized(.granted).description == "451 4.3.0 Local error in processing, try again later",
                "an answer nobody asked for")

        var gateway = self.session(.gateway)
        guard case .authorizeRelease(let header, let peer) = gateway.command(argument: Self.release) else {
            Issue.record("expected authorizeRelease")
            return
        }
        #expect(header.quarantines == ["Policy", "Virus"] && peer == Self.peer)
        #expect(gateway.releaseAuthorized(.denied(certificateName: nil)).description == "530 5.7.1 Only the manager's certificate may release")
        #expect(gateway.openRelease == nil)
    }

    @Test func aRelease() {
        var gateway = session(.gateway)
        _ = gateway.command(argument: Self.release)
        #expect(gateway.releaseAuthorized(.granted).description == "250 2.0.0 Release r-1 open")
        #expect(reply(gateway.command(argument: Self.release)) == "503 5.5.1 XCPQ RELEASE: release r-1 is already open; send RSET first")
        #expect(gateway.mailFrom().description == "250 2.1.0 Ok")
        guard case .acceptRelease(let release) = gateway.messageReceived(Self.envelope, body: ByteBuffer(string: "x\r\n")) else {
            Issue.record("expected acceptRelease")
            return
        }
        #expect(release.header.releaseID == "r-1" && release.header.resume == .contentFilters && release.peerCertificate == Self.peer)
        #expect(CPQServerSession.releaseQueued(release.header, .success(CPQQueuedRelease(mid: 913))).description
            == "250 2.0.0 Ok: release r-1 queued as MID 913")
        #expect(CPQServerSession.releaseQueued(release.header, .success(CPQQueuedRelease(mid: 913, alreadyQueued: true))).description
            == "250 2.0.0 Ok: release r-1 already queued as MID 913")
        struct Broken: Error {}
        #expect(CPQServerSession.releaseQueued(release.header, .failure(Broken())).description == "451 4.3.0 Local error in processing, try again later")
    }

    @Test func reports() {
        var session = session()
        guard case .recordReport(let report, let peer) = session.command(argument: "REPORT r-1 RCPT=bob@rcpt.example STATUS=bounced REPLY=550+205.1.1+20no")
        else {
            Issue.record("expected recordReport")
            return
        }
        #expect(report == CPQReport(releaseID: "r-1", recipient: "bob@rcpt.example", status: .bounced, reply: "550 5.1.1 no"))
        #expect(peer == Self.peer)
        #expect(CPQServerSession.reportRecorded(.success(())).description == "250 2.0.0 Report recorded")
        struct Broken: Error {}
        #expect(CPQServerSession.reportRecorded(.failure(Broken())).description == "451 4.3.0 Local error in processing, try again later")
        let refused = CPQProtocolError(SMTPReply(550, .init(5, 7, 1), "release r-1 did not go to your gateway"))
        #expect(CPQServerSession.reportRecorded(.failure(refused)) == refused.reply)
    }

    @Test func readingFinalReplies() {
        let stored = SMTPReply(250, .init(2, 0, 0), "Ok: quarantined as QID Q7KD2M4XH1 (transfer t-gw1-482-1)")
        #expect(CPQReplies.storedTransfer(in: stored) == CPQStoredTransfer(qid: "Q7KD2M4XH1", alreadyStored: false))
        let again = SMTPReply(250, .init(2, 0, 0), "Ok: already stored as QID Q7KD2M4XH1 (transfer t-gw1-482-1)")
        #expect(CPQReplies.storedTransfer(in: again) == CPQStoredTransfer(qid: "Q7KD2M4XH1", alreadyStored: true))
        #expect(CPQReplies.storedTransfer(in: SMTPReply(250, .init(2, 0, 0), "Ok: queued as 12345")) == nil)
        #expect(CPQReplies.storedTransfer(in: SMTPReply(452, .init(4, 3, 1), "QID Q1")) == nil)
        #expect(CPQReplies.storedTransfer(in: SMTPReply(250, nil, "QID")) == nil)
        let queued = SMTPReply(250, .init(2, 0, 0), "Ok: release r-6f1c0d2e queued as MID 913")
        #expect(CPQReplies.queuedRelease(in: queued) == CPQQueuedRelease(mid: 913, alreadyQueued: false))
        let requeued = SMTPReply(250, .init(2, 0, 0), "Ok: release r-6f1c0d2e already queued as MID 913")
        #expect(CPQReplies.queuedRelease(in: requeued) == CPQQueuedRelease(mid: 913, alreadyQueued: true))
        #expect(CPQReplies.queuedRelease(in: SMTPReply(250, nil, "MID x")) == nil)
        // What the server says, the client reads.
        let built = CPQReplies.transferStored("t-1", CPQStoredTransfer(qid: "Q-9", alreadyStored: true))
        #expect(CPQReplies.storedTransfer(in: built) == CPQStoredTransfer(qid: "Q-9", alreadyStored: true))
        let builtRelease = CPQReplies.releaseQueued("r-1", CPQQueuedRelease(mid: 7))
        #expect(CPQReplies.queuedRelease(in: builtRelease) == CPQQueuedRelease(mid: 7))
    }
}
