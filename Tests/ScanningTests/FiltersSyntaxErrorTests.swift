import Testing
@testable import Scanning

/// Every syntax error, with its exact text, line and column. The allowed
/// quarantines are Policy, Virus and Outbreak.
@Suite struct FiltersSyntaxErrorTests {
    @Test(arguments: [
        // Missing parenthesis after a condition (the layout of the example in the design brief).
        ("block_exe: if (attachment-filename == '(?i)\\\\.(exe|scr|js)$' {\n    quarantine(\"Policy\");\n}",
         #"filter "block_exe", line 1, column 62: expected ')' after the condition, found '{'"#),
        // Unterminated strings: reported at the opening quote.
        ("ok: if true { }\nbad: if (subject == 'abc) {\n  drop();\n}",
         #"filter "bad", line 2, column 21: unterminated string: add the closing ' on the same line (strings cannot span lines; write \' for a quote inside)"#),
        (#"bad: if true { log-entry("abc); }"#,
         #"filter "bad", line 1, column 26: unterminated string: add the closing " on the same line (strings cannot span lines; write \" for a quote inside)"#),
        (#"bad: if subject == 'abc\' { drop(); }"#,
         #"filter "bad", line 1, column 20: unterminated string: add the closing ' on the same line (strings cannot span lines; write \' for a quote inside)"#),
        // Unknown condition / action, with a suggestion when it is a likely typo.
        (#"t: if (subjekt == 'abc') { drop(); }"#,
         #"filter "t", line 1, column 8: unknown condition "subjekt"; did you mean "subject"?"#),
        (#"t: if (rcpt-count > 5) { drop(); }"#,
         "filter \"t\", line 1, column 8: unknown condition \"rcpt-count\"; the conditions are subject, header(\"Name\"), body-contains('regex'), only-body-contains('regex'), attachment-filename, attachment-type, attachment-size, mail-from, rcpt-to, remote-ip, sendergroup, body-size, recv-listener, encrypted, malformed, true"),
        ("t: if true {\n  quarantin(\"Policy\");\n}",
         #"filter "t", line 2, column 3: unknown action "quarantin"; did you mean "quarantine"?"#),
        (#"t: if true { frobnicate(); }"#,
         #"filter "t", line 1, column 14: unknown action "frobnicate"; the actions are quarantine, duplicate-quarantine, drop, bounce, deliver, skip-filters, insert-header, strip-header, alt-rcpt-to, notify, log-entry"#),
        // Missing braces, semicolons, parentheses and commas.
        ("t: if true {\n  drop();\n",
         #"filter "t", line 2, column 10: expected '}' to close the actions opened at line 1, column 12"#),
        ("t: if true {\n  drop();\n\nu: if true { bounce(); }",
         #"filter "t", line 4, column 1: expected '}' to close the actions opened at line 1, column 12 before the next filter"#),
        ("t: if true\n  drop(); }",
         #"filter "t", line 2, column 3: expected 'and', 'or' or '{' after the condition, found "drop""#),
        (#"t: if true { drop() }"#,
         #"filter "t", line 1, column 20: expected ';' after drop(), found '}'"#),
        ("t: if true {\n  quarantine(\"Policy\")\n  drop();\n}",
         #"filter "t", line 2, column 23: expected ';' after quarantine(...), found "drop""#),
        (#"t: if true { quarantine "Policy"; }"#,
         #"filter "t", line 1, column 25: expected '(' after quarantine: write quarantine("Policy")"#),
        (#"t: if true { notify("a@b.example" "subject"); }"#,
         #"filter "t", line 1, column 35: expected ',' or ')' after the argument of notify, found the string "subject""#),
        (#"t: if (true { drop(); }"#,
         #"filter "t", line 1, column 13: expected ')' after the condition, found '{'"#),
        (#"t: if (encrypted and (malformed or true) { drop(); }"#,
         #"filter "t", line 1, column 42: expected ')' after the condition, found '{'"#),
        (#"t: if header("X-A" { drop(); }"#,
         #"filter "t", line 1, column 20: expected ')' after the argument of header, found '{'"#),
        (#"t: if header { drop(); }"#,
         #"filter "t", line 1, column 14: expected '(' after header: write header("X-Spam-Flag") == '(?i)^yes$'"#),
        // Sizes.
        (#"t: if body-size > 10X { drop(); }"#,
         #"filter "t", line 1, column 19: bad size suffix "X" in 10X: use K, M or G, e.g. 10M (1K = 1024 bytes)"#),
        (#"t: if body-size > 10MB { drop(); }"#,
         #"filter "t", line 1, column 19: bad size suffix "MB" in 10MB: write 10M (the suffixes are K, M and G; 1K = 1024 bytes)"#),
        (#"t: if attachment-size > 1.5M { drop(); }"#,
         #"filter "t", line 1, column 25: sizes are whole numbers: write 1536K rather than 1.5M (1K = 1024 bytes)"#),
        (#"t: if attachment-size > 1.3M { drop(); }"#,
         #"filter "t", line 1, column 25: sizes are whole numbers: write about 1331K rather than 1.3M (1K = 1024 bytes)"#),
        (#"t: if body-size > 2000G { drop(); }"#,
         #"filter "t", line 1, column 19: the size 2000G is too large: the largest is 1024G"#),
        // Regular expressions are compiled at parse time.
        (#"t: if subject == '(abc' { drop(); }"#,
         #"filter "t", line 1, column 18: invalid regular expression '(abc': a '(' is not closed by ')' (a literal parenthesis is \( in a regex, written '\\(' in a filter)"#),
        (#"t: if subject == 'abc)' { drop(); }"#,
         #"filter "t", line 1, column 18: invalid regular expression 'abc)': a ')' has no '(' before it (a literal parenthesis is \) in a regex, written '\\)' in a filter)"#),
        (#"t: if attachment-filename == '*.exe' { drop(); }"#,
         #"filter "t", line 1, column 30: invalid regular expression '*.exe': '*' at the start repeats nothing; patterns are regular expressions, not wildcards: match names ending in .exe with '\\.exe$' (regex \.exe$), not '*.exe'"#),
        (#"t: if subject == '[abc' { drop(); }"#,
         #"filter "t", line 1, column 18: invalid regular expression '[abc': a '[' is not closed by ']' (a literal bracket is \[ in a regex, written '\\[' in a filter)"#),
        (#"t: if subject == '\\' { drop(); }"#,
         #"filter "t", line 1, column 18: invalid regular expression '\': it ends with a lone backslash (a literal backslash is \\ in a regex, written '\\\\' in a filter)"#),
        (#"t: if subject == 'a{2,1}' { drop(); }"#,
         #"filter "t", line 1, column 18: invalid regular expression 'a{2,1}': check repetitions such as a{2,1} or '**', escapes such as \x or \p{...}, and character ranges such as [z-a]"#),
        // Duplicate names and quarantines.
        ("one: if true { }\ntwo: if true { }\none: if true { }",
         #"filter "one", line 3, column 1: a filter named "one" already exists (line 1); give each filter its own name"#),
        (#"t: if true { quarantine("Polcy"); }"#,
         #"filter "t", line 1, column 25: unknown quarantine "Polcy"; did you mean "Policy"?"#),
        (#"t: if true { quarantine("policy"); }"#,
         #"filter "t", line 1, column 25: unknown quarantine "policy"; did you mean "Policy"? (quarantine names are case-sensitive)"#),
        (#"t: if true { duplicate-quarantine("Spam"); }"#,
         #"filter "t", line 1, column 35: unknown quarantine "Spam"; the configured quarantines are "Outbreak", "Policy", "Virus""#),
        (#"t: if true { quarantine(""); }"#,
         #"filter "t", line 1, column 25: the quarantine name is empty: write e.g. quarantine("Policy")"#),
        // Final actions must come last.
        (#"t: if true { drop(); log-entry("x"); }"#,
         #"filter "t", line 1, column 22: drop() ends the evaluation, so nothing after it would run: move these actions before drop()"#),
        (#"t: if true { skip-filters(); drop(); }"#,
         #"filter "t", line 1, column 30: skip-filters() ends the evaluation, so nothing after it would run: move these actions before skip-filters()"#),
        // Filter structure.
        (#"if true { drop(); }"#,
         #"line 1, column 1: a filter starts with its name and ':', e.g. block_exe: if (...) { ... }"#),
        (#"t if true { drop(); }"#,
         #"line 1, column 3: expected ':' after the filter name "t", found "if""#),
        (#"t: subject == 'x' { drop(); }"#,
         #"filter "t", line 1, column 4: expected 'if' after "t:", e.g. t: if (subject == 'x') { ... }, found "subject""#),
        (#"'t': if true { }"#,
         #"line 1, column 1: expected a filter name followed by ':', e.g. block_exe: if (...) { ... }, found the string 't'"#),
        (#"t: if true { } }"#,
         #"line 1, column 16: this '}' closes nothing: remove it, or check the '{' and '}' of the filter before it"#),
        (#"t: if true { } else if true { }"#,
         #"filter "t", line 1, column 21: 'else if' is not supported: write the second condition as a filter of its own"#),
        (#"t: if true { } else drop();"#,
         #"filter "t", line 1, column 21: expected '{' and the actions after 'else', found "drop""#),
        (#"t: if true { if true { } }"#,
         #"filter "t", line 1, column 14: an 'if' inside the actions is not supported: write it as a filter of its own"#),
        // Operators and characters from other languages.
        (#"t: if subject = 'x' { }"#,
         #"filter "t", line 1, column 15: a single '=' is not an operator: write '==' to match"#),
        (#"t: if !encrypted { }"#,
         #"filter "t", line 1, column 7: write 'not' to negate a condition, or '!=' for "does not match""#),
        (#"t: if encrypted && malformed { }"#,
         #"filter "t", line 1, column 17: write 'and' to combine conditions"#),
        (#"t: if encrypted || malformed { }"#,
         #"filter "t", line 1, column 17: write 'or' to combine conditions"#),
        (#"t: if encrypted @ { }"#,
         #"filter "t", line 1, column 17: unexpected character '@'"#),
        ("t: if \u{201C}x\u{201D} == subject { }",
         "filter \"t\", line 1, column 7: typographic quote '\u{201C}' (U+201C): use straight quotes ' or \" around strings"),
        ("t: if subject == \u{2018}x\u{2019} { }",
         "filter \"t\", line 1, column 18: typographic quote '\u{2018}' (U+2018): use straight quotes ' or \" around strings"),
        // Conditions and their operands.
        (#"t: if subject < 'x' { }"#,
         #"filter "t", line 1, column 15: '<' compares sizes; subject matches text: use == or != with a quoted regex, e.g. subject == '(?i)invoice'"#),
        (#"t: if subject 'x' { }"#,
         #"filter "t", line 1, column 15: expected == or != after subject, e.g. subject == '(?i)invoice', found the string 'x'"#),
        (#"t: if subject == 10 { }"#,
         #"filter "t", line 1, column 18: subject matches text: quote the value as a regex, e.g. subject == '10'"#),
        (#"t: if subject == { }"#,
         #"filter "t", line 1, column 18: expected a quoted regex, e.g. subject == '(?i)invoice', found '{'"#),
        (#"t: if body-size > '10M' { }"#,
         #"filter "t", line 1, column 19: write the size without quotes, e.g. body-size > 10M"#),
        (#"t: if body-size 'big' { }"#,
         #"filter "t", line 1, column 17: expected a comparison (==, !=, <, <=, >, >=) after body-size, e.g. body-size > 10M, found the string 'big'"#),
        (#"t: if body-size > 'big' { }"#,
         #"filter "t", line 1, column 19: expected a size such as 10M after > (K, M and G are 1024, 1024², 1024³ bytes), found the string 'big'"#),
        (#"t: if true == 'x' { }"#,
         #"filter "t", line 1, column 12: true is a condition by itself and takes no comparison: remove '==' and what follows it"#),
        (#"t: if encrypted() { }"#,
         #"filter "t", line 1, column 16: encrypted takes no arguments: write encrypted without parentheses"#),
        (#"t: if body-contains('x') == 'y' { }"#,
         #"filter "t", line 1, column 26: body-contains(...) is a condition by itself and takes no comparison: remove '==' and what follows it"#),
        (#"t: if body-contains 'x' { }"#,
         #"filter "t", line 1, column 21: expected '(' after body-contains: write body-contains('(?i)confidential')"#),
        (#"t: if body-contains(x) { }"#,
         #"filter "t", line 1, column 21: expected a quoted string in body-contains(...), e.g. body-contains('(?i)confidential'), found "x""#),
        (#"t: if header("X-A") < 'x' { }"#,
         #"filter "t", line 1, column 21: header(...) matches text: use == or != with a quoted regex, e.g. header("X-Spam-Flag") == '(?i)^yes$'"#),
        (#"t: if header("Bad Name") { }"#,
         #"filter "t", line 1, column 14: "Bad Name" is not a header name: use letters, digits and '-' without spaces or ':', e.g. "X-Scanned""#),
        (#"t: if remote-ip == '10.0.0.0/33' { }"#,
         #"filter "t", line 1, column 20: "10.0.0.0/33" is not a network: the prefix length after '/' is a number from 0 to 32 for IPv4, e.g. '10.0.0.0/8'"#),
        (#"t: if remote-ip == '::/129' { }"#,
         #"filter "t", line 1, column 20: "::/129" is not a network: the prefix length after '/' is a number from 0 to 128 for IPv6, e.g. '2001:db8::/32'"#),
        (#"t: if remote-ip == '10.0.0.0/x' { }"#,
         #"filter "t", line 1, column 20: "10.0.0.0/x" is not a network: the prefix length after '/' is a number from 0 to 32 for IPv4, e.g. '10.0.0.0/8'"#),
        (#"t: if drop() { }"#,
         #"filter "t", line 1, column 7: "drop" is an action, not a condition: actions go between '{' and '}' after the condition"#),
        (#"t: if { drop(); }"#,
         #"filter "t", line 1, column 7: expected a condition such as subject == 'regex' (see docs/FILTERS.md), found '{'"#),
        (#"t: if subject == 'x' then { }"#,
         #"filter "t", line 1, column 22: expected 'and', 'or' or '{' after the condition, found "then""#),
        (#"t: if subject == 'x') { }"#,
         #"filter "t", line 1, column 21: this ')' has no '(' before it: remove it, or add the '('"#),
        // Action arguments.
        (#"t: if true { subject == 'x'; }"#,
         #"filter "t", line 1, column 14: "subject" is a condition, not an action: conditions go between 'if' and '{'"#),
        (#"t: if true { "drop"; }"#,
         #"filter "t", line 1, column 14: expected an action such as quarantine("Policy"); or the '}' that ends the actions, found the string "drop""#),
        (#"t: if true { insert-header("X:A", "v"); }"#,
         #"filter "t", line 1, column 28: "X:A" is not a header name: use letters, digits and '-' without spaces or ':', e.g. "X-Scanned""#),
        ("t: if true { insert-header(\"X-A\", \"v\u{7}\"); }",
         #"filter "t", line 1, column 35: a header value cannot contain the control character U+0007"#),
        (#"t: if true { insert-header("X-A"); }"#,
         #"filter "t", line 1, column 14: insert-header takes 2 arguments: write insert-header("X-Scanned", "yes")"#),
        (#"t: if true { strip-header(""); }"#,
         #"filter "t", line 1, column 27: "" is not a header name: use letters, digits and '-' without spaces or ':', e.g. "X-Scanned""#),
        (#"t: if true { alt-rcpt-to("<a@b.example>"); }"#,
         #"filter "t", line 1, column 26: "<a@b.example>" is not an email address: write it as name@example.com, without angle brackets"#),
        (#"t: if true { alt-rcpt-to("nobody"); }"#,
         #"filter "t", line 1, column 26: "nobody" is not an email address: write it as name@example.com, without angle brackets"#),
        (#"t: if true { notify("a@b.example", "x", "y"); }"#,
         #"filter "t", line 1, column 14: notify takes 1 or 2 arguments: write notify("admin@example.com") or notify("admin@example.com", "Blocked attachment")"#),
        (#"t: if true { log-entry(""); }"#,
         #"filter "t", line 1, column 24: log-entry needs some text, e.g. log-entry("partner mail")"#),
        (#"t: if true { drop("now"); }"#,
         #"filter "t", line 1, column 14: drop takes no arguments: write drop()"#),
        (#"t: if true { quarantine(Policy); }"#,
         #"filter "t", line 1, column 25: the arguments of quarantine are quoted strings: write quarantine("Policy"), found "Policy""#),
        (#"t: if true { quarantine("Policy",); }"#,
         #"filter "t", line 1, column 34: the arguments of quarantine are quoted strings: write quarantine("Policy"), found ')'"#),
        // Nesting is limited (FilterDefaults.maxConditionDepth).
        (#"t: if ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((true)))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))) { }"#,
         #"filter "t", line 1, column 71: the condition nests 'not' and parentheses more than 64 deep; simplify it"#),
        // Position counting: a tab is one column; errors after a complete filter.
        ("t: if true { }\n\tu: if tru { }",
         #"filter "u", line 2, column 8: unknown condition "tru"; did you mean "true"?"#),
        ("t: if true { drop(); }\u{7}",
         #"filter "t", line 1, column 23: unexpected character U+0007"#),
        ("t: if true { drop(); } # \u{E9}\n\u{E9}",
         #"filter "t", line 2, column 1: unexpected character 'é' (U+00E9)"#),
    ])
    func errorText(input: String, expected: String) {
        let error = FilterFixtures.syntaxError(input, allowedQuarantines: ["Policy", "Virus", "Outbreak"])
        #expect(error?.description == expected)
    }

    @Test func fieldsOfAnError() throws {
        let error = try #require(FilterFixtures.syntaxError("ok: if true { }\nbad: if (subject == 'x' { drop(); }"))
        #expect(error.filter == "bad")
        #expect(error.line == 2)
        #expect(error.column == 25)
        #expect(error.message == "expected ')' after the condition, found '{'")
        #expect(error.description == #"filter "bad", line 2, column 25: expected ')' after the condition, found '{'"#)
    }

    @Test func errorBeforeAnyFilterNameHasNoFilter() throws {
        let error = try #require(FilterFixtures.syntaxError("\n\n  'x'"))
        #expect(error.filter == nil)
        #expect(error.description == #"line 3, column 3: expected a filter name followed by ':', e.g. block_exe: if (...) { ... }, found the string 'x'"#)
    }

    @Test func lineBreaksAreLFCRLFOrCR() throws {
        for separator in ["\n", "\r\n", "\r"] {
            let text = ["a: if true { }", "b: if true {", "  log-entry(\"x\")", "}"].joined(separator: separator)
            let error = try #require(FilterFixtures.syntaxError(text), "separator \(separator.debugDescription)")
            #expect(error.description == #"filter "b", line 3, column 17: expected ';' after log-entry(...), found '}'"#)
        }
    }

    @Test func tooDeepNestingIsRefusedNotCrashed() throws {
        let parentheses = "t: if " + String(repeating: "(", count: 10_000) + "true" + String(repeating: ")", count: 10_000) + " { }"
        #expect(FilterFixtures.syntaxError(parentheses)?.description
            == #"filter "t", line 1, column 71: the condition nests 'not' and parentheses more than 64 deep; simplify it"#)
        let nots = "t: if " + String(repeating: "not ", count: 10_000) + "true { }"
        #expect(FilterFixtures.syntaxError(nots)?.description
            == #"filter "t", line 1, column 263: the condition nests 'not' and parentheses more than 64 deep; simplify it"#)
        let deepest = "t: if " + String(repeating: "(", count: 64) + "true" + String(repeating: ")", count: 64) + " { }"
        #expect(FilterFixtures.syntaxError(deepest) == nil)
    }
}
