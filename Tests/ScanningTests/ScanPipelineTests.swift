import NIOConcurrencyHelpers
import NIOCore
import Testing
@testable import Scanning

/// A stand-in engine for unit tests of the pipeline only (the real clamd is tested in
/// IntegrationTests): answers a fixed verdict and remembers what it was asked.
final class FixedEngine: AntivirusEngine {
    let verdict: AntivirusVerdict
    private let scanned = NIOLockedValueBox<[String]>([])
    init(_ verdict: AntivirusVerdict) { self.verdict = verdict }
    func scan(_ message: ByteBuffer) async -> AntivirusVerdict {
        scanned.withLockedValue { $0.append(String(buffer: message)) }
        return verdict
    }
    func version() async throws -> String { "fixed 1" }
    var bodies: [String] { scanned.withLockedValue { $0 } }
}

@Suite struct ScanPipelineTests {
    static let mail = """
        From: Alice <alice@sender.example>\r
        To: bob@rcpt.example\r
        Subject: quarterly report\r
        MIME-Version: 1.0\r
        Content-Type: multipart/mixed; boundary="b1"\r
        \r
        --b1\r
        Content-Type: text/plain\r
        \r
        see https://files.example-share.test/x attached\r
        --b1\r
        Content-Type: application/octet-stream; name="report.iso"\r
        Content-Disposition: attachment; filename="report.iso"\r
        \r
        data\r
        --b1--\r

        """

    static func input(_ body: String = mail, from: String = "alice@sender.example") -> ScanInput {
        ScanInput(mailFrom: from, recipients: ["bob@rcpt.example"], remoteIP: "127.0.0.1", senderGroup: "RELAYLIST",
                  listener: "IncomingMail", body: ByteBuffer(string: body))
    }

    static let rules = try! OutbreakRules.parse("""
        version: 7
        rules:
          - {id: OUTB-4, threat_level: 4, attachment_name: '(?i)\\.iso$'}
          - {id: OUTB-2, threat_level: 2, url: 'example-share'}
        """, source: "test")

    func pipeline(_ filters: String = "", engine: FixedEngine? = FixedEngine(.clean), policies: [MailPolicy] = [],
                  av: AntivirusPolicy = .init(), outbreak: OutbreakPolicy? = OutbreakPolicy(), rules: OutbreakRules = rules) throws -> ScanPipeline {
        ScanPipeline(messageFilters: try FilterSet.parse(filters), policies: policies,
                     antivirus: engine.map { ($0, av) }, outbreak: outbreak, outbreakRules: rules)
    }

    @Test func messageFilterQuarantineStopsThePipelineAndResumesAtAntivirus() async throws {
        let engine = FixedEngine(.clean)
        let p = try pipeline("""
            a: if (subject == 'quarterly') { quarantine("Policy"); }
            b: if (attachment-filename == 'iso$') { quarantine("Legal"); }
            """, engine: engine)
        let outcome = await p.run(Self.input())
        guard case .quarantine(let tickets) = outcome.disposition else { Issue.record("\(outcome.disposition)"); return }
        #expect(tickets.map(\.quarantine) == ["Policy", "Legal"])
        #expect(tickets.allSatisfy { $0.stage == .messageFilters && $0.resumeAt == .antivirus })
        #expect(tickets.map(\.reason.description) == ["message filter:a", "message filter:b"])
        #expect(engine.bodies.isEmpty, "anti-virus must not run after a quarantine")
        #expect(outcome.events.contains(#"quarantined to "Policy" (message filter:a)"#))
    }

