import Testing
@testable import Scanning

@Suite struct OutbreakRulesTests {
    static let file = """
        version: 2026112301
        rules:
          - id: OUTB-17
            threat_level: 4
            description: ISO images posing as invoices
            attachment_name: '(?i)\\.(iso|img)$'
          - id: OUTB-18
            threat_level: 5
            attachment_sha256: [275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F]
          - id: OUTB-19
            threat_level: 2
            url: '(?i)^https?://[^/]*\\.invoice-portal\\.example/'
          - id: OUTB-20
            threat_level: 3
            attachment_name: '\\.zip$'
            attachment_type: '^application/zip$'
        """

    static func facts(_ attachments: [(String?, String, String)] = [], urls: [String] = []) -> OutbreakFacts {
        OutbreakFacts(attachments: attachments.map { .init(filename: $0.0, contentType: $0.1, sha256: $0.2) }, urls: urls)
    }

    @Test func parsesAndMatchesMostDangerousFirst() throws {
        let rules = try OutbreakRules.parse(Self.file, source: "rules.yaml")
        #expect(rules.version == "2026112301")
        #expect(rules.rules.map(\.id) == ["OUTB-17", "OUTB-18", "OUTB-19", "OUTB-20"])
        let hash = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
        let both = rules.matches(Self.facts([("Invoice.ISO", "application/octet-stream", hash)]))
        #expect(both.map(\.id) == ["OUTB-18", "OUTB-17"])
        #expect(rules.matches(Self.facts(urls: ["https://pay.invoice-portal.example/x"])).map(\.id) == ["OUTB-19"])
        #expect(rules.matches(Self.facts(urls: ["https://invoice-portal.example.org/"])).isEmpty)
        // Every criterion of a rule must match: name alone is not enough for OUTB-20.
        #expect(rules.matches(Self.facts([("a.zip", "application/octet-stream", "")])).isEmpty)
        #expect(rules.matches(Self.facts([("a.zip", "application/zip", "")])).map(\.id) == ["OUTB-20"])
        #expect(rules.matches(Self.facts([(nil, "text/plain", "")])).isEmpty)
    }

    @Test(arguments: [
        ("rules: []", "r.yaml: `version` is missing; give the file a version such as 2026112301"),
        ("version: 1\nrules:\n  - id: A\n    threat_level: 6\n    url: x", "r.yaml: rule A: `threat_level` must be a number from 1 to 5"),
        ("version: 1\nrules:\n  - threat_level: 3\n    url: x", "r.yaml: rule 1: `id` is missing"),
        ("version: 1\nrules:\n  - id: A\n    threat_level: 3", "r.yaml: rule A: has no criterion; give at least one of attachment_name, attachment_type, attachment_sha256, url"),
        ("version: 1\nrules:\n  - id: A\n    threat_level: 3\n    url: '('", #"r.yaml: rule A: `url`: '(' is not a valid regular expression: a '(' is not closed by ')' (a literal parenthesis is \( in a regex, written '\\(' in a filter)"#),
        ("version: 1\nrules:\n  - id: A\n    threat_level: 3\n    attachment_sha256: [abc]", "r.yaml: rule A: `attachment_sha256` entries must be 64 hex digits, found `abc`"),
        ("version: 1\nrules:\n  - id: A\n    threat_level: 3\n    urls: x", "r.yaml: rule A: unknown field `urls`; known fields: attachment_name, attachment_sha256, attachment_type, description, id, threat_level, url"),
        ("version: 1\nrules:\n  - {id: A, threat_level: 3, url: x}\n  - {id: A, threat_level: 2, url: y}", "r.yaml: rule 2: id `A` is used twice; ids must be unique"),
        ("version: 1\nrule: []", "r.yaml: unknown key `rule`; a rules file has `version` and `rules`"),
    ])
    func errorsNameFileRuleAndField(text: String, message: String) {
        #expect(throws: OutbreakRulesError(message)) { try OutbreakRules.parse(text, source: "r.yaml") }
    }
}

@Suite struct AntivirusVerdictTests {
    @Test(arguments: [
        ("stream: OK\0", AntivirusVerdict.clean),
        ("stream: Eicar-Test-Signature FOUND\0", .infected(["Eicar-Test-Signature"])),
        ("stream: Heuristics.Encrypted.Zip FOUND\0", .encrypted("Heuristics.Encrypted.Zip")),
        ("stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND\0", .unscannable("Heuristics.Limits.Exceeded.MaxFileSize")),
        ("INSTREAM size limit exceeded. ERROR\0", .unscannable("INSTREAM size limit exceeded.")),
        ("stream: Can't allocate memory ERROR\0", .unavailable("clamd error: Can't allocate memory")),
        ("garbage", .unavailable("unexpected clamd reply: garbage")),
    ])
    func clamdRepliesMapToVerdicts(reply: String, verdict: AntivirusVerdict) {
        #expect(AntivirusVerdict(clamdReply: reply) == verdict)
    }

    @Test func addressesParse() {
        #expect(ClamdAddress("/var/run/clamav/clamd.ctl") == .unix(path: "/var/run/clamav/clamd.ctl"))
        #expect(ClamdAddress("unix:/tmp/c.sock") == .unix(path: "/tmp/c.sock"))
        #expect(ClamdAddress("127.0.0.1:3310") == .tcp(host: "127.0.0.1", port: 3310))
        #expect(ClamdAddress("clamd") == nil)
        #expect(ClamdAddress("host:99999") == nil)
    }
}
