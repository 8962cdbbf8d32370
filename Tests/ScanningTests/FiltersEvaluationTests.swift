import Testing
@testable import Scanning

/// Conditions against `FilterFixtures.typical`: from alice@partner.example to
/// bob@ and carol@example.com, client 192.0.2.25 in sender group RELAYLIST on
/// listener IncomingMail, subject "Quarterly numbers", X-Spam-Flag: NO, a text
/// and an HTML body, numbers.xlsx (48213 bytes) and logo.png (image/png, 5120
/// bytes), 90240 bytes in all.
@Suite struct FiltersEvaluationTests {
    @Test(arguments: [
        // subject
        ("subject == 'Quarterly'", true),
        ("subject == '^quarterly'", false),
        ("subject == '(?i)^quarterly'", true),
        ("subject == \"numbers$\"", true),
        ("subject != 'invoice'", true),
        ("subject == ''", true),
        ("subject != 'numbers$'", false),
        // header
        ("header(\"X-Spam-Flag\")", true),
        ("header(\"x-spam-flag\")", true),
        ("header(\"X-Virus\")", false),
        ("header(\"X-Spam-Flag\") == '^NO$'", true),
        ("header(\"X-Spam-Flag\") == '(?i)^yes$'", false),
        ("header(\"X-Spam-Flag\") != '(?i)^yes$'", true),
        ("header(\"X-Virus\") != 'x'", true),
        ("header(\"to\") == 'carol@'", true),
        // bodies
        ("body-contains('quarterly numbers')", true),
        ("body-contains('(?i)CONFIDENTIAL')", false),
        ("body-contains('<html>')", true),
        ("only-body-contains('<html>')", false),
        ("only-body-contains('(?i)regards')", true),
        // attachments
        ("attachment-filename == '(?i)\\\\.XLSX$'", true),
        ("attachment-filename == '(?i)\\\\.(exe|scr|js)$'", false),
        ("attachment-filename != '\\\\.exe$'", true),
        ("attachment-filename != '\\\\.png$'", false),
        ("attachment-type == '^image/'", true),
        ("attachment-type == 'application/x-msdownload'", false),
        ("attachment-size > 40K", true),
        ("attachment-size > 50K", false),
        ("attachment-size < 6K", true),
        ("attachment-size == 5120", true),
        ("attachment-size != 5120", false),
        ("attachment-size >= 48213", true),
        ("attachment-size <= 5119", false),
        // envelope and session
        ("mail-from == '@partner\\\\.example$'", true),
        ("mail-from == '@example\\\\.com$'", false),
        ("rcpt-to == '^carol@'", true),
        ("rcpt-to == '^dave@'", false),
        ("rcpt-to != '^dave@'", true),
        ("rcpt-to != '@example\\\\.com$'", false),
        ("remote-ip == '192.0.2.25'", true),
        ("remote-ip == '192.0.2.2'", false),
        ("remote-ip == '192.0.2.0/24'", true),
        ("remote-ip == '192.0.2.0/30'", false),
        ("remote-ip == '10.0.0.0/8'", false),
        ("remote-ip == '0.0.0.0/0'", true),
        ("remote-ip == '^192\\\\.0\\\\.2\\\\.'", true),
        ("remote-ip != '192.0.2.0/24'", false),
        ("sendergroup == '^RELAYLIST$'", true),
        ("sendergroup == 'BLOCKED'", false),
        ("recv-listener == '^IncomingMail$'", true),
        ("recv-listener == 'Outgoing'", false),
        // sizes: 90240 bytes
        ("body-size > 80K", true),
        ("body-size > 100K", false),
        ("body-size == 90240", true),
        ("body-size != 90240", false),
        ("body-size >= 90240", true),
        ("body-size < 90240", false),
        ("body-size <= 90240", true),
        // flags and combinations
        ("encrypted", false),
        ("malformed", false),
        ("true", true),
        ("not encrypted", true),
        ("subject == 'Quarterly' and attachment-type == '^image/'", true),
        ("(encrypted or malformed) and true", false),
        ("encrypted or malformed or body-contains('ten')", true),
    ])
    func conditionOnTypicalMessage(condition: String, expected: Bool) throws {
        #expect(try FilterFixtures.holds(condition) == expected)
    }