    @Test func resumingAfterReleaseSkipsEarlierStages() async throws {
        let engine = FixedEngine(.clean)
        let p = try pipeline(#"a: if (true) { quarantine("Policy"); }"#, engine: engine, outbreak: nil)
        let outcome = await p.run(Self.input(), from: .antivirus)
        #expect(outcome.disposition == .deliver)
        #expect(engine.bodies.count == 1)
    }

    @Test func headerEditsReachLaterStagesAndTheDeliveredCopy() async throws {
        let engine = FixedEngine(.clean)
        let p = try pipeline(#"t: if (mail-from == '@sender\\.example$') { insert-header("X-Tag", "yes"); strip-header("Subject"); }"#,
                             engine: engine, outbreak: nil)
        let outcome = await p.run(Self.input())
        #expect(outcome.disposition == .deliver)
        #expect(outcome.changed)
        let body = String(buffer: outcome.body)
        #expect(body.hasPrefix("X-Tag: yes\r\n"))
        #expect(!body.contains("Subject:"))
        #expect(engine.bodies.first?.hasPrefix("X-Tag: yes") == true)
    }

    @Test func dropBounceAndCopies() async throws {
        let drop = try pipeline(#"d: if (subject == 'report') { duplicate-quarantine("Policy"); drop(); }"#)
        #expect(await drop.run(Self.input()).disposition == .drop(reason: "message filter:d"))
        let bounce = try pipeline(#"b: if (rcpt-to == 'bob@') { bounce(); }"#)
        #expect(await bounce.run(Self.input()).disposition == .bounce(reason: "message filter:b"))
        let copy = try pipeline(#"c: if (true) { duplicate-quarantine("Policy"); notify("audit@corp.example"); }"#, outbreak: nil)
        let outcome = await copy.run(Self.input())
        #expect(outcome.disposition == .deliver)
        #expect(outcome.copies.map(\.quarantine) == ["Policy"])
        #expect(outcome.copies.first?.isCopy == true)
        #expect(outcome.notifications.map(\.recipient) == ["audit@corp.example"])
    }

    @Test(arguments: [
        (AntivirusVerdict.infected(["Eicar-Test-Signature"]), "quarantine:Virus:antivirus:Eicar-Test-Signature"),
        (.unscannable("Heuristics.Limits.Exceeded"), "quarantine:Virus:antivirus:unscannable Heuristics.Limits.Exceeded"),
        (.encrypted("Heuristics.Encrypted.Zip"), "deliver:encrypted"),
        (.unavailable("clamd down"), "retry:antivirus"),
    ])
    func antivirusVerdictsFollowThePolicy(verdict: AntivirusVerdict, expected: String) async throws {
        let p = try pipeline(engine: FixedEngine(verdict), outbreak: nil)
        let outcome = await p.run(Self.input())
        switch outcome.disposition {
        case .quarantine(let tickets):
            #expect("quarantine:\(tickets[0].quarantine):\(tickets[0].reason)" == expected)
            #expect(tickets[0].resumeAt == .contentFilters)
        case .deliver:
            #expect("deliver:encrypted" == expected)
            #expect(String(buffer: outcome.body).hasPrefix("X-Lazaret-AV: encrypted\r\n"))
        case .retry(let stage, _):
            #expect("retry:\(stage.rawValue)" == expected)
        default:
            Issue.record("unexpected \(outcome.disposition)")
        }
    }

    @Test func unavailableNeverDeliversEvenIfConfiguredTo() async throws {
        let p = try pipeline(engine: FixedEngine(.unavailable("down")), av: AntivirusPolicy(unavailable: .deliver), outbreak: nil)
        guard case .retry = await p.run(Self.input()).disposition else { Issue.record("delivered unscanned"); return }
        let q = try pipeline(engine: FixedEngine(.unavailable("down")), av: AntivirusPolicy(unavailable: .quarantine("Virus")), outbreak: nil)
        guard case .quarantine(let tickets) = await q.run(Self.input()).disposition else { Issue.record("not quarantined"); return }
        #expect(tickets.map(\.quarantine) == ["Virus"])
    }

    @Test func oversizedMessagesAreUnscannableWithoutAskingTheEngine() async throws {
        let engine = FixedEngine(.clean)
        let p = try pipeline(engine: engine, av: AntivirusPolicy(maxScanBytes: 100), outbreak: nil)
        guard case .quarantine = await p.run(Self.input()).disposition else { Issue.record("not held"); return }
        #expect(engine.bodies.isEmpty)
    }

    @Test func outbreakThresholdAndRetentionByThreatLevel() async throws {
        let p = try pipeline()
        let outcome = await p.run(Self.input())
        guard case .quarantine(let tickets) = outcome.disposition else { Issue.record("\(outcome.disposition)"); return }
        #expect(tickets.count == 1)
        #expect(tickets[0].quarantine == "Outbreak")
        #expect(tickets[0].reason == QuarantineReason(kind: .outbreak, detail: "OUTB-4", threatLevel: 4))
        #expect(tickets[0].retentionSeconds == 12 * 3600)
        #expect(tickets[0].resumeAt == .outbreak)
        #expect(outcome.events.contains("Outbreak Filters: verdict positive, threat level 4, rule OUTB-4"))
        // Below the threshold: logged positive, delivered.
        let low = try pipeline(outbreak: OutbreakPolicy(threshold: 5))
        let lowOutcome = await low.run(Self.input())
        #expect(lowOutcome.disposition == .deliver)
        #expect(lowOutcome.events.contains("Outbreak Filters: verdict positive, threat level 4, rule OUTB-4"))
    }

    @Test func contentFiltersComeFromTheFirstMatchingPolicy() async throws {
        let partners = MailPolicy(name: "Partners", senders: [try Pattern("@partner\\.example$")],
                                  contentFilters: try FilterSet.parse(#"p: if (true) { quarantine("Policy"); }"#), outbreak: false)
        let everyone = MailPolicy(name: "DEFAULT", contentFilters: try FilterSet.parse(""), outbreak: false)
        let p = try pipeline(policies: [partners, everyone])
        let partner = await p.run(Self.input(from: "x@partner.example"))
        guard case .quarantine(let tickets) = partner.disposition else { Issue.record("\(partner.disposition)"); return }
        #expect(tickets[0].stage == .contentFilters && tickets[0].resumeAt == .outbreak)
        #expect(tickets[0].reason.description == "content filter:p")
        #expect(partner.policy == "Partners")
        let other = await p.run(Self.input())
        #expect(other.disposition == .deliver)
        #expect(other.policy == "DEFAULT")
    }

    @Test func readsTheBodyOnlyWhenSomeStageLooksAtIt() throws {
        #expect(!(try pipeline(engine: nil, outbreak: nil)).readsBody(from: .messageFilters))
        #expect(!(try pipeline(engine: nil, rules: .empty)).readsBody(from: .messageFilters))
        #expect(try pipeline(#"a: if (true) { drop(); }"#, engine: nil, outbreak: nil).readsBody(from: .messageFilters))
        #expect(!(try pipeline(#"a: if (true) { drop(); }"#, engine: nil, outbreak: nil)).readsBody(from: .antivirus))
        #expect(try pipeline(outbreak: nil).readsBody(from: .outbreak), "an outbreak release is rescanned by anti-virus")
        #expect(try pipeline(engine: nil).readsBody(from: .outbreak))
    }
}
