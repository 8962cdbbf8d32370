import Testing
@testable import Scanning

/// Seeded fuzzing: whatever the text, the parser returns filters or one error
/// whose line and column lie inside the text; it never crashes or hangs.
@Suite struct FiltersFuzzTests {
    static let corpus: [String] = [
        FiltersParserTests.briefExample,
        #"""
        # Every condition and action.
        all_conditions: if (subject == '(?i)invoice' or header("X-Spam-Flag") == '^YES$' or header('X-Virus'))
            and not (body-contains('(?i)confidential') and only-body-contains("unsubscribe"))
            and (attachment-filename != '\\.pdf$' or attachment-type == '^image/' or attachment-size >= 5M)
            and mail-from == '@example\\.com$' and rcpt-to != '^postmaster@'
            and (remote-ip == '10.0.0.0/8' or remote-ip == '2001:db8::/32' or remote-ip == '192.0.2.1' or remote-ip == '^172\\.')
            and sendergroup == 'RELAYLIST' and body-size < 10M and recv-listener == 'IncomingMail'
            and not encrypted and not malformed and true {
            quarantine("Policy"); duplicate-quarantine("Virus");
            insert-header("X-Scanned", "yes"); strip-header("X-Spam-Flag");
            alt-rcpt-to("security@example.com"); notify("admin@example.com", "Policy hit"); notify("soc@example.com");
            log-entry("all conditions");
        } else {
            deliver();
        }.
        final_drop: if body-size > 1G { drop(); }
        final_skip: if true { skip-filters(); }
        """#,
        "a: if true { bounce(); }\r\nb: if (encrypted) { log-entry(\"crlf\"); }\r\n",
    ]

    static let snippets: [String] = [
        "'", "\"", "\\", "(", ")", "{", "}", ";", ",", ":", ".", "#", "\n", "\r", "\r\n", "\t", " ",
        "==", "!=", "<", ">=", "=", "!", "&&", "||", " not ", " and ", " or ", "if ", "else ", "10M", "1.5M", "7X",
        "99999999999999999999", "é", "\u{0}", "\u{201C}", "\u{FEFF}", "(?i)", "[", "*", "\\\\.", "body-contains",
        "header(\"X\")", "drop();", "quarantine(\"Policy\");", "subject == 'x'", "remote-ip == '::/200'", "x: if ",
        String(repeating: "(", count: 80), String(repeating: "not ", count: 80),
    ]

    static let vocabulary: [String] = [
        "name", "other", "x", "_y", "if", "else", "and", "or", "not", "true", "encrypted", "malformed",
        "subject", "header", "body-contains", "only-body-contains", "attachment-filename", "attachment-type",
        "attachment-size", "mail-from", "rcpt-to", "remote-ip", "sendergroup", "body-size", "recv-listener",
        "quarantine", "duplicate-quarantine", "drop", "bounce", "deliver", "skip-filters", "insert-header",
        "strip-header", "alt-rcpt-to", "notify", "log-entry",
        "(", ")", "{", "}", ";", ",", ":", ".", "==", "!=", "<", "<=", ">", ">=",
        "'a'", "'(?i)\\\\.exe$'", "'('", "\"Policy\"", "\"a@b.example\"", "\"X-A\"", "'10.0.0.0/8'", "''", "'unterminated",
        "10", "10K", "5M", "1G", "3Q", "# comment\n", "@", "\u{2018}",
    ]

    /// Checks the outcome of parsing `text` and returns whether it parsed.
    @discardableResult
    static func check(_ text: String) -> Bool {
        let outcome = Result { () throws(FilterSyntaxError) -> FilterSet in try FilterSet.parse(text, allowedQuarantines: ["Policy", "Virus"]) }
        switch outcome {
        case .success(let set):
            #expect(Set(set.names).count == set.names.count)
            _ = set.evaluate(FilterFixtures.typical)
            _ = set.evaluate(MessageFacts())
            return true
        case .failure(let error):
            let lines = FilterFixtures.lineLengths(text)
            let inside = (1...lines.count).contains(error.line) && (1...(lines[error.line - 1] + 1)).contains(error.column)
            #expect(inside, "error \(error) outside \(text.debugDescription)")
            #expect(!error.message.isEmpty)
            #expect(error.description.hasPrefix(error.filter.map { "filter \"\($0)\", " } ?? "line "))
            // The same text gives the same error.
            #expect(FilterFixtures.syntaxError(text, allowedQuarantines: ["Policy", "Virus"]) == error)
            return false
        }
    }

    @Test func corpusParses() {
        for text in Self.corpus {
            #expect(Self.check(text), "\(text)")
        }
    }

    @Test func randomMutationsOfValidFilters() {
        var random = SeededGenerator(seed: 20261123)
        var parsed = 0
        for _ in 0..<5000 {
            var scalars = Array(Self.corpus.randomElement(using: &random)!.unicodeScalars)
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let at = Int.random(in: 0...scalars.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0 where !scalars.isEmpty:
                    let start = min(at, scalars.count - 1)
                    scalars.removeSubrange(start..<min(scalars.count, start + Int.random(in: 1...10, using: &random)))
                case 1 where !scalars.isEmpty:
                    let start = Int.random(in: 0..<scalars.count, using: &random)
                    let piece = scalars[start..<min(scalars.count, start + Int.random(in: 1...30, using: &random))]
                    scalars.insert(contentsOf: piece, at: at)
                case 2 where at < scalars.count:
                    scalars[at] = Unicode.Scalar(UInt8.random(in: 0...127, using: &random))
                default:
                    scalars.insert(contentsOf: Self.snippets.randomElement(using: &random)!.unicodeScalars, at: at)
                }
            }
            var text = ""
            text.unicodeScalars.append(contentsOf: scalars)
            if Self.check(text) { parsed += 1 }
        }
        // Both outcomes are exercised.
        #expect(parsed > 100)
        #expect(parsed < 4900)
    }

    @Test func randomTokenSequences() {
        var random = SeededGenerator(seed: 42)
        let separators = [" ", " ", " ", "", "\n", "\t", "\r\n"]
        for _ in 0..<5000 {
            var text = ""
            if Bool.random(using: &random) { text = "f: if " }
            for _ in 0..<Int.random(in: 1...40, using: &random) {
                text += Self.vocabulary.randomElement(using: &random)! + separators.randomElement(using: &random)!
            }
            Self.check(text)
        }
    }

    @Test func randomBytes() {
        var random = SeededGenerator(seed: 7)
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0...60, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            Self.check(String(decoding: bytes, as: UTF8.self))
        }
    }
}