    @Test func missingValues() throws {
        var facts = FilterFixtures.typical
        facts.subject = nil
        facts.senderGroup = nil
        facts.mailFrom = ""
        facts.attachments = [AttachmentFacts(filename: nil, contentType: "application/octet-stream", size: 0)]
        #expect(try FilterFixtures.holds("subject == '^$'", facts))
        #expect(try !FilterFixtures.holds("subject == 'Quarterly'", facts))
        #expect(try FilterFixtures.holds("subject != 'Quarterly'", facts))
        #expect(try !FilterFixtures.holds("sendergroup == '.'", facts))
        #expect(try FilterFixtures.holds("mail-from == '^$'", facts))
        #expect(try !FilterFixtures.holds("attachment-filename == ''", facts))
        #expect(try FilterFixtures.holds("attachment-filename != 'x'", facts))
        #expect(try FilterFixtures.holds("attachment-size == 0", facts))

        facts.attachments = []
        facts.textBodies = []
        #expect(try !FilterFixtures.holds("attachment-size >= 0", facts))
        #expect(try FilterFixtures.holds("attachment-size != 0", facts))
        #expect(try !FilterFixtures.holds("attachment-type == ''", facts))
        #expect(try !FilterFixtures.holds("body-contains('')", facts))
        #expect(try !FilterFixtures.holds("only-body-contains('')", facts))
    }

    @Test func flags() throws {
        var facts = FilterFixtures.typical
        facts.isEncrypted = true
        facts.isMalformed = true
        #expect(try FilterFixtures.holds("encrypted and malformed", facts))
    }

    @Test(arguments: [
        ("2001:db8::25", "remote-ip == '2001:db8::/32'", true),
        ("2001:db8::25", "remote-ip == '2001:DB8:0::25'", true),
        ("2001:db8::25", "remote-ip == '2001:db8::26'", false),
        ("2001:db8::25", "remote-ip == '10.0.0.0/8'", false),
        ("[2001:db8::25]", "remote-ip == '2001:db8::25'", true),
        ("fe80::1%eth0", "remote-ip == 'fe80::/10'", true),
        ("::ffff:10.1.2.3", "remote-ip == '10.0.0.0/8'", true),
        ("::ffff:10.1.2.3", "remote-ip == '10.1.2.3'", true),
        ("::ffff:10.1.2.3", "remote-ip == '::ffff:0:0/96'", true),
        ("10.1.2.3", "remote-ip == '::ffff:10.1.2.3'", true),
        ("10.1.2.3", "remote-ip == '::ffff:0:0/96'", false),
        ("unknown", "remote-ip == '0.0.0.0/0'", false),
        ("unknown", "remote-ip == '^unknown$'", true),
        ("10.1.2.30", "remote-ip == '10.1.2.3'", false),
    ])
    func remoteAddresses(address: String, condition: String, expected: Bool) throws {
        var facts = FilterFixtures.typical
        facts.remoteIP = address
        #expect(try FilterFixtures.holds(condition, facts) == expected)
    }

    @Test func caseInsensitiveBeyondASCII() throws {
        var facts = FilterFixtures.typical
        facts.subject = "ÜBER ALLES"
        #expect(try FilterFixtures.holds("subject == '(?i)über'", facts))
        #expect(try !FilterFixtures.holds("subject == 'über'", facts))
        facts.textBodies = ["Kelvin: 5 \u{212A}"]  // KELVIN SIGN folds to k
        #expect(try FilterFixtures.holds("body-contains('(?i)5 k')", facts))
    }

    // MARK: - Actions and the semantics of a run

