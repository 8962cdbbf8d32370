import Testing
@testable import Scanning

@Suite struct FiltersPatternTests {
    // MARK: - The literal-search shortcut

    @Test(arguments: [
        // pattern, shortcut expected, subject, outcome of the literal search alone
        ("(?i)viagra|free money", true, "Get FREE Money now", FilterLiteralSearch.Outcome.match),
        ("(?i)viagra|free money", true, "Quarterly numbers", .noMatch),
        ("(?i)viagra|free money", true, "FREE MÖNEY", .undecided),  // not ASCII: ICU decides
        ("@partner\\.example$", true, "alice@partner.example", .undecided),  // found; the anchor is ICU's
        ("@partner\\.example$", true, "alice@customer.example", .noMatch),
        ("^image/", true, "application/pdf", .noMatch),
        ("confidential", true, "Strictly confidential", .match),
        ("confidential", true, "Strictly Confidential", .noMatch),
        ("(?i)\\.(exe|scr|js)$", true, "README", .noMatch),  // needs a "."
        ("(?i)\\.(exe|scr|js)$", true, "report.pdf.exe", .undecided),
        ("ab+c", true, "xxabbbc", .undecided),  // needs "a" and "c"; the longest run is used
        ("ab?c", true, "xx", .noMatch),
        ("(?i)\\bpassw(or)?d\\b", true, "Hello", .noMatch),
        ("(?i)\\bpassw(or)?d\\b", true, "PASSWD", .undecided),
        ("\\b(password|passwort)\\b", false, "", .undecided),
        ("(?-i)abc", false, "", .undecided),
        ("\\Qa.b\\E", false, "", .undecided),
        ("\\x41", false, "", .undecided),
        ("a|", false, "", .undecided),  // an empty alternative matches everywhere
        ("[^]]abc", false, "", .undecided),
    ])
    func literalSearch(pattern: String, hasShortcut: Bool, subject: String, outcome: FilterLiteralSearch.Outcome) throws {
        let search = FilterLiteralSearch(pattern: pattern)
        #expect((search != nil) == hasShortcut)
        if let search {
            #expect(search.decide(subject) == outcome)
        }
        // Whatever the shortcut says, the answer is ICU's.
        let pattern = try FilterPattern(pattern)
        let icu = try FilterPattern(pattern.source, literalShortcut: false)
        #expect(pattern.matches(subject) == icu.matches(subject))
    }

    @Test func unicodeCaseFoldingIsLeftToICU() throws {
        for (pattern, subject, expected) in [
            ("(?i)k", "\u{212A}", true),  // KELVIN SIGN
            ("(?i)s", "\u{017F}", true),  // LATIN SMALL LETTER LONG S
            ("(?i)STRASSE", "strasse", true),
            ("abc$", "xabc\n", true),  // $ before a final line break
            ("^abc", "x\nabc", false),
        ] {
            #expect(try FilterPattern(pattern).matches(subject) == expected, "\(pattern) on \(subject.debugDescription)")
        }
    }

    /// Random patterns and subjects: the shortcut never changes an answer.
    @Test func literalSearchAgreesWithICU() throws {
        var random = SeededGenerator(seed: 0x5EED_F11E)
        let words = ["abc", "Free", "money", "viagra", "exe", "ss", "ß", "über", "k", "\u{212A}", "é", " ", "-", "@", "#", "/", ":"]
        let escapes = ["\\.", "\\$", "\\(", "\\)", "\\[", "\\*", "\\+", "\\?", "\\|", "\\\\", "\\{", "\\}", "\\^", "\\ ", "\\-"]
        let opaque = ["\\d", "\\b", "\\s", "\\w", "\\n", ".", "^", "$", "[a-c]", "[^x]", "[[:alpha:]]", "[\\]a]", "[.]", "\\p{L}"]
        let quantifiers = ["?", "*", "+", "{2}", "{1,3}", "{0,}", "*?", "++", "??"]

        func atom(_ depth: Int) -> String {
            switch Int.random(in: 0..<10, using: &random) {
            case 0...3: return words.randomElement(using: &random)!
            case 4: return escapes.randomElement(using: &random)!
            case 5, 6: return opaque.randomElement(using: &random)!
            case 7 where depth < 2:
                let opening = ["(", "(?:", "(?=", "(?!", "(?i:", "(?>"].randomElement(using: &random)!
                return opening + pattern(depth + 1) + ")"
            default: return words.randomElement(using: &random)!
            }
        }
        func pattern(_ depth: Int) -> String {
            var text = ""
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                text += atom(depth)
                if Int.random(in: 0..<4, using: &random) == 0 { text += quantifiers.randomElement(using: &random)! }
                if Int.random(in: 0..<8, using: &random) == 0 { text += "|" }
            }
            return text
        }
        let pool = Array("abcxyzFREEmoneyVIAGRAexeEXE .$()[]*+?|\\{}^-@#/:\n\r\tßSSssüÜéÉk\u{212A}\u{017F}0123")

