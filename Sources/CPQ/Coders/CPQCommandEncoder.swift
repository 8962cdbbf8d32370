import Scanning
import SMTPProtocol

/// Turns a ``CPQCommand`` into its command line (docs/CPQ.md), the inverse
/// of ``CPQCommandParser``: keys in the order of the doc, free text as xtext,
/// optional fields left out when absent.
public enum CPQCommandEncoder {
    /// The argument of the `XCPQ` verb (`TRANSFER t-1 GATEWAY=gw1 ...`), not checked.
    public static func argument(for command: CPQCommand) -> String {
        var words: [String]
        switch command {
        case .transfer(let header):
            words = [
                "TRANSFER", header.transferID, "GATEWAY=\(header.gateway)", "MID=\(header.mid)",
                "ICID=\(header.icid)", "RECEIVED=\(header.received)",
            ]
        case .hold(let hold):
            words = [
                "HOLD", CPQXText.encode(hold.quarantine), "STAGE=\(hold.stage.rawValue)", "RESUME=\(hold.resumeAt.rawValue)",
                "KIND=\(hold.reason.kind.cpqToken)", "DETAIL=\(CPQXText.encode(hold.reason.detail))",
            ]
            if let level = hold.reason.threatLevel { words.append("LEVEL=\(level)") }
            if let retention = hold.retentionSeconds { words.append("RETENTION=\(retention)") }
            if hold.isCopy { words.append("COPY") }
        case .release(let header):
            words = [
                "RELEASE", header.releaseID, "MID=\(header.mid)", "QID=\(header.qid)", "RESUME=\(header.resume.rawValue)",
                "QUARANTINES=\(CPQXText.encode(header.quarantines.joined(separator: ",")))",
            ]
        case .report(let report):
            words = [
                "REPORT", report.releaseID, "RCPT=\(CPQXText.encode(report.recipient))", "STATUS=\(report.status.rawValue)",
            ]
            if !report.reply.isEmpty { words.append("REPLY=\(CPQXText.encode(report.reply))") }
        case .join(let join):
            words = ["JOIN", join.gateway, "PROOF=\(join.proof)"]
            if let listener = join.listener { words.append("LISTENER=\(CPQXText.encode(listener))") }
            if let ssh = join.ssh { words.append("SSH=\(CPQXText.encode(ssh))") }
            if let key = join.sshKey { words.append("SSHKEY=\(key)") }
        }
        return words.joined(separator: " ")
    }

    /// The whole command line without CRLF (`XCPQ TRANSFER ...`), checked:
    /// a field outside its syntax throws the reply the server would give
    /// (`501 5.5.4 XCPQ HOLD: LEVEL must be 1-5`), a line longer than 512
    /// octets with CRLF throws `500 5.5.2 Line too long`. What it returns
    /// parses back to `command`.
    public static func line(for command: CPQCommand) throws(CPQProtocolError) -> String {
        let argument = argument(for: command)
        let line = "\(CPQDefaults.verb) \(argument)"
        let parsed = try CPQCommandParser.parse(argument: argument)
        guard parsed == command else {
            // Only when a value cannot be written at all (say a name that
            // spells a key): refuse rather than send something else.
            throw CPQProtocolError(CPQReplies.malformed(command.subCommand, "a value cannot be represented"))
        }
        guard line.utf8.count + 2 <= CPQDefaults.maxLineLength else { throw CPQProtocolError(CPQReplies.lineTooLong) }
        return line
    }
}