    @Test func quarantinesAccumulateOncePerNameWithTheFirstFilterAsReason() throws {
        let set = try FilterSet.parse("""
            a: if true { quarantine("Policy"); }
            b: if true { quarantine("Virus"); quarantine("Policy"); }
            c: if not true { quarantine("Outbreak"); }
            d: if true { duplicate-quarantine("Archive"); duplicate-quarantine("Archive"); }
            e: if true { duplicate-quarantine("Legal"); quarantine("Virus"); }
            """)
        let result = set.evaluate(FilterFixtures.typical)
        #expect(result.quarantines == [.init(name: "Policy", filter: "a"), .init(name: "Virus", filter: "b")])
        #expect(result.duplicateQuarantines == [.init(name: "Archive", filter: "d"), .init(name: "Legal", filter: "e")])
        #expect(result.final == nil)
        #expect(result.stoppedBy == nil)
        #expect(result.matched == ["a", "b", "d", "e"])
    }

    @Test(arguments: ["drop", "bounce"])
    func dropAndBounceAreFinalAndDiscardQuarantineFlags(action: String) throws {
        let set = try FilterSet.parse("""
            a: if true { quarantine("Policy"); duplicate-quarantine("Archive"); insert-header("X-A", "1"); notify("admin@example.com"); }
            b: if subject == 'Quarterly' { log-entry("ending"); \(action)(); }
            c: if true { quarantine("Virus"); }
            """)
        let result = set.evaluate(FilterFixtures.typical)
        #expect(result.final == (action == "drop" ? .drop(filter: "b") : .bounce(filter: "b")))
        #expect(result.final?.filter == "b")
        #expect(result.quarantines == [])
        #expect(result.duplicateQuarantines == [.init(name: "Archive", filter: "a")])
        #expect(result.matched == ["a", "b"])
        #expect(result.logEntries == [.init(text: "ending", filter: "b")])
        #expect(result.notifications == [.init(recipient: "admin@example.com", subject: nil, filter: "a")])
        #expect(result.headerInsertions == [.init(name: "X-A", value: "1")])
    }

    @Test(arguments: ["deliver", "skip-filters"])
    func deliverAndSkipFiltersStopLaterFiltersButKeepFlags(action: String) throws {
        let set = try FilterSet.parse("""
            a: if true { quarantine("Policy"); }
            b: if mail-from == '@partner\\\\.example$' { insert-header("X-Partner", "yes"); \(action)(); }
            c: if true { drop(); }
            """)
        let result = set.evaluate(FilterFixtures.typical)
        #expect(result.stoppedBy == "b")
        #expect(result.final == nil)
        #expect(result.quarantines == [.init(name: "Policy", filter: "a")])
        #expect(result.matched == ["a", "b"])
        #expect(result.headerInsertions == [.init(name: "X-Partner", value: "yes")])
    }

    @Test func elseBranchRunsWhenTheConditionIsFalse() throws {
        let set = try FilterSet.parse("""
            internal: if remote-ip == '10.0.0.0/8' { log-entry("internal"); } else { insert-header("X-External", "yes"); }.
            partner: if mail-from == 'partner' { log-entry("partner"); } else { log-entry("stranger"); }
            """)
        let result = set.evaluate(FilterFixtures.typical)
        #expect(result.matched == ["partner"])
        #expect(result.headerInsertions == [.init(name: "X-External", value: "yes")])
        #expect(result.logEntries == [.init(text: "partner", filter: "partner")])
    }

