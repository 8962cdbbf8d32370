import SMTPProtocol

/// Every reply of docs/CPQ.md ("Replies" and the examples), built in one
/// place so that the server says them and the tests check them word for word.
public enum CPQReplies {
    // MARK: - Session

    /// `530 5.7.0 Must issue a STARTTLS command first` (XCPQ or MAIL before TLS).
    public static let mustStartTLS = SMTPReply(530, .init(5, 7, 0), "Must issue a STARTTLS command first")
    /// `503 5.5.1 This is a CPQ listener: XCPQ TRANSFER or RELEASE first` (a plain transaction).
    public static let plainTransaction = SMTPReply(503, .init(5, 5, 1), "This is a CPQ listener: XCPQ TRANSFER or RELEASE first")
    /// `502 5.5.1 Command not implemented` (an extension verb that is not XCPQ).
    public static let notImplemented = SMTPReply(502, .init(5, 5, 1), "Command not implemented")
    static let senderOk = SMTPReply(250, .init(2, 1, 0), "Ok")
    static let recipientOk = SMTPReply(250, .init(2, 1, 5), "Ok")

    // MARK: - Syntax (501, 504, 555)

    static let subCommandList = "TRANSFER, HOLD, RELEASE, REPORT, JOIN"

    /// `504 5.5.2 XCPQ FOO is not a CPQ command (TRANSFER, HOLD, RELEASE, REPORT)`.
    public static func unknownSubCommand(_ word: String) -> SMTPReply {
        SMTPReply(504, .init(5, 5, 2), "XCPQ \(word) is not a CPQ command (\(subCommandList))")
    }

    /// `501 5.5.4 XCPQ: sub-command is missing (TRANSFER, HOLD, RELEASE, REPORT)`.
    public static let missingSubCommand = SMTPReply(501, .init(5, 5, 4), "XCPQ: sub-command is missing (\(subCommandList))")

    /// `501 5.5.4 XCPQ TRANSFER: MID is missing`.
    public static func missing(_ command: CPQSubCommand, _ field: String) -> SMTPReply {
        SMTPReply(501, .init(5, 5, 4), "XCPQ \(command.rawValue): \(field) is missing")
    }

    /// `501 5.5.4 XCPQ HOLD: LEVEL must be 1-5` and the like.
    public static func malformed(_ command: CPQSubCommand, _ rule: String) -> SMTPReply {
        SMTPReply(501, .init(5, 5, 4), "XCPQ \(command.rawValue): \(rule)")
    }

    /// `555 5.5.4 XCPQ HOLD: unknown key FOO`.
    public static func unknownKey(_ command: CPQSubCommand, _ key: String) -> SMTPReply {
        SMTPReply(555, .init(5, 5, 4), "XCPQ \(command.rawValue): unknown key \(key)")
    }

    /// `501 5.5.4 XCPQ HOLD: at most 16 holds`.
    public static let tooManyHolds = SMTPReply(501, .init(5, 5, 4), "XCPQ HOLD: at most \(CPQDefaults.maxHolds) holds")

    /// `501 5.5.4 XCPQ HOLD: Policy is already held in this transfer`.
    public static func duplicateHold(_ quarantine: String) -> SMTPReply {
        SMTPReply(501, .init(5, 5, 4), "XCPQ HOLD: \(quarantine) is already held in this transfer")
    }

    /// `500 5.5.2 Line too long` (what the SMTP server answers a line over 512 octets).
    public static let lineTooLong = SMTPReply(500, .init(5, 5, 2), "Line too long")

    // MARK: - Role (502)

    /// `502 5.5.1 XCPQ RELEASE is not taken here: this listener takes TRANSFER, HOLD and REPORT`.
    public static func notTakenHere(_ command: CPQSubCommand, role: CPQServerSession.Role) -> SMTPReply {
        let taken = switch role {
        case .manager: "TRANSFER, HOLD, REPORT and JOIN"
        case .gateway: "RELEASE"
        }
        return SMTPReply(502, .init(5, 5, 1), "XCPQ \(command.rawValue) is not taken here: this listener takes \(taken)")
    }

    // MARK: - Order (503)

