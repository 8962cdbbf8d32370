import Scanning
import SMTPProtocol
import Testing
@testable import CPQ

@Suite struct CPQCommandEncoderTests {
    @Test func docExamplesEncodeWordForWord() throws {
        let transfer = CPQCommand.transfer(CPQTransferHeader(transferID: "t-gw1-482-1", gateway: "gw1", mid: 482, icid: 77, received: 1795426153))
        #expect(try CPQCommandEncoder.line(for: transfer) == "XCPQ TRANSFER t-gw1-482-1 GATEWAY=gw1 MID=482 ICID=77 RECEIVED=1795426153")
        let policy = CPQCommand.hold(QuarantineTicket(quarantine: "Policy", reason: QuarantineReason(kind: .messageFilter, detail: "block_exe"),
                                                      stage: .messageFilters))
        #expect(try CPQCommandEncoder.line(for: policy)
            == "XCPQ HOLD Policy STAGE=message-filters RESUME=antivirus KIND=message-filter DETAIL=block_exe")
        let virus = CPQCommand.hold(QuarantineTicket(quarantine: "Virus", reason: QuarantineReason(kind: .antivirus, detail: "Eicar-Test-Signature"),
                                                     stage: .antivirus))
        #expect(try CPQCommandEncoder.line(for: virus)
            == "XCPQ HOLD Virus STAGE=antivirus RESUME=content-filters KIND=antivirus DETAIL=Eicar-Test-Signature")
        let release = CPQCommand.release(CPQReleaseHeader(releaseID: "r-6f1c0d2e", mid: 482, qid: "Q7KD2M4XH1", resume: .contentFilters,
                                                          quarantines: ["Policy", "Virus"]))
        #expect(try CPQCommandEncoder.line(for: release)
            == "XCPQ RELEASE r-6f1c0d2e MID=482 QID=Q7KD2M4XH1 RESUME=content-filters QUARANTINES=Policy,Virus")
        let report = CPQCommand.report(CPQReport(releaseID: "r-6f1c0d2e", recipient: "bob@rcpt.example", status: .delivered, reply: "250 2.0.0 Ok"))
        #expect(try CPQCommandEncoder.line(for: report) == "XCPQ REPORT r-6f1c0d2e RCPT=bob@rcpt.example STATUS=delivered REPLY=250+202.0.0+20Ok")
        let outbreak = CPQCommand.hold(QuarantineTicket(quarantine: "Outbreak", reason: QuarantineReason(kind: .outbreak, detail: "OUTB-17", threatLevel: 4),
                                                        stage: .outbreak, retentionSeconds: 3600, isCopy: true))
        #expect(try CPQCommandEncoder.line(for: outbreak)
            == "XCPQ HOLD Outbreak STAGE=outbreak RESUME=outbreak KIND=outbreak DETAIL=OUTB-17 LEVEL=4 RETENTION=3600 COPY")
    }

    @Test func valuesOutsideTheirSyntaxAreRefusedWithTheServersReply() {
        func reply(_ command: CPQCommand) -> String? {
            do {
                _ = try CPQCommandEncoder.line(for: command)
                return nil
            } catch {
                return error.reply.description
            }
        }
        var hold = QuarantineTicket(quarantine: "Policy", reason: QuarantineReason(kind: .outbreak, detail: "x", threatLevel: 7), stage: .outbreak)
        #expect(reply(.hold(hold)) == "501 5.5.4 XCPQ HOLD: LEVEL must be 1-5")
        hold.reason.threatLevel = nil
        hold.quarantine = "Pol.icy"
        #expect(reply(.hold(hold)) == "501 5.5.4 XCPQ HOLD: quarantine name must be 1-64 letters, digits, -, _ or spaces (as +20)")
        hold.quarantine = "Policy"
        hold.reason.detail = String(repeating: "d", count: 480)
        #expect(reply(.hold(hold)) == "500 5.5.2 Line too long", "fits the field limit, not the 512-octet line")
        #expect(reply(.transfer(CPQTransferHeader(transferID: "", gateway: "gw1", mid: 1, icid: 1, received: 1)))
            == "501 5.5.4 XCPQ TRANSFER: transfer id is missing")
        #expect(reply(.transfer(CPQTransferHeader(transferID: "t", gateway: "gw1", mid: UInt64.max, icid: 1, received: 1)))
            == "501 5.5.4 XCPQ TRANSFER: MID must be a decimal number below 2^63")
        #expect(reply(.transfer(CPQTransferHeader(transferID: "t", gateway: "gw1", mid: 1, icid: 1, received: -1)))
            == "501 5.5.4 XCPQ TRANSFER: RECEIVED must be decimal seconds since 1970, below 2^63")
        #expect(reply(.release(CPQReleaseHeader(releaseID: "r", mid: 1, qid: "q", resume: .antivirus, quarantines: [])))?
            .hasPrefix("501 5.5.4 XCPQ RELEASE: QUARANTINES must be") == true)
        #expect(reply(.report(CPQReport(releaseID: "r", recipient: "", status: .bounced)))?.hasPrefix("501 5.5.4 XCPQ REPORT: RCPT must be") == true)
    }

    // MARK: - Property: encode → parse gives the value back

    /// A small deterministic generator (SplitMix64) so that a failure names its seed.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let identifierCharacters = Array("ABCXYZabcxyz0189._-")
    static let nameCharacters = Array("PolicyVirusOutbreak0123-_ ")
    static let textScalars: [Character] = Array("abc XYZ 019 +=_-.,:;!?~\"'<>@\t") + ["\u{E9}", "\u{4E2D}", "\u{1F600}", "\u{A0}"]

    static func string(_ alphabet: [Character], _ range: ClosedRange<Int>, _ rng: inout SeededGenerator) -> String {
        String((0..<Int.random(in: range, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
    }

    static func name(_ rng: inout SeededGenerator) -> String {
        var name = string(nameCharacters, 1...20, &rng)
        if name.allSatisfy({ $0 == " " }) { name = "Q" + name }
        return name
    }

    static func number(_ rng: inout SeededGenerator) -> UInt64 {
        Bool.random(using: &rng) ? UInt64.random(in: 0...1000, using: &rng) : UInt64.random(in: 0...UInt64(Int64.max), using: &rng)
    }

    static func randomCommand(_ rng: inout SeededGenerator) -> CPQCommand {
        switch Int.random(in: 0..<4, using: &rng) {
        case 0:
            return .transfer(CPQTransferHeader(transferID: string(identifierCharacters, 1...64, &rng), gateway: string(identifierCharacters, 1...64, &rng),
                                               mid: number(&rng), icid: number(&rng), received: Int64(number(&rng))))
        case 1:
            let kind = [QuarantineReason.Kind.messageFilter, .contentFilter, .antivirus, .outbreak].randomElement(using: &rng)!
            let level = Bool.random(using: &rng) ? Int.random(in: 1...5, using: &rng) : nil
            var hold = QuarantineTicket(quarantine: name(&rng), reason: QuarantineReason(kind: kind, detail: string(textScalars, 0...60, &rng), threatLevel: level),
                                        stage: PipelineStage.allCases.randomElement(using: &rng)!,
                                        retentionSeconds: Bool.random(using: &rng) ? Int.random(in: 0...CPQDefaults.maxRetentionSeconds, using: &rng) : nil,
                                        isCopy: Bool.random(using: &rng))
            hold.resumeAt = PipelineStage.allCases.randomElement(using: &rng)!
            return .hold(hold)
        case 2:
            var names: [String] = []
            for _ in 0..<Int.random(in: 1...CPQDefaults.maxHolds, using: &rng) {
                let candidate = name(&rng)
                if !names.contains(candidate) { names.append(candidate) }
            }
            return .release(CPQReleaseHeader(releaseID: string(identifierCharacters, 1...64, &rng), mid: number(&rng),
                                             qid: string(identifierCharacters, 1...64, &rng), resume: PipelineStage.allCases.randomElement(using: &rng)!,
                                             quarantines: names))
        default:
            return .report(CPQReport(releaseID: string(identifierCharacters, 1...64, &rng), recipient: "x" + string(textScalars, 0...40, &rng),
                                     status: CPQReportStatus.allCases.randomElement(using: &rng)!, reply: string(textScalars, 0...80, &rng)))
        }
    }

    @Test(arguments: [UInt64(1), 2, 3, 0xC0FFEE, 20_260_101])
    func encodeThenParseGivesTheValueBack(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        var tooLong = 0
        for iteration in 0..<500 {
            let command = Self.randomCommand(&rng)
            let argument = CPQCommandEncoder.argument(for: command)
            #expect(try CPQCommandParser.parse(argument: argument) == command, "seed \(seed) iteration \(iteration): \(argument)")
            do {
                let line = try CPQCommandEncoder.line(for: command)
                #expect(line == "XCPQ " + argument)
                #expect(line.utf8.count + 2 <= 512)
                #expect(!line.utf8.contains { $0 < 0x20 || $0 >= 0x7F }, "the line is printable ASCII")
            } catch {
                #expect(error.reply == CPQReplies.lineTooLong, "seed \(seed) iteration \(iteration)")
                tooLong += 1
            }
        }
        #expect(tooLong < 250, "most generated commands fit a line")
    }
}
