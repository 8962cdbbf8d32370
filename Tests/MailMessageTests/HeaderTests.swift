import Testing
@testable import MailMessage

@Suite struct HeaderTests {
    @Test(arguments: LineEnding.allCases)
    func foldedFieldsAreUnfolded(_ ending: LineEnding) {
        let message = parse("""
            Subject: a long
              folded
            \tsubject
            X-Empty:
            X-Spaces:    padded value\t
            Received: from a
             by b;
             Tue, 4 Jun 2024 10:00:00 +0000

            body
            """, ending)
        #expect(message.subject == "a long  folded\tsubject")
        #expect(message.headers.first("subject")?.rawValue == "a long  folded\tsubject")
        #expect(message.headers["x-empty"] == "")
        #expect(message.headers["X-SPACES"] == "padded value")
        #expect(message.headers["received"] == "from a by b; Tue, 4 Jun 2024 10:00:00 +0000")
        #expect(message.headers.count == 4)
        #expect(message.defects == [])
        #expect(text(message.root.rawBody) == "body")
    }

    @Test func duplicateFieldsKeepTheirOrder() {
        let message = parse("""
            Received: from first
            Subject: one
            RECEIVED: from second
            received: from third
            Subject: two

            """)
        #expect(message.headers.values("Received") == ["from first", "from second", "from third"])
        #expect(message.headers["received"] == "from first")
        #expect(message.headers.count(of: "subject") == 2)
        #expect(message.subject == "one")
        #expect(message.headers.map(\.name) == ["Received", "Subject", "RECEIVED", "received", "Subject"])
        #expect(message.headers.values("x-missing") == [])
        #expect(message.headers["x-missing"] == nil)
    }

    @Test(arguments: [
        ("=?UTF-8?B?UmVwb3J0IMOcYmVyc2ljaHQ=?=", "Report Übersicht"),
        ("=?iso-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=", "Grüße aus Köln"),
        ("Re: =?utf-8?q?Gr=C3=BC?= =?utf-8?q?=C3=9Fe?= und mehr", "Re: Grüße und mehr"),
        ("=?UTF-8?B?ww==?= =?UTF-8?B?nGJlcg==?=", "Über"),  // one character split across two words
        ("=?utf-8*de?Q?Stra=C3=9Fe?=", "Straße"),  // RFC 2231 §5 language
        ("=?windows-1252?Q?=80_100?=", "€ 100"),
        ("plain =? not encoded ?= text", "plain =? not encoded ?= text"),
        ("=?utf-8?x?bad?=", "=?utf-8?x?bad?="),
        ("a =?utf-8?q?b?= c", "a b c"),
        ("=?utf-8?q?a?==?utf-8?q?b?=", "ab"),  // glued words, as broken mailers send
        ("=?unknown-charset?q?ok?=", "ok"),
    ])
    func encodedWords(_ raw: String, _ decoded: String) {
        let message = parse("Subject: \(raw)\n\n")
        #expect(message.subject == decoded)
        #expect(message.headers.first("subject")?.rawValue == raw)
    }

    @Test func encodedWordAcrossFoldedLines() {
        let message = parse("Subject: =?utf-8?q?Gr=C3=BC?=\n =?utf-8?q?=C3=9Fe?=\n\n")
        #expect(message.subject == "Grüße")
    }

    @Test func headerSectionOverTheLimitIsCutButTheBodyIsFound() {
        var header = "Subject: kept\n"
        for index in 0..<100 { header += "X-Filler-\(index): " + String(repeating: "x", count: 60) + "\n" }
        let message = parse(header + "\nthe body", limits: .init(maxHeaderBytes: 1024))
        #expect(message.defects == [.headerTooLong])
        #expect(message.isMalformed)
        #expect(message.subject == "kept")
        #expect(message.headers.count > 5 && message.headers.count < 20)
        #expect(message.textBodies == ["the body"])
    }

    @Test func hugeHeaderWithDefaultLimits() {
        // 2 MB of header: over the 1 MB default.
        let big = "X-Big: " + String(repeating: "y", count: 2 << 20) + "\n"
        let message = parse("Subject: s\n" + big + "To: after@example.com\n\nbody")
        #expect(message.defects.contains(.headerTooLong))
        #expect(message.defects.contains(.headerLineTooLong))
        #expect(message.subject == "s")
        #expect(message.headers["x-big"] == nil)
        #expect(message.headers["to"] == nil, "fields after the limit are dropped")
        #expect(message.textBodies == ["body"])
    }

    @Test func tooManyFields() {
        let header = (0..<50).map { "X-F\($0): v\n" }.joined()
        let message = parse(header + "\nbody", limits: .init(maxHeaderFields: 30))
        #expect(message.defects == [.tooManyHeaderFields])
        #expect(message.headers.count == 30)
        #expect(message.textBodies == ["body"])
    }

    @Test func longLineIsMinor() {
        let message = parse("Subject: " + String(repeating: "z", count: 1200) + "\n\nbody")
        #expect(message.defects == [.headerLineTooLong])
        #expect(!message.isMalformed)
        #expect(message.subject?.count == 1200)
    }

    @Test func missingSeparatorStartsTheBody() {
        let message = parse("From: a@example.com\nSubject: s\nThis line is not a header\nmore\n")
        #expect(message.defects == [.missingHeaderBodySeparator])
        #expect(message.isMalformed)
        #expect(message.headers.count == 2)
        #expect(message.textBodies == ["This line is not a header\r\nmore\r\n"])
    }

    @Test func headersOnlyAndEmptyInput() {
        let headersOnly = parse("Subject: only headers")
        #expect(headersOnly.subject == "only headers")
        #expect(headersOnly.root.rawBody.isEmpty)
        #expect(headersOnly.defects == [])
        let empty = MailMessage(parsing: [])
        #expect(empty.headers.isEmpty)
        #expect(empty.leafParts.count == 1)
        #expect(empty.defects == [])
    }

    @Test func eightBitAndControlCharacters() {
        let utf8 = MailMessage(parsing: Array("Subject: Grüße\r\n\r\n".utf8))
        #expect(utf8.subject == "Grüße")
        #expect(utf8.defects == [.eightBitInHeader])
        #expect(!utf8.isMalformed)

        let latin1 = MailMessage(parsing: Array("Subject: Gr".utf8) + [0xFC, 0xDF] + Array("e\r\n\r\n".utf8))
        #expect(latin1.subject == "Grüße")

        let control = MailMessage(parsing: Array("Subject: a".utf8) + [0x00] + Array("b\r\n\r\n".utf8))
        #expect(control.defects == [.controlCharacterInHeader])
    }

    @Test func continuationWithoutFieldAndObsoleteSpaceBeforeColon() {
        let message = parse("  orphan continuation\nSubject : spaced\n\n")
        #expect(message.defects == [.invalidHeaderLine])
        #expect(message.subject == "spaced")
        #expect(message.headers.fields.first?.name == "Subject")
    }
}
