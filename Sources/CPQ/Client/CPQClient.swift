import NIOCore
import Scanning
import SMTPProtocol

/// How a transfer or release over a client connection ended.
public enum CPQDeliveryOutcome<Accepted: Hashable & Sendable>: Hashable, Sendable {
    /// The peer kept the message: the QID (transfer) or the gateway's MID (release).
    case accepted(Accepted)
    /// A 4xx or a broken connection: keep the message queued and try again.
    case deferred(SMTPReply)
    /// A 5xx: the peer will not take it as it is.
    case failed(SMTPReply)
}

/// The client side of CPQ on top of ``SMTPClientConnection``: the gateway
/// transfers and reports, the manager releases.
public enum CPQClient {
    /// True when the server's EHLO announced `XCPQ` with a version in
    /// `versions`; a client that finds none sends QUIT (docs/CPQ.md, "Session").
    public static func offersCPQ(_ extensions: SMTPServerExtensions, versions: [Int] = CPQDefaults.versions) -> Bool {
        guard let offered = extensions.parameters(of: CPQDefaults.verb) else { return false }
        return offered.contains { word in Int(word).map(versions.contains) ?? false }
    }

    // MARK: - Building command lines

    /// The `XCPQ TRANSFER` and `XCPQ HOLD` lines for a spooled message and
    /// the tickets it carries: tickets for the same quarantine (any case) are
    /// sent once (the first wins), a `DETAIL` too long for the 512-octet line
    /// is cut, control characters in it become spaces. Throws the reply the
    /// server would give when no ticket is left, more than 16 are, or a field
    /// is outside its syntax (a quarantine name with a dot, a LEVEL of 7...).
    public static func transferPreamble(_ header: CPQTransferHeader, tickets: [QuarantineTicket]) throws(CPQProtocolError) -> [String] {
        var lines = [try CPQCommandEncoder.line(for: .transfer(header))]
        var seen: Set<String> = []
        let holds = tickets.filter { seen.insert($0.quarantine.lowercased()).inserted }
        guard !holds.isEmpty else { throw CPQProtocolError(CPQReplies.mailWithoutHold(header.transferID)) }
        guard holds.count <= CPQDefaults.maxHolds else { throw CPQProtocolError(CPQReplies.tooManyHolds) }
        for ticket in holds {
            var hold = ticket
            hold.reason.detail = ""
            let budget = CPQDefaults.maxLineLength - 2 - "\(CPQDefaults.verb) ".utf8.count - CPQCommandEncoder.argument(for: .hold(hold)).utf8.count
            hold.reason.detail = fitted(ticket.reason.detail, encodedBudget: budget)
            lines.append(try CPQCommandEncoder.line(for: .hold(hold)))
        }
        return lines
    }

    /// The `XCPQ RELEASE` line.
    public static func releasePreamble(_ header: CPQReleaseHeader) throws(CPQProtocolError) -> [String] {
        [try CPQCommandEncoder.line(for: .release(header))]
    }

    /// The `XCPQ REPORT` line; a `REPLY` too long for the line is cut and
    /// control characters in it become spaces.
    public static func reportLine(_ report: CPQReport) throws(CPQProtocolError) -> String {
        var fitting = report
        fitting.reply = ""
        let budget = CPQDefaults.maxLineLength - 2 - "\(CPQDefaults.verb) ".utf8.count - CPQCommandEncoder.argument(for: .report(fitting)).utf8.count
            - " REPLY=".utf8.count
        fitting.reply = fitted(report.reply, encodedBudget: budget)
        return try CPQCommandEncoder.line(for: .report(fitting))
    }

    /// The longest prefix of `text` (controls made spaces) whose xtext form
    /// has at most `encodedBudget` octets and whose UTF-8 form at most 512.
    static func fitted(_ text: String, encodedBudget: Int) -> String {
        var out = ""
        var encoded = 0
        var octets = 0
        for character in text {
            let clean = character.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F } ? " " : String(character)
            let cost = CPQXText.encode(clean).utf8.count
            guard encoded + cost <= encodedBudget, octets + clean.utf8.count <= CPQDefaults.maxTextLength else { break }
            out += clean
            encoded += cost
            octets += clean.utf8.count
        }
        return out
    }

    // MARK: - Running them

    /// Transfers a quarantined message: TRANSFER and HOLD lines, then the
    /// original envelope and the message, as one transaction. `.accepted`
    /// carries the QID (the same one when the manager had the transfer id already).
    public static func transfer(over connection: SMTPClientConnection, header: CPQTransferHeader, tickets: [QuarantineTicket],
                                mailFrom: String, recipients: [String], parameters: [String] = [],
                                body: ByteBuffer) async -> CPQDeliveryOutcome<CPQStoredTransfer> {
        let preamble: [String]
        do {
            preamble = try transferPreamble(header, tickets: tickets)
        } catch {
            return .failed(error.reply)
        }
        let results = await connection.deliver(mailFrom: mailFrom, recipients: recipients, parameters: parameters,
                                                preamble: preamble, body: body)
        return outcome(results, CPQReplies.storedTransfer(in:))
    }

    /// Releases a message to its gateway: the RELEASE line, then the
    /// original envelope and the message. `.accepted` carries the gateway's MID.
    public static func release(over connection: SMTPClientConnection, header: CPQReleaseHeader,
                               mailFrom: String, recipients: [String], parameters: [String] = [],
                               body: ByteBuffer) async -> CPQDeliveryOutcome<CPQQueuedRelease> {
        let preamble: [String]
        do {
            preamble = try releasePreamble(header)
        } catch {
            return .failed(error.reply)
        }
        let results = await connection.deliver(mailFrom: mailFrom, recipients: recipients, parameters: parameters,
                                                preamble: preamble, body: body)
        return outcome(results, CPQReplies.queuedRelease(in:))
    }

    /// Sends a report outside any transaction and returns the manager's reply.
    public static func report(_ report: CPQReport, over connection: SMTPClientConnection) async throws -> SMTPReply {
        let line: String
        do {
            line = try reportLine(report)
        } catch {
            return error.reply
        }
        return try await connection.send(command: line)
    }

    /// One message, so one outcome: accepted when any recipient got the final
    /// 2xx (and it names the id), else the first refusal.
    static func outcome<Accepted: Hashable & Sendable>(_ results: [SMTPRecipientResult],
                                  _ accepted: (SMTPReply) -> Accepted?) -> CPQDeliveryOutcome<Accepted> {
        for case .delivered(let reply) in results {
            if let value = accepted(reply) { return .accepted(value) }
            return .failed(SMTPReply(554, .init(5, 5, 0), "the peer's reply names no CPQ id: \(reply)"))
        }
        for result in results {
            switch result {
            case .failed(let reply): return .failed(reply)
            case .deferred(let reply): return .deferred(reply)
            case .delivered: break
            }
        }
        return .failed(SMTPReply(554, .init(5, 5, 1), "no recipients"))
    }
}
