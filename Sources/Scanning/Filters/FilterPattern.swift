import Foundation

/// A regular expression of a filter condition, compiled once when the filters
/// are parsed.
///
/// The engine is ICU through Foundation's `NSRegularExpression`: on Linux it
/// measured 1.3 to 21 times faster than Swift `Regex` on short header and
/// envelope values and 12 to 34 times faster on 10 KB bodies (see
/// `docs/FILTERS.md`, "Regular expressions"). A literal search
/// (`FilterLiteralSearch`) answers first when it can, which spares ICU's
/// UTF-16 copy of the subject. `NSRegularExpression` is safe to share
/// between threads (CoreFoundation hands a clone to a second concurrent user).
struct FilterPattern: Hashable, Sendable, CustomStringConvertible {
    /// The regular expression as ICU reads it (after the filter text's escapes).
    let source: String
    private let regex: NSRegularExpression
    private let literalSearch: FilterLiteralSearch?

    /// Compiles `source`; on failure, throws why in words an admin can act on.
    /// `literalShortcut: false` leaves every decision to ICU (for tests that compare both ways).
    init(_ source: String, literalShortcut: Bool = true) throws(FilterPatternError) {
        do {
            // ICU refuses an empty pattern; the empty group matches everywhere, as '' should.
            regex = try NSRegularExpression(pattern: source.isEmpty ? "(?:)" : source)
        } catch {
            throw FilterPatternError(reason: Self.diagnose(source))
        }
        self.source = source
        literalSearch = literalShortcut ? FilterLiteralSearch(pattern: source) : nil
    }

    /// True when the pattern matches somewhere in `text` (use `^`/`$` to anchor).
    func matches(_ text: String) -> Bool {
        if let literalSearch {
            switch literalSearch.decide(text) {
            case .match: return true
            case .noMatch: return false
            case .undecided: break
            }
        }
        return regex.rangeOfFirstMatch(in: text, range: NSRange(location: 0, length: text.utf16.count)).location != NSNotFound
    }

    /// True when a literal search shortcut was found for this pattern.
    var hasLiteralSearch: Bool { literalSearch != nil }

    var description: String { "'\(source)'" }

    static func == (lhs: FilterPattern, rhs: FilterPattern) -> Bool { lhs.source == rhs.source }
    func hash(into hasher: inout Hasher) { hasher.combine(source) }

    /// Why ICU refused a pattern: ICU's own error is not passed on by
    /// Foundation on Linux, so look for the usual mistakes.
    static func diagnose(_ pattern: String) -> String {
        var body = Substring(pattern)
        if body.hasPrefix("(?i)") { body = body.dropFirst(4) }
        if let first = body.first, "*+?{".contains(first) {
            return "'\(first)' at the start repeats nothing; patterns are regular expressions, not wildcards: "
                + "match names ending in .exe with '\\\\.exe$' (regex \\.exe$), not '*.exe'"
        }
        var parentheses = 0
        var inClass = false
        var escaped = false
        for character in body {
            if escaped {
                escaped = false
                continue
            }
            switch character {
            case "\\": escaped = true
            case "[" where !inClass: inClass = true
            case "]" where inClass: inClass = false
            case "(" where !inClass: parentheses += 1
            case ")" where !inClass:
                parentheses -= 1
                if parentheses < 0 {
                    return "a ')' has no '(' before it (a literal parenthesis is \\) in a regex, written '\\\\)' in a filter)"
                }
            default: break
            }
        }
        if escaped {
            return "it ends with a lone backslash (a literal backslash is \\\\ in a regex, written '\\\\\\\\' in a filter)"
        }
        if inClass {
            return "a '[' is not closed by ']' (a literal bracket is \\[ in a regex, written '\\\\[' in a filter)"
        }
        if parentheses > 0 {
            return "a '(' is not closed by ')' (a literal parenthesis is \\( in a regex, written '\\\\(' in a filter)"
        }
        return "check repetitions such as a{2,1} or '**', escapes such as \\x or \\p{...}, and character ranges such as [z-a]"
    }
}

/// A pattern ICU refused; `reason` says what to fix.
struct FilterPatternError: Error, Hashable, Sendable {
    var reason: String
}