    @Test func headerEditsApplyInTheOrderWritten() throws {
        let set = try FilterSet.parse("""
            a: if true { insert-header("X-Tag", "one"); strip-header("x-tag"); insert-header("X-Tag", "two"); }
            b: if true { strip-header("X-Spam-Flag"); strip-header("X-SPAM-FLAG"); insert-header("X-Spam-Flag", "checked"); }
            c: if true { insert-header("X-Other", "kept"); }
            """)
        let result = set.evaluate(FilterFixtures.typical)
        // Strip from the received headers first, then append the insertions: the order written.
        #expect(result.headerStrips == ["x-tag", "X-Spam-Flag"])
        #expect(result.headerInsertions == [
            .init(name: "X-Tag", value: "two"), .init(name: "X-Spam-Flag", value: "checked"), .init(name: "X-Other", value: "kept"),
        ])
    }

    @Test func recipientsNotificationsAndLogEntriesAccumulate() throws {
        let set = try FilterSet.parse("""
            a: if true { alt-rcpt-to("security@example.com"); notify("admin@example.com", "Policy hit"); log-entry("a ran"); }
            b: if true { alt-rcpt-to("legal@example.com"); alt-rcpt-to("security@example.com"); notify("soc@example.com"); log-entry("b ran"); }
            """)
        let result = set.evaluate(FilterFixtures.typical)
        #expect(result.alternateRecipients == ["security@example.com", "legal@example.com"])
        #expect(result.notifications == [
            .init(recipient: "admin@example.com", subject: "Policy hit", filter: "a"),
            .init(recipient: "soc@example.com", subject: nil, filter: "b"),
        ])
        #expect(result.logEntries == [.init(text: "a ran", filter: "a"), .init(text: "b ran", filter: "b")])
    }

    @Test func designBriefExample() throws {
        let set = try FilterSet.parse(FiltersParserTests.briefExample, allowedQuarantines: ["Policy"])

        var exe = FilterFixtures.typical
        exe.attachments.append(AttachmentFacts(filename: "invoice.pdf.EXE", contentType: "application/x-msdownload", size: 70_000))
        let held = set.evaluate(exe)
        #expect(held.quarantines == [.init(name: "Policy", filter: "block_exe")])
        #expect(held.matched == ["block_exe", "tag_partner"])
        #expect(held.stoppedBy == "tag_partner")
        #expect(held.headerInsertions == [.init(name: "X-Partner", value: "yes")])

        exe.bodySize = 11 * 1024 * 1024
        let bounced = set.evaluate(exe)
        #expect(bounced.final == .bounce(filter: "big_mail"))
        #expect(bounced.quarantines == [])
        #expect(bounced.matched == ["block_exe", "big_mail"])

        var stranger = FilterFixtures.typical
        stranger.mailFrom = "eve@elsewhere.example"
        #expect(set.evaluate(stranger) == FilterResult())
    }

    // MARK: - Laziness

    @Test func bodiesAreReadOnlyWhenABodyConditionIsReached() throws {
        func bodyReads(_ text: String) throws -> Int {
            var reads = 0
            _ = try FilterSet.parse(text).evaluate(FilterFixtures.typical, bodyReads: &reads)
            return reads
        }
        #expect(try bodyReads("t: if subject == 'x' { }") == 0)
        #expect(try bodyReads("t: if mail-from == 'nobody' and body-contains('x') { }") == 0)
        // Written body first: still not read, cheap operands go first.
        #expect(try bodyReads("t: if body-contains('x') and mail-from == 'nobody' { }") == 0)
        #expect(try bodyReads("t: if only-body-contains('x') or mail-from == 'partner' { }") == 0)
        #expect(try bodyReads("t: if body-contains('x') and mail-from == 'partner' { }") == 1)
        #expect(try bodyReads("t: if not (encrypted or body-contains('x')) { }") == 1)
        // Filters after a final action are not evaluated at all.
        #expect(try bodyReads("a: if true { drop(); }\nb: if body-contains('x') { }") == 0)
        #expect(try bodyReads("a: if true { skip-filters(); }\nb: if body-contains('x') { }") == 0)
    }

    @Test func needsTextBodies() throws {
        #expect(try !FilterSet.parse("t: if subject == 'x' { }").needsTextBodies)
        #expect(try FilterSet.parse("t: if subject == 'x' or not only-body-contains('y') { }").needsTextBodies)
        #expect(!FilterSet.empty.needsTextBodies)
    }

    @Test func concurrentEvaluationsAgree() async throws {
        let set = try FilterSet.parse("""
            a: if body-contains('(?i)\\\\bregards\\\\b') and attachment-filename == '(?i)\\\\.xlsx$' { quarantine("Policy"); }
            b: if subject == '(?i)quarterly' or remote-ip == '10.0.0.0/8' { insert-header("X-Q", "1"); }
            """)
        let facts = FilterFixtures.typical
        let expected = set.evaluate(facts)
        #expect(expected.matched == ["a", "b"])
        let results = await withTaskGroup(of: [FilterResult].self) { group in
            for _ in 0..<8 {
                group.addTask { (0..<200).map { _ in set.evaluate(facts) } }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(results.count == 1600)
        #expect(results.allSatisfy { $0 == expected })
    }
}