    /// `503 5.5.1 XCPQ HOLD: no open transfer; send XCPQ TRANSFER first`.
    public static let holdWithoutTransfer = SMTPReply(503, .init(5, 5, 1), "XCPQ HOLD: no open transfer; send XCPQ TRANSFER first")
    /// `503 5.5.1 XCPQ HOLD: send every HOLD before MAIL`.
    public static let holdAfterMail = SMTPReply(503, .init(5, 5, 1), "XCPQ HOLD: send every HOLD before MAIL")

    /// `503 5.5.1 XCPQ TRANSFER: transfer t-1 is already open; send RSET first`
    /// (also for RELEASE, and for one kind open while the other is sent).
    public static func alreadyOpen(_ command: CPQSubCommand, open: String) -> SMTPReply {
        SMTPReply(503, .init(5, 5, 1), "XCPQ \(command.rawValue): \(open) is already open; send RSET first")
    }

    /// `503 5.5.1 XCPQ REPORT: not inside a transfer or release; send RSET first`.
    public static let reportInsideTransaction = SMTPReply(503, .init(5, 5, 1), "XCPQ REPORT: not inside a transfer or release; send RSET first")

    /// `503 5.5.1 XCPQ JOIN: not inside a transfer or release; send RSET first`.
    public static let joinInsideTransaction = SMTPReply(503, .init(5, 5, 1), "XCPQ JOIN: not inside a transfer or release; send RSET first")

    /// `503 5.5.1 XCPQ TRANSFER t-1: send XCPQ HOLD before MAIL`.
    public static func mailWithoutHold(_ transferID: String) -> SMTPReply {
        SMTPReply(503, .init(5, 5, 1), "XCPQ TRANSFER \(transferID): send XCPQ HOLD before MAIL")
    }

    /// `503 5.5.1 XCPQ TRANSFER t-1: a HOLD was refused; send RSET and start again`.
    public static func mailAfterRefusedHold(_ transferID: String) -> SMTPReply {
        SMTPReply(503, .init(5, 5, 1), "XCPQ TRANSFER \(transferID): a HOLD was refused; send RSET and start again")
    }

    // MARK: - Opened and noted (250)

    /// `250 2.0.0 Transfer t-gw1-482-1 open`.
    public static func transferOpen(_ transferID: String) -> SMTPReply {
        SMTPReply(250, .init(2, 0, 0), "Transfer \(transferID) open")
    }

    /// `250 2.0.0 Hold Policy noted`.
    public static func holdNoted(_ quarantine: String) -> SMTPReply {
        SMTPReply(250, .init(2, 0, 0), "Hold \(quarantine) noted")
    }

    /// `250 2.0.0 Release r-6f1c0d2e open`.
    public static func releaseOpen(_ releaseID: String) -> SMTPReply {
        SMTPReply(250, .init(2, 0, 0), "Release \(releaseID) open")
    }

    /// `250 2.0.0 Report recorded`.
    public static let reportRecorded = SMTPReply(250, .init(2, 0, 0), "Report recorded")

    // MARK: - Authorization

    /// `550 5.7.1 GATEWAY gw2 is not the name in your certificate (gw1)`, or
    /// without a name: `550 5.7.1 GATEWAY gw2: your certificate does not belong to a paired gateway`.
    public static func wrongGateway(_ gateway: String, certificateName: String?) -> SMTPReply {
        if let certificateName {
            return SMTPReply(550, .init(5, 7, 1), "GATEWAY \(gateway) is not the name in your certificate (\(certificateName))")
        }
        return SMTPReply(550, .init(5, 7, 1), "GATEWAY \(gateway): your certificate does not belong to a paired gateway")
    }

    /// `530 5.7.1 No client certificate: only XCPQ JOIN is taken without one; pair this gateway first (lazaret gateway join)`.
    public static let noClientCertificate = SMTPReply(
        530, .init(5, 7, 1), "No client certificate: only XCPQ JOIN is taken without one; pair this gateway first (lazaret gateway join)")

    /// `550 5.7.1 XCPQ JOIN: ...` (bad proof, used or expired token: the reason, which says what to do).
    public static func joinRefused(_ why: String) -> SMTPReply {
        SMTPReply(550, .init(5, 7, 1), "XCPQ JOIN: \(why)")
    }

    /// `502 5.5.1 XCPQ JOIN is not offered here` (a manager backend without pairing).
    public static let joinNotOffered = SMTPReply(502, .init(5, 5, 1), "XCPQ JOIN is not offered here")

