import Testing
@testable import MailMessage

@Suite struct HeaderRewriterTests {
    static let original = """
        Received: from a by b
        X-Spam-Flag: YES
        Subject: hello
        x-spam-flag: also
          folded continuation
        \tsecond continuation
        To: bob@example.net

        X-Spam-Flag: this line is body text and stays
        body

        """

    @Test(arguments: LineEnding.allCases)
    func insertsAtTheTopAndStripsAllOccurrencesWithContinuations(_ ending: LineEnding) throws {
        let raw = Self.original.bytes(ending)
        let out = try HeaderRewriter.rewrite(raw, inserting: [("X-Lazaret-Quarantine", "Policy"), ("X-Lazaret-MID", "42")],
                                             stripping: ["x-SPAM-flag"])
        let newline = ending == .crlf ? "\r\n" : "\n"
        let expected = """
            X-Lazaret-Quarantine: Policy
            X-Lazaret-MID: 42
            Received: from a by b
            Subject: hello
            To: bob@example.net

            X-Spam-Flag: this line is body text and stays
            body

            """.replacing("\n", with: newline)
        #expect(text(out) == expected)

        let message = MailMessage(parsing: out)
        #expect(message.headers.map(\.name) == ["X-Lazaret-Quarantine", "X-Lazaret-MID", "Received", "Subject", "To"])
        #expect(message.headers.values("x-spam-flag") == [])
        #expect(message.root.rawBody == MailMessage(parsing: raw).root.rawBody)
    }

    @Test func nothingToDoGivesTheSameBytes() throws {
        let raw = Fixtures.nested.bytes()
        #expect(try HeaderRewriter.rewrite(raw, inserting: [], stripping: ["X-Not-There"]) == raw)
    }

    @Test func bodyIsNeverTouched() throws {
        // A body with bare CR, NUL and 8-bit bytes comes out identical.
        let body: [UInt8] = [0x00, 0x0D, 0xFF, 0x0A, 0x2E, 0x0D, 0x0A, 0x80]
        let raw = Array("Subject: s\r\nX-Old: 1\r\n\r\n".utf8) + body
        let out = try HeaderRewriter.rewrite(raw, inserting: [("X-New", "2")], stripping: ["X-Old"])
        #expect(out == Array("X-New: 2\r\nSubject: s\r\n\r\n".utf8) + body)
    }

    @Test func longValuesAreFoldedAndUnfoldBack() throws {
        let value = (0..<40).map { "word\($0)" }.joined(separator: " ")
        let out = try HeaderRewriter.rewrite(Array("Subject: s\r\n\r\nbody".utf8),
                                             inserting: [("X-Long", value), ("X-Unbreakable", String(repeating: "u", count: 120))],
                                             stripping: [])
        let lines = text(out).split(separator: "\r\n", omittingEmptySubsequences: false)
        let headerLines = lines.prefix { !$0.isEmpty }
        #expect(headerLines.count > 4)
        #expect(headerLines.filter { !$0.contains("uuuu") }.allSatisfy { $0.utf8.count <= 78 })
        #expect(headerLines.dropFirst().prefix { $0.hasPrefix(" ") }.count >= 3, "continuation lines start with white space")
        let message = MailMessage(parsing: out)
        #expect(message.headers["x-long"] == value)
        #expect(message.headers["x-unbreakable"]?.count == 120)
        #expect(message.textBodies == ["body"])
    }

    @Test(arguments: [
        ("X-Bad", "value\r\nBcc: victim@example.com", HeaderRewriteError.Code.invalidFieldValue),
        ("X-Bad", "line\nfeed", .invalidFieldValue),
        ("X-Bad", "nul\u{0}byte", .invalidFieldValue),
        ("X-Bad", "bare\rCR", .invalidFieldValue),
        ("Bad Name", "v", .invalidFieldName),
        ("Bad:Name", "v", .invalidFieldName),
        ("", "v", .invalidFieldName),
        ("X-Ünicode", "v", .invalidFieldName),
    ])
    func refusesInjection(_ name: String, _ value: String, _ code: HeaderRewriteError.Code) {
        let raw = Array("Subject: s\r\n\r\nbody".utf8)
        #expect(throws: HeaderRewriteError(code: code, reason: "")) {
            try HeaderRewriter.rewrite(raw, inserting: [(name, value)], stripping: [])
        }
    }

    @Test func refusesAnInvalidStripName() {
        #expect(throws: HeaderRewriteError(code: .invalidFieldName, reason: "")) {
            try HeaderRewriter.rewrite(Array("Subject: s\r\n\r\n".utf8), inserting: [], stripping: ["Sub ject"])
        }
    }

    @Test func messageWithoutHeadersOrSeparator() throws {
        let bodyOnly = Array("\r\njust a body\r\n".utf8)
        let out = try HeaderRewriter.rewrite(bodyOnly, inserting: [("X-A", "1")], stripping: ["x-a"])
        #expect(text(out) == "X-A: 1\r\n\r\njust a body\r\n")

        let headersOnly = Array("Subject: s\r\nX-A: old".utf8)
        let out2 = try HeaderRewriter.rewrite(headersOnly, inserting: [("X-A", "new")], stripping: ["x-a"])
        #expect(text(out2) == "X-A: new\r\nSubject: s\r\n")

        // An orphan continuation line at the top would fold into the inserted field: dropped.
        let orphan = Array("  orphan\r\nSubject: s\r\n\r\nb".utf8)
        let out3 = try HeaderRewriter.rewrite(orphan, inserting: [("X-A", "1")], stripping: [])
        #expect(MailMessage(parsing: out3).headers["x-a"] == "1")
        #expect(text(out3) == "X-A: 1\r\nSubject: s\r\n\r\nb")
    }
}
