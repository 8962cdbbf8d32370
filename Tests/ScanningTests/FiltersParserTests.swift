import Testing
@testable import Scanning

@Suite struct FiltersParserTests {
    static let briefExample = #"""
        block_exe: if (attachment-filename == '(?i)\\.(exe|scr|js)$') {
            quarantine("Policy");
        }
        big_mail: if (body-size > 10M) { bounce(); }
        tag_partner: if (mail-from == '@partner\\.example$') {
            insert-header("X-Partner", "yes"); skip-filters();
        }
        """#

    @Test func emptyInputIsValid() throws {
        for text in ["", "   \n\t\r\n", "# only a comment", "# one\n  # two\n", "\u{FEFF}"] {
            let set = try FilterSet.parse(text)
            #expect(set.names == [])
            #expect(set == .empty)
            #expect(set.evaluate(FilterFixtures.typical) == FilterResult())
        }
    }

    @Test func briefExampleParses() throws {
        let set = try FilterSet.parse(Self.briefExample, allowedQuarantines: ["Policy"])
        #expect(set.names == ["block_exe", "big_mail", "tag_partner"])
        #expect(set.filters[0].actions == [.quarantine("Policy")])
        #expect(set.filters[1].actions == [.bounce])
        #expect(set.filters[2].actions == [.insertHeader(name: "X-Partner", value: "yes"), .skipFilters])
        #expect(set.filters[0].condition.description == #"attachment-filename == '(?i)\.(exe|scr|js)$'"#)
        #expect(set.filters[1].condition.description == "body-size > 10485760")
        #expect(set.filters[2].condition.description == #"mail-from == '@partner\.example$'"#)
        #expect(set.quarantineNames == ["Policy"])
        #expect(!set.needsTextBodies)
    }

    @Test func escapesInStrings() throws {
        // '\\.' and '\.' are both the regex \. ; \' and \" are quotes; other backslashes stay.
        #expect(try FilterFixtures.written(#"subject == '\\.'"#) == #"subject == '\.'"#)
        #expect(try FilterFixtures.written(#"subject == '\.'"#) == #"subject == '\.'"#)
        #expect(try FilterFixtures.written(#"subject == '\\\\'"#) == #"subject == '\\'"#)
        #expect(try FilterFixtures.written(#"subject == 'it\'s'"#) == "subject == 'it's'")
        #expect(try FilterFixtures.written(#"subject == "say \"hi\"""#) == #"subject == 'say "hi"'"#)
        #expect(try FilterFixtures.written(#"subject == '\d+\s\b'"#) == #"subject == '\d+\s\b'"#)
        // Either quote works anywhere; the position decides the meaning (regex in conditions).
        #expect(try FilterFixtures.written(#"subject == "^Re:""#) == "subject == '^Re:'")
        let set = try FilterSet.parse(#"t: if true { log-entry('it\'s "quoted"'); insert-header('X-A', "a\\b\tc"); }"#)
        #expect(set.filters[0].actions == [.logEntry(#"it's "quoted""#), .insertHeader(name: "X-A", value: "a\\b\\tc")])
    }

    @Test func sizes() throws {
        #expect(try FilterFixtures.written("body-size > 10") == "body-size > 10")
        #expect(try FilterFixtures.written("body-size >= 1K") == "body-size >= 1024")
        #expect(try FilterFixtures.written("body-size < 2k") == "body-size < 2048")
        #expect(try FilterFixtures.written("body-size <= 10M") == "body-size <= 10485760")
        #expect(try FilterFixtures.written("attachment-size == 1G") == "attachment-size == 1073741824")
        #expect(try FilterFixtures.written("attachment-size != 0") == "(not attachment-size == 0)")
        #expect(try FilterFixtures.written("body-size > 1024G") == "body-size > 1099511627776")
    }

    @Test(arguments: [
        ("encrypted or malformed and true", "(encrypted or (malformed and true))"),
        ("encrypted and malformed or true", "((encrypted and malformed) or true)"),
        ("encrypted and malformed or true and encrypted", "((encrypted and malformed) or (true and encrypted))"),
        ("not encrypted and malformed", "((not encrypted) and malformed)"),
        ("not encrypted or malformed", "((not encrypted) or malformed)"),
        ("not (encrypted and malformed)", "(not (encrypted and malformed))"),
        ("not not encrypted", "(not (not encrypted))"),
        ("(encrypted or malformed) and true", "((encrypted or malformed) and true)"),
        ("encrypted or malformed or true", "(encrypted or malformed or true)"),
        ("encrypted and (malformed or not true) and true", "(encrypted and (malformed or (not true)) and true)"),
        ("((encrypted))", "encrypted"),
        ("subject != 'x' and body-size > 10M", "((not subject == 'x') and body-size > 10485760)"),
        ("not subject == 'x' or mail-from == 'y'", "((not subject == 'x') or mail-from == 'y')"),
        ("ENCRYPTED AND NOT Malformed OR True", "((encrypted and (not malformed)) or true)"),
    ])
    func precedence(condition: String, expected: String) throws {
        #expect(try FilterFixtures.written(condition) == expected)
    }

    /// The same formulas evaluated against Swift's own precedence for every combination.
    @Test func precedenceTruthTable() throws {
        let formulas: [(String, (Bool, Bool) -> Bool)] = [
            ("encrypted or malformed and not encrypted", { e, m in e || (m && !e) }),
            ("not encrypted and malformed or encrypted and not malformed", { e, m in (!e && m) || (e && !m) }),
            ("not (encrypted or malformed)", { e, m in !(e || m) }),
            ("(encrypted or malformed) and not (encrypted and malformed)", { e, m in (e || m) && !(e && m) }),
            ("encrypted and true or malformed", { e, m in (e && true) || m }),
            ("not not encrypted and not malformed", { e, m in e && !m }),
        ]
        for (formula, swift) in formulas {
            for e in [false, true] {
                for m in [false, true] {
                    var facts = FilterFixtures.typical
                    facts.isEncrypted = e
                    facts.isMalformed = m
                    #expect(try FilterFixtures.holds(formula, facts) == swift(e, m), "\(formula) with encrypted=\(e) malformed=\(m)")
                }
            }
        }
    }

    @Test func layoutCommentsTerminatorsAndElse() throws {
        let text = "# policy filters\r\n"
            + "first: if(true){drop();}.\r\n"
            + "second :\tif ( encrypted ) # why\n { } else { log-entry(\"clear\") ; } .\r"
            + "third: if not malformed { deliver(); }\n"
        let set = try FilterSet.parse(text)
        #expect(set.names == ["first", "second", "third"])
        #expect(set.filters[1].actions == [])
        #expect(set.filters[1].elseActions == [.logEntry("clear")])
        #expect(set.filters[2].condition == .not(.test(.malformed)))
    }

    @Test func namesAndKeywordsAreCaseInsensitiveButFilterNamesAreNot() throws {
        let set = try FilterSet.parse("Check: IF Subject == 'x' { QUARANTINE(\"Policy\"); Skip-Filters(); }\ncheck: if true {}")
        #expect(set.names == ["Check", "check"])
        #expect(set.filters[0].actions == [.quarantine("Policy"), .skipFilters])
    }

    @Test func everyConditionParses() throws {
        let conditions = [
            "subject == 'a'", "header(\"X-A\")", "header('X-A') == 'b'", "header(\"X-A\") != 'b'",
            "body-contains('a')", "only-body-contains(\"a\")", "attachment-filename == 'a'", "attachment-type == '^image/'",
            "attachment-size > 1M", "mail-from == 'a'", "rcpt-to != 'a'", "remote-ip == '10.0.0.0/8'",
            "remote-ip == '::1'", "remote-ip == '^10\\\\.'", "sendergroup == 'a'", "body-size <= 5K",
            "recv-listener == 'a'", "encrypted", "malformed", "true",
        ]
        for condition in conditions {
            #expect(throws: Never.self, "\(condition)") { try FilterSet.parse("t: if \(condition) { }") }
        }
    }

    @Test func everyActionParses() throws {
        let set = try FilterSet.parse("""
            t: if true {
                quarantine("Policy"); duplicate-quarantine("Virus");
                insert-header("X-Scanned", "yes"); strip-header("X-Spam-Flag");
                alt-rcpt-to("security@example.com"); notify("admin@example.com"); notify("admin@example.com", "Blocked");
                log-entry("seen");
                bounce();
            }
            u: if true { drop(); }
            v: if true { deliver(); }
            w: if true { skip-filters(); }
            """)
        #expect(set.filters[0].actions == [
            .quarantine("Policy"), .duplicateQuarantine("Virus"),
            .insertHeader(name: "X-Scanned", value: "yes"), .stripHeader("X-Spam-Flag"),
            .alternateRecipient("security@example.com"), .notify(recipient: "admin@example.com", subject: nil),
            .notify(recipient: "admin@example.com", subject: "Blocked"), .logEntry("seen"), .bounce,
        ])
        #expect(set.filters[1...].map(\.actions) == [[.drop], [.deliver], [.skipFilters]])
        #expect(set.quarantineNames == ["Policy", "Virus"])
    }

    @Test func remoteIPOperands() throws {
        #expect(try FilterFixtures.written("remote-ip == '10.1.2.3'") == "remote-ip == '10.1.2.3'")
        #expect(try FilterFixtures.written("remote-ip == '10.1.2.3/8'") == "remote-ip == '10.0.0.0/8'")
        #expect(try FilterFixtures.written("remote-ip == '2001:DB8::1'") == "remote-ip == '2001:db8::1'")
        #expect(try FilterFixtures.written("remote-ip == '::ffff:10.1.2.3'") == "remote-ip == '10.1.2.3'")
        #expect(try FilterFixtures.written("remote-ip == '2001:db8::/32'") == "remote-ip == '2001:db8::/32'")
        #expect(try FilterFixtures.written("remote-ip == '10.1.'") == "remote-ip == '10.1.'")
        #expect(try FilterFixtures.written("remote-ip != '010.1.2.3'") == "(not remote-ip == '010.1.2.3')")
    }

    @Test func conditionsAreReorderedCheapestFirstWithoutChangingTheParse() throws {
        let text = "t: if body-contains('x') and (attachment-type == 'y' or subject == 'z') and encrypted { }"
        var parser = try FilterParser(text, allowedQuarantines: nil)
        #expect(try parser.parseFilters()[0].condition.description
            == "(body-contains('x') and (attachment-type == 'y' or subject == 'z') and encrypted)")
        #expect(try FilterSet.parse(text).filters[0].condition.description
            == "(encrypted and (subject == 'z' or attachment-type == 'y') and body-contains('x'))")
    }

    @Test func allowedQuarantinesApplyToBothQuarantineActions() throws {
        #expect(throws: Never.self) { try FilterSet.parse("t: if true { quarantine(\"Anything\"); }") }
        #expect(throws: Never.self) {
            try FilterSet.parse("t: if true { quarantine(\"Policy\"); duplicate-quarantine(\"Virus\"); }", allowedQuarantines: ["Policy", "Virus"])
        }
        #expect(FilterFixtures.syntaxError("t: if true { duplicate-quarantine(\"Policy\"); }", allowedQuarantines: ["Virus"]) != nil)
    }

    @Test func equalSetsCompareEqual() throws {
        let a = try FilterSet.parse("t: if subject == 'x' { drop(); }")
        let b = try FilterSet.parse("# same\nt: if (subject == \"x\") { drop(); }.")
        let c = try FilterSet.parse("t: if subject == 'y' { drop(); }")
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(a != c)
    }
}