    /// The answer to a good `XCPQ JOIN`: `250-2.0.0 Joined as gw1`, the bundle in lines of
    /// at most 400 characters, and `250 2.0.0 PROOF=<hex>`.
    public static func joined(_ gateway: String, _ answer: CPQJoinAnswer) -> SMTPReply {
        var lines = ["Joined as \(gateway)"]
        var rest = Substring(answer.bundle)
        while !rest.isEmpty {
            lines.append(String(rest.prefix(400)))
            rest = rest.dropFirst(400)
        }
        lines.append("PROOF=\(answer.proof)")
        return SMTPReply(code: 250, enhanced: .init(2, 0, 0), lines: lines)
    }

    /// The bundle and proof in a reply to `XCPQ JOIN` (client side); nil for any other reply.
    public static func joinAnswer(in reply: SMTPReply) -> CPQJoinAnswer? {
        guard reply.isPositiveCompletion, reply.lines.count >= 3, reply.lines[0].hasPrefix("Joined as "),
              let last = reply.lines.last, last.hasPrefix("PROOF=") else { return nil }
        return CPQJoinAnswer(bundle: reply.lines[1..<(reply.lines.count - 1)].joined(), proof: String(last.dropFirst("PROOF=".count)))
    }

    /// `530 5.7.1 Only the manager's certificate may release`.
    public static let releaseNotAllowed = SMTPReply(530, .init(5, 7, 1), "Only the manager's certificate may release")

    // MARK: - Final replies

    /// `452 4.3.1 Quarantine store full, try again later` (the gateway keeps the mail queued).
    public static let storeUnavailable = SMTPReply(452, .init(4, 3, 1), "Quarantine store full, try again later")
    /// `451 4.3.0 Local error in processing, try again later` (a release or report that could not be kept).
    public static let localError = SMTPReply(451, .init(4, 3, 0), "Local error in processing, try again later")

    /// `250 2.0.0 Ok: quarantined as QID Q7KD2M4XH1 (transfer t-gw1-482-1)`, or for a
    /// transfer already stored `250 2.0.0 Ok: already stored as QID Q7KD2M4XH1 (transfer t-gw1-482-1)`.
    public static func transferStored(_ transferID: String, _ stored: CPQStoredTransfer) -> SMTPReply {
        let verb = stored.alreadyStored ? "already stored" : "quarantined"
        return SMTPReply(250, .init(2, 0, 0), "Ok: \(verb) as QID \(stored.qid) (transfer \(transferID))")
    }

    /// `250 2.0.0 Ok: release r-6f1c0d2e queued as MID 913`, or for a release
    /// already accepted `250 2.0.0 Ok: release r-6f1c0d2e already queued as MID 913`.
    public static func releaseQueued(_ releaseID: String, _ queued: CPQQueuedRelease) -> SMTPReply {
        let verb = queued.alreadyQueued ? "already queued" : "queued"
        return SMTPReply(250, .init(2, 0, 0), "Ok: release \(releaseID) \(verb) as MID \(queued.mid)")
    }

    // MARK: - Reading final replies (client side)

    /// The QID in a 2xx reply to a transfer's message, and whether the
    /// manager had it already; nil for any other reply.
    public static func storedTransfer(in reply: SMTPReply) -> CPQStoredTransfer? {
        guard reply.isPositiveCompletion else { return nil }
        let words = reply.lines.joined(separator: " ").split(separator: " ")
        guard let index = words.firstIndex(of: "QID"), index + 1 < words.endIndex else { return nil }
        let qid = String(words[index + 1])
        guard CPQSyntax.isIdentifier(qid) else { return nil }
        return CPQStoredTransfer(qid: qid, alreadyStored: words[..<index].contains("already"))
    }

    /// The gateway's new MID in a 2xx reply to a release's message, and
    /// whether it had the release already; nil for any other reply.
    public static func queuedRelease(in reply: SMTPReply) -> CPQQueuedRelease? {
        guard reply.isPositiveCompletion else { return nil }
        let words = reply.lines.joined(separator: " ").split(separator: " ")
        guard let index = words.firstIndex(of: "MID"), index + 1 < words.endIndex,
              let mid = CPQSyntax.number(words[index + 1])
        else { return nil }
        return CPQQueuedRelease(mid: mid, alreadyQueued: words[..<index].contains("already"))
    }
}