        var compared = 0
        var withShortcut = 0
        for _ in 0..<3000 {
            var source = pattern(0)
            if Bool.random(using: &random) { source = "(?i)" + source }
            guard let compiled = try? FilterPattern(source) else { continue }
            let icu = try FilterPattern(source, literalShortcut: false)
            if compiled.hasLiteralSearch { withShortcut += 1 }
            for _ in 0..<8 {
                var subject = ""
                for _ in 0..<Int.random(in: 0...6, using: &random) {
                    if Bool.random(using: &random) {
                        var word = words.randomElement(using: &random)!
                        switch Int.random(in: 0..<3, using: &random) {
                        case 0: word = word.uppercased()
                        case 1: word = word.lowercased()
                        default: break
                        }
                        subject += word
                    } else {
                        subject.append(pool.randomElement(using: &random)!)
                    }
                }
                compared += 1
                #expect(compiled.matches(subject) == icu.matches(subject), "pattern \(source.debugDescription) subject \(subject.debugDescription)")
            }
        }
        #expect(compared > 10_000)
        #expect(withShortcut > 800)
    }

    // MARK: - Addresses

    @Test(arguments: [
        ("10.1.2.3", "10.1.2.3"),
        ("0.0.0.0", "0.0.0.0"),
        ("255.255.255.255", "255.255.255.255"),
        ("::", "::"),
        ("::1", "::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
        ("::ffff:10.1.2.3", "::ffff:a01:203"),
        ("[::1]", "::1"),
        ("fe80::1%eth0", "fe80::1"),
    ])
    func validAddresses(text: String, canonical: String) throws {
        let address = try #require(FilterIPAddress(text))
        #expect(address.description == canonical)
    }

    @Test(arguments: ["", "10.1.2", "10.1.2.3.4", "256.1.1.1", "010.1.1.1", "1.2.3.-4", "a.b.c.d", ":::", "1::2::3",
                      "1:2:3:4:5:6:7:8:9", "12345::", "::1.2.3", "1.2.3.4::", "g::1", ":1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8::"])
    func invalidAddresses(text: String) {
        #expect(FilterIPAddress(text) == nil)
    }

    @Test func networks() throws {
        let network = try #require(FilterIPAddress("10.0.0.0"))
        #expect(try #require(FilterIPAddress("10.255.1.2")).isInside(network, prefixLength: 8))
        #expect(try !#require(FilterIPAddress("11.0.0.1")).isInside(network, prefixLength: 8))
        #expect(try #require(FilterIPAddress("::ffff:10.9.9.9")).isInside(network, prefixLength: 8))
        #expect(try !#require(FilterIPAddress("::a00:1")).isInside(network, prefixLength: 8))
        let v6 = try #require(FilterIPAddress("2001:db8::"))
        #expect(try #require(FilterIPAddress("2001:db8:ffff::1")).isInside(v6, prefixLength: 32))
        #expect(try !#require(FilterIPAddress("2001:db9::1")).isInside(v6, prefixLength: 32))
        #expect(try #require(FilterIPAddress("2001:db8::1")).isInside(try #require(FilterIPAddress("2001:db8::1")), prefixLength: 128))
        #expect(try #require(FilterIPAddress("10.1.2.3")).masked(to: 12).description == "10.0.0.0")
        #expect(try #require(FilterIPAddress("2001:db8:abcd:1234::1")).masked(to: 40).description == "2001:db8:ab00::")
        #expect(try #require(FilterIPAddress("2001:db8:abcd:1234:5678::1")).masked(to: 72).description == "2001:db8:abcd:1234:5600::")
    }
}
