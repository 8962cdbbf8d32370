import Foundation
import Scanning
import SMTPProtocol
import Testing
@testable import CPQ

@Suite struct CPQClientTests {
    static let header = CPQTransferHeader(transferID: "t-gw1-482-1", gateway: "gw1", mid: 482, icid: 77, received: 1795426153)

    @Test func preambleFromTickets() throws {
        let tickets = [
            QuarantineTicket(quarantine: "Policy", reason: QuarantineReason(kind: .messageFilter, detail: "block_exe"), stage: .messageFilters),
            QuarantineTicket(quarantine: "Virus", reason: QuarantineReason(kind: .antivirus, detail: "Eicar-Test-Signature"), stage: .antivirus),
            QuarantineTicket(quarantine: "policy", reason: QuarantineReason(kind: .contentFilter, detail: "second"), stage: .contentFilters),
        ]
        #expect(try CPQClient.transferPreamble(Self.header, tickets: tickets) == [
            "XCPQ TRANSFER t-gw1-482-1 GATEWAY=gw1 MID=482 ICID=77 RECEIVED=1795426153",
            "XCPQ HOLD Policy STAGE=message-filters RESUME=antivirus KIND=message-filter DETAIL=block_exe",
            "XCPQ HOLD Virus STAGE=antivirus RESUME=content-filters KIND=antivirus DETAIL=Eicar-Test-Signature",
        ])
    }

    @Test func longDetailsAreCutToTheLineAndControlsBecomeSpaces() throws {
        let detail = "line one\r\nline two " + String(repeating: "\u{E9}", count: 400)
        let ticket = QuarantineTicket(quarantine: "Outbreak", reason: QuarantineReason(kind: .outbreak, detail: detail, threatLevel: 3),
                                      stage: .outbreak, retentionSeconds: 86400, isCopy: true)
        let lines = try CPQClient.transferPreamble(Self.header, tickets: [ticket])
        let line = lines[1]
        #expect(line.utf8.count + 2 <= 512)
        #expect(line.utf8.count + 2 > 512 - 6, "cut only as much as needed (one encoded character is 6 octets)")
        guard case .hold(let hold) = try CPQCommandParser.parse(argument: String(line.dropFirst(5))) else {
            Issue.record("not a hold")
            return
        }
        #expect(hold.reason.detail.hasPrefix("line one line two \u{E9}\u{E9}"), "CRLF is one character, one space")
        #expect(detail.replacingOccurrences(of: "\r\n", with: " ").hasPrefix(hold.reason.detail))
        #expect(hold.reason.threatLevel == 3 && hold.retentionSeconds == 86400 && hold.isCopy)
    }

    @Test func preambleRefusals() throws {
        #expect(throws: CPQProtocolError(CPQReplies.mailWithoutHold("t-gw1-482-1"))) {
            try CPQClient.transferPreamble(Self.header, tickets: [])
        }
        let many = (1...17).map { QuarantineTicket(quarantine: "Q\($0)", reason: QuarantineReason(kind: .antivirus, detail: "x"), stage: .antivirus) }
        #expect(throws: CPQProtocolError(CPQReplies.tooManyHolds)) { try CPQClient.transferPreamble(Self.header, tickets: many) }
        #expect(try CPQClient.transferPreamble(Self.header, tickets: Array(many.prefix(16))).count == 17)
        let dotted = QuarantineTicket(quarantine: "a.b", reason: QuarantineReason(kind: .antivirus, detail: "x"), stage: .antivirus)
        #expect(throws: CPQProtocolError.self) { try CPQClient.transferPreamble(Self.header, tickets: [dotted]) }
    }

    @Test func reportLinesAreCut() throws {
        let report = CPQReport(releaseID: "r-1", recipient: "bob@rcpt.example", status: .bounced,
                               reply: "550 5.1.1 " + String(repeating: "unknown user ", count: 60))
        let line = try CPQClient.reportLine(report)
        #expect(line.utf8.count + 2 <= 512)
        guard case .report(let parsed) = try CPQCommandParser.parse(argument: String(line.dropFirst(5))) else {
            Issue.record("not a report")
            return
        }
        #expect(parsed.status == .bounced && report.reply.hasPrefix(parsed.reply) && parsed.reply.count > 100)
        #expect(try CPQClient.reportLine(CPQReport(releaseID: "r-1", recipient: "b@x", status: .accepted)) == "XCPQ REPORT r-1 RCPT=b@x STATUS=accepted")
    }

    @Test func versionInEHLO() {
        func extensions(_ lines: [String]) -> SMTPServerExtensions {
            SMTPServerExtensions(ehloReply: SMTPReply(code: 250, enhanced: nil, lines: ["mx Hello"] + lines))
        }
        #expect(CPQClient.offersCPQ(extensions(["PIPELINING", "XCPQ 1"])))
        #expect(CPQClient.offersCPQ(extensions(["xcpq 2 1"])))
        #expect(!CPQClient.offersCPQ(extensions(["XCPQ 2"])))
        #expect(!CPQClient.offersCPQ(extensions(["XCPQ"])))
        #expect(!CPQClient.offersCPQ(extensions(["STARTTLS"])))
    }

    @Test func outcomes() {
        let stored = SMTPReply(250, .init(2, 0, 0), "Ok: quarantined as QID Q1 (transfer t)")
        #expect(CPQClient.outcome([.delivered(stored)], CPQReplies.storedTransfer(in:)) == .accepted(CPQStoredTransfer(qid: "Q1")))
        let full = SMTPReply(452, .init(4, 3, 1), "Quarantine store full, try again later")
        #expect(CPQClient.outcome([.deferred(full)], CPQReplies.storedTransfer(in:)) == .deferred(full))
        let refused = SMTPReply(550, .init(5, 7, 1), "no")
        #expect(CPQClient.outcome([.failed(refused), .failed(refused)], CPQReplies.storedTransfer(in:)) == .failed(refused))
        guard case .failed(let reply) = CPQClient.outcome([.delivered(SMTPReply(250, nil, "Ok"))], CPQReplies.storedTransfer(in:)) else {
            Issue.record("a 250 without a QID is not a transfer")
            return
        }
        #expect(reply.code == 554)
    }
}
