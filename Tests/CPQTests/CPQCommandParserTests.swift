import Scanning
import SMTPProtocol
import Testing
@testable import CPQ

@Suite struct CPQCommandParserTests {
    // MARK: - The examples of docs/CPQ.md

    @Test func transferExample() throws {
        let command = try CPQCommandParser.parse(argument: "TRANSFER t-gw1-482-1 GATEWAY=gw1 MID=482 ICID=77 RECEIVED=1795426153")
        #expect(command == .transfer(CPQTransferHeader(transferID: "t-gw1-482-1", gateway: "gw1", mid: 482, icid: 77, received: 1795426153)))
    }

    @Test func holdExamples() throws {
        let policy = try CPQCommandParser.parse(argument: "HOLD Policy STAGE=message-filters RESUME=antivirus KIND=message-filter DETAIL=block_exe")
        var expected = QuarantineTicket(quarantine: "Policy", reason: QuarantineReason(kind: .messageFilter, detail: "block_exe"),
                                        stage: .messageFilters)
        #expect(expected.resumeAt == .antivirus)
        #expect(policy == .hold(expected))

        let virus = try CPQCommandParser.parse(argument: "HOLD Virus STAGE=antivirus RESUME=content-filters KIND=antivirus DETAIL=Eicar-Test-Signature")
        #expect(virus == .hold(QuarantineTicket(quarantine: "Virus", reason: QuarantineReason(kind: .antivirus, detail: "Eicar-Test-Signature"),
                                                stage: .antivirus)))

        let outbreak = try CPQCommandParser.parse(
            argument: "HOLD Outbreak+20Quarantine STAGE=outbreak RESUME=outbreak KIND=outbreak DETAIL=OUTB-17+20phish LEVEL=4 RETENTION=86400 COPY")
        expected = QuarantineTicket(quarantine: "Outbreak Quarantine", reason: QuarantineReason(kind: .outbreak, detail: "OUTB-17 phish", threatLevel: 4),
                                    stage: .outbreak, retentionSeconds: 86400, isCopy: true)
        #expect(outbreak == .hold(expected))

        // RESUME is what the line says, not what the ticket would compute.
        let resumed = try CPQCommandParser.parse(argument: "HOLD P STAGE=antivirus RESUME=delivery KIND=antivirus DETAIL=")
        guard case .hold(let hold) = resumed else { Issue.record("not a hold"); return }
        #expect(hold.resumeAt == .delivery && hold.reason.detail == "")
    }

    @Test func releaseAndReportExamples() throws {
        let release = try CPQCommandParser.parse(argument: "RELEASE r-6f1c0d2e MID=482 QID=Q7KD2M4XH1 RESUME=content-filters QUARANTINES=Policy,Virus")
        #expect(release == .release(CPQReleaseHeader(releaseID: "r-6f1c0d2e", mid: 482, qid: "Q7KD2M4XH1", resume: .contentFilters,
                                                     quarantines: ["Policy", "Virus"])))
        let report = try CPQCommandParser.parse(argument: "REPORT r-6f1c0d2e RCPT=bob@rcpt.example STATUS=delivered REPLY=250+202.0.0+20Ok")
        #expect(report == .report(CPQReport(releaseID: "r-6f1c0d2e", recipient: "bob@rcpt.example", status: .delivered, reply: "250 2.0.0 Ok")))
        let bare = try CPQCommandParser.parse(argument: "REPORT r-1 RCPT=b@x STATUS=accepted")
        #expect(bare == .report(CPQReport(releaseID: "r-1", recipient: "b@x", status: .accepted)))
    }

    @Test func toleratedVariations() throws {
        // Any case for the sub-command, several spaces, any key order, leading zeros.
        let command = try CPQCommandParser.parse(argument: "transfer  t-1   RECEIVED=0 ICID=0077 MID=9223372036854775807 GATEWAY=gw.1_a ")
        #expect(command == .transfer(CPQTransferHeader(transferID: "t-1", gateway: "gw.1_a", mid: UInt64(Int64.max), icid: 77, received: 0)))
        #expect(try CPQCommandParser.subCommand(of: "  Hold x") == .hold)
    }

    // MARK: - Every refusal, word for word

    static let transfer = "TRANSFER t-1 GATEWAY=gw1 MID=482 ICID=77 RECEIVED=1795426153"
    static let hold = "HOLD Policy STAGE=message-filters RESUME=antivirus KIND=message-filter DETAIL=block_exe"
    static let release = "RELEASE r-1 MID=482 QID=Q7KD2M4XH1 RESUME=content-filters QUARANTINES=Policy,Virus"
    static let report = "REPORT r-1 RCPT=bob@rcpt.example STATUS=delivered"

    static let refusals: [(String, String)] = [
        // sub-command
        ("", "501 5.5.4 XCPQ: sub-command is missing (TRANSFER, HOLD, RELEASE, REPORT, JOIN)"),
        ("   ", "501 5.5.4 XCPQ: sub-command is missing (TRANSFER, HOLD, RELEASE, REPORT, JOIN)"),
        ("FOO", "504 5.5.2 XCPQ FOO is not a CPQ command (TRANSFER, HOLD, RELEASE, REPORT, JOIN)"),
        ("foo x=1", "504 5.5.2 XCPQ FOO is not a CPQ command (TRANSFER, HOLD, RELEASE, REPORT, JOIN)"),
        ("TRANSFERXXXXXXXXXXXXXXXXXXXXX", "504 5.5.2 XCPQ TRANSFERXXXXXXXX... is not a CPQ command (TRANSFER, HOLD, RELEASE, REPORT, JOIN)"),
        ("TR\u{E9}S", "504 5.5.2 XCPQ TR??S is not a CPQ command (TRANSFER, HOLD, RELEASE, REPORT, JOIN)"),
        // TRANSFER
        ("TRANSFER", "501 5.5.4 XCPQ TRANSFER: transfer id is missing"),
        ("TRANSFER GATEWAY=gw1 MID=482 ICID=77 RECEIVED=1", "501 5.5.4 XCPQ TRANSFER: transfer id is missing"),
        ("TRANSFER t/1 GATEWAY=gw1 MID=482 ICID=77 RECEIVED=1", "501 5.5.4 XCPQ TRANSFER: transfer id must be 1-64 characters of A-Z a-z 0-9 . _ -"),
        ("TRANSFER \(String(repeating: "t", count: 65)) GATEWAY=gw1 MID=482 ICID=77 RECEIVED=1",
         "501 5.5.4 XCPQ TRANSFER: transfer id must be 1-64 characters of A-Z a-z 0-9 . _ -"),
        ("TRANSFER t-1 MID=482 ICID=77 RECEIVED=1", "501 5.5.4 XCPQ TRANSFER: GATEWAY is missing"),
        ("TRANSFER t-1 GATEWAY=gw1 ICID=77 RECEIVED=1", "501 5.5.4 XCPQ TRANSFER: MID is missing"),
        ("TRANSFER t-1 GATEWAY=gw1 MID=482 RECEIVED=1", "501 5.5.4 XCPQ TRANSFER: ICID is missing"),
        ("TRANSFER t-1 GATEWAY=gw1 MID=482 ICID=77", "501 5.5.4 XCPQ TRANSFER: RECEIVED is missing"),
        ("TRANSFER t-1 GATEWAY=gw+31 MID=482 ICID=77 RECEIVED=1", "501 5.5.4 XCPQ TRANSFER: GATEWAY must be 1-64 characters of A-Z a-z 0-9 . _ -"),
        ("TRANSFER t-1 GATEWAY= MID=482 ICID=77 RECEIVED=1", "501 5.5.4 XCPQ TRANSFER: GATEWAY must be 1-64 characters of A-Z a-z 0-9 . _ -"),
        ("TRANSFER t-1 GATEWAY=gw1 MID=-1 ICID=77 RECEIVED=1", "501 5.5.4 XCPQ TRANSFER: MID must be a decimal number below 2^63"),
        ("TRANSFER t-1 GATEWAY=gw1 MID=9223372036854775808 ICID=77 RECEIVED=1", "501 5.5.4 XCPQ TRANSFER: MID must be a decimal number below 2^63"),
        ("TRANSFER t-1 GATEWAY=gw1 MID=482 ICID=7x RECEIVED=1", "501 5.5.4 XCPQ TRANSFER: ICID must be a decimal number below 2^63"),
        ("TRANSFER t-1 GATEWAY=gw1 MID=482 ICID=77 RECEIVED=+1", "501 5.5.4 XCPQ TRANSFER: RECEIVED must be decimal seconds since 1970, below 2^63"),
        ("TRANSFER t-1 GATEWAY=gw1 MID ICID=77 RECEIVED=1", "501 5.5.4 XCPQ TRANSFER: MID must be a decimal number below 2^63"),
        ("TRANSFER t-1 GATEWAY=gw1 MID=1 MID=2 ICID=77 RECEIVED=1", "501 5.5.4 XCPQ TRANSFER: duplicate key MID"),
        ("TRANSFER t-1 GATEWAY=gw1 MID=1 ICID=77 RECEIVED=1 FOO=bar", "555 5.5.4 XCPQ TRANSFER: unknown key FOO"),
        ("TRANSFER t-1 GATEWAY=gw1 MID=1 ICID=77 RECEIVED=1 COPY", "555 5.5.4 XCPQ TRANSFER: unknown key COPY"),
        ("TRANSFER t-1 gateway=gw1 MID=1 ICID=77 RECEIVED=1",
         "501 5.5.4 XCPQ TRANSFER: malformed argument gateway=gw1 (KEY=value expected, KEY in upper case)"),
        ("TRANSFER t-1 GATEWAY=gw1 =1", "501 5.5.4 XCPQ TRANSFER: malformed argument =1 (KEY=value expected, KEY in upper case)"),
        ("TRANSFER t-1 GATEWAY=gw1 \u{1}X=1", "501 5.5.4 XCPQ TRANSFER: malformed argument ?X=1 (KEY=value expected, KEY in upper case)"),
        // HOLD
        ("HOLD", "501 5.5.4 XCPQ HOLD: quarantine name is missing"),
        ("HOLD STAGE=antivirus RESUME=outbreak KIND=antivirus DETAIL=x", "501 5.5.4 XCPQ HOLD: quarantine name is missing"),
        ("HOLD Po.licy STAGE=antivirus RESUME=outbreak KIND=antivirus DETAIL=x",
         "501 5.5.4 XCPQ HOLD: quarantine name must be 1-64 letters, digits, -, _ or spaces (as +20)"),
        ("HOLD Po+2Elicy STAGE=antivirus RESUME=outbreak KIND=antivirus DETAIL=x",
         "501 5.5.4 XCPQ HOLD: quarantine name must be 1-64 letters, digits, -, _ or spaces (as +20)"),
        ("HOLD \(String(repeating: "q", count: 65)) STAGE=antivirus RESUME=outbreak KIND=antivirus DETAIL=x",
         "501 5.5.4 XCPQ HOLD: quarantine name must be 1-64 letters, digits, -, _ or spaces (as +20)"),
        ("HOLD P RESUME=outbreak KIND=antivirus DETAIL=x", "501 5.5.4 XCPQ HOLD: STAGE is missing"),
        ("HOLD P STAGE=antivirus KIND=antivirus DETAIL=x", "501 5.5.4 XCPQ HOLD: RESUME is missing"),
        ("HOLD P STAGE=antivirus RESUME=outbreak DETAIL=x", "501 5.5.4 XCPQ HOLD: KIND is missing"),
        ("HOLD P STAGE=antivirus RESUME=outbreak KIND=antivirus", "501 5.5.4 XCPQ HOLD: DETAIL is missing"),
        ("HOLD P STAGE=scanning RESUME=outbreak KIND=antivirus DETAIL=x",
         "501 5.5.4 XCPQ HOLD: STAGE must be message-filters, antivirus, content-filters, outbreak, delivery"),
        ("HOLD P STAGE=antivirus RESUME=Outbreak KIND=antivirus DETAIL=x",
         "501 5.5.4 XCPQ HOLD: RESUME must be message-filters, antivirus, content-filters, outbreak, delivery"),
        ("HOLD P STAGE=antivirus RESUME=outbreak KIND=virus DETAIL=x",
         "501 5.5.4 XCPQ HOLD: KIND must be message-filter, content-filter, antivirus or outbreak"),
        ("HOLD P STAGE=antivirus RESUME=outbreak KIND=message+20filter DETAIL=x",
         "501 5.5.4 XCPQ HOLD: KIND must be message-filter, content-filter, antivirus or outbreak"),
        ("HOLD P STAGE=antivirus RESUME=outbreak KIND=antivirus DETAIL=a+0Ab",
         "501 5.5.4 XCPQ HOLD: DETAIL must be xtext of at most 512 octets of UTF-8 text without control characters"),
        ("HOLD P STAGE=antivirus RESUME=outbreak KIND=antivirus DETAIL=a+zz",
         "501 5.5.4 XCPQ HOLD: DETAIL must be xtext of at most 512 octets of UTF-8 text without control characters"),
        ("HOLD P STAGE=antivirus RESUME=outbreak KIND=antivirus DETAIL=caf\u{E9}",
         "501 5.5.4 XCPQ HOLD: DETAIL must be xtext of at most 512 octets of UTF-8 text without control characters"),
        ("HOLD P STAGE=antivirus RESUME=outbreak KIND=antivirus DETAIL=+FF",
         "501 5.5.4 XCPQ HOLD: DETAIL must be xtext of at most 512 octets of UTF-8 text without control characters"),
        ("HOLD P STAGE=outbreak RESUME=outbreak KIND=outbreak DETAIL=x LEVEL=0", "501 5.5.4 XCPQ HOLD: LEVEL must be 1-5"),
        ("HOLD P STAGE=outbreak RESUME=outbreak KIND=outbreak DETAIL=x LEVEL=6", "501 5.5.4 XCPQ HOLD: LEVEL must be 1-5"),
        ("HOLD P STAGE=outbreak RESUME=outbreak KIND=outbreak DETAIL=x LEVEL=", "501 5.5.4 XCPQ HOLD: LEVEL must be 1-5"),
        ("HOLD P STAGE=outbreak RESUME=outbreak KIND=outbreak DETAIL=x LEVEL=99999999999999999999999", "501 5.5.4 XCPQ HOLD: LEVEL must be 1-5"),
        ("HOLD P STAGE=outbreak RESUME=outbreak KIND=outbreak DETAIL=x RETENTION=315576001",
         "501 5.5.4 XCPQ HOLD: RETENTION must be decimal seconds, at most 10 years (315576000)"),
        ("HOLD P STAGE=outbreak RESUME=outbreak KIND=outbreak DETAIL=x RETENTION=1h",
         "501 5.5.4 XCPQ HOLD: RETENTION must be decimal seconds, at most 10 years (315576000)"),
        ("HOLD P STAGE=outbreak RESUME=outbreak KIND=outbreak DETAIL=x COPY=yes", "501 5.5.4 XCPQ HOLD: COPY takes no value"),
        ("HOLD P STAGE=outbreak RESUME=outbreak KIND=outbreak DETAIL=x COPY COPY", "501 5.5.4 XCPQ HOLD: duplicate key COPY"),
        ("HOLD P STAGE=outbreak RESUME=outbreak KIND=outbreak DETAIL=x FOO", "555 5.5.4 XCPQ HOLD: unknown key FOO"),
        ("HOLD P STAGE=outbreak RESUME=outbreak KIND=outbreak DETAIL=x GATEWAY=gw1", "555 5.5.4 XCPQ HOLD: unknown key GATEWAY"),
        // RELEASE
        ("RELEASE", "501 5.5.4 XCPQ RELEASE: release id is missing"),
        ("RELEASE r:1 MID=482 QID=Q RESUME=outbreak QUARANTINES=P", "501 5.5.4 XCPQ RELEASE: release id must be 1-64 characters of A-Z a-z 0-9 . _ -"),
        ("RELEASE r-1 QID=Q RESUME=outbreak QUARANTINES=P", "501 5.5.4 XCPQ RELEASE: MID is missing"),
        ("RELEASE r-1 MID=482 RESUME=outbreak QUARANTINES=P", "501 5.5.4 XCPQ RELEASE: QID is missing"),
        ("RELEASE r-1 MID=482 QID=Q QUARANTINES=P", "501 5.5.4 XCPQ RELEASE: RESUME is missing"),
        ("RELEASE r-1 MID=482 QID=Q RESUME=outbreak", "501 5.5.4 XCPQ RELEASE: QUARANTINES is missing"),
        ("RELEASE r-1 MID=482 QID=Q+21 RESUME=outbreak QUARANTINES=P", "501 5.5.4 XCPQ RELEASE: QID must be 1-64 characters of A-Z a-z 0-9 . _ -"),
        ("RELEASE r-1 MID=482 QID=Q RESUME=outbreak QUARANTINES=",
         "501 5.5.4 XCPQ RELEASE: QUARANTINES must be 1-16 distinct quarantine names (letters, digits, -, _, +20), comma separated"),
        ("RELEASE r-1 MID=482 QID=Q RESUME=outbreak QUARANTINES=P,,V",
         "501 5.5.4 XCPQ RELEASE: QUARANTINES must be 1-16 distinct quarantine names (letters, digits, -, _, +20), comma separated"),
        ("RELEASE r-1 MID=482 QID=Q RESUME=outbreak QUARANTINES=P,P",
         "501 5.5.4 XCPQ RELEASE: QUARANTINES must be 1-16 distinct quarantine names (letters, digits, -, _, +20), comma separated"),
        ("RELEASE r-1 MID=482 QID=Q RESUME=outbreak QUARANTINES=" + (1...17).map { "Q\($0)" }.joined(separator: ","),
         "501 5.5.4 XCPQ RELEASE: QUARANTINES must be 1-16 distinct quarantine names (letters, digits, -, _, +20), comma separated"),
        ("RELEASE r-1 MID=482 QID=Q RESUME=outbreak QUARANTINES=P TO=x", "555 5.5.4 XCPQ RELEASE: unknown key TO"),
        // REPORT
        ("REPORT", "501 5.5.4 XCPQ REPORT: release id is missing"),
        ("REPORT r-1 STATUS=delivered", "501 5.5.4 XCPQ REPORT: RCPT is missing"),
        ("REPORT r-1 RCPT=b@x", "501 5.5.4 XCPQ REPORT: STATUS is missing"),
        ("REPORT r-1 RCPT= STATUS=delivered", "501 5.5.4 XCPQ REPORT: RCPT must be an address in xtext, 1-256 octets of UTF-8 without control characters"),
        ("REPORT r-1 RCPT=b+0D+0A@x STATUS=delivered",
         "501 5.5.4 XCPQ REPORT: RCPT must be an address in xtext, 1-256 octets of UTF-8 without control characters"),
        ("REPORT r-1 RCPT=\(String(repeating: "b", count: 257)) STATUS=delivered",
         "501 5.5.4 XCPQ REPORT: RCPT must be an address in xtext, 1-256 octets of UTF-8 without control characters"),
        ("REPORT r-1 RCPT=b@x STATUS=Delivered", "501 5.5.4 XCPQ REPORT: STATUS must be accepted, delivered, deferred, bounced"),
        ("REPORT r-1 RCPT=b@x STATUS=delivered REPLY=a+7Fb",
         "501 5.5.4 XCPQ REPORT: REPLY must be xtext of at most 512 octets of UTF-8 text without control characters"),
        ("REPORT r-1 RCPT=b@x STATUS=delivered QID=Q", "555 5.5.4 XCPQ REPORT: unknown key QID"),
        ("REPORT r-1 RCPT=b@x STATUS=delivered \(String(repeating: "K", count: 33))=1",
         "501 5.5.4 XCPQ REPORT: malformed argument \(String(repeating: "K", count: 32))... (KEY=value expected, KEY in upper case)"),
    ]

    @Test(arguments: refusals)
    func refusal(_ argument: String, _ expected: String) {
        #expect(throws: CPQProtocolError.self) { try CPQCommandParser.parse(argument: argument) }
        do {
            let command = try CPQCommandParser.parse(argument: argument)
            Issue.record("parsed as \(command)")
        } catch {
            #expect(error.reply.description == expected)
            #expect(error.reply.lines.count == 1)
        }
    }

    @Test func theLongestLegalValuesParse() throws {
        let id = String(repeating: "t", count: 64)
        let name = String(repeating: "q", count: 64)
        _ = try CPQCommandParser.parse(argument: "TRANSFER \(id) GATEWAY=\(id) MID=0 ICID=9223372036854775807 RECEIVED=9223372036854775807")
        _ = try CPQCommandParser.parse(argument: "HOLD \(name) STAGE=delivery RESUME=delivery KIND=outbreak DETAIL=\(String(repeating: "d", count: 512)) LEVEL=5 RETENTION=315576000")
        let tooLong = "HOLD \(name) STAGE=delivery RESUME=delivery KIND=outbreak DETAIL=\(String(repeating: "d", count: 513))"
        #expect(throws: CPQProtocolError.self) { try CPQCommandParser.parse(argument: tooLong) }
        let sixteen = (1...16).map { "Q\($0)" }.joined(separator: ",")
        let release = try CPQCommandParser.parse(argument: "RELEASE r MID=1 QID=q RESUME=antivirus QUARANTINES=\(sixteen)")
        guard case .release(let header) = release else { Issue.record("not a release"); return }
        #expect(header.quarantines.count == 16)
    }
}
