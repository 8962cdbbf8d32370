import SMTPProtocol

/// Helpers for the small value syntaxes the access tables share.
enum ReplyText {
    /// Parses `554 5.7.1 Access denied` into a failure reply. The code must be
    /// 4xx or 5xx; a missing enhanced code becomes `4.7.1` / `5.7.1`, since
    /// every reply the gateway sends must carry one.
    static func parseFailureReply(_ text: String) -> SMTPReply? {
        let parts = text.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard let first = parts.first, first.count == 3, first.allSatisfy({ $0.isASCII && $0.isNumber }),
              let code = Int(first), (400..<600).contains(code)
        else { return nil }
        var rest = parts.count > 1 ? String(parts[1]) : ""
        var enhanced: EnhancedStatusCode?
        let words = rest.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        if let word = words.first, let parsed = EnhancedStatusCode(parsing: word) {
            guard parsed.klass == code / 100 else { return nil }
            enhanced = parsed
            rest = words.count > 1 ? String(words[1]) : ""
        } else {
            enhanced = EnhancedStatusCode(code / 100, 7, 1)
        }
        return SMTPReply(code, enhanced, rest)
    }

    /// `"text"` with `\"` and `\\` escapes.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for character in text {
            if character == "\"" || character == "\\" { out.append("\\") }
            out.append(character)
        }
        return out + "\""
    }

    /// Reads a quoted string at the start of `text`; returns its value and the rest.
    /// Nil when the text does not start with `"` or the quote is not closed.
    static func readQuoted(_ text: Substring) -> (value: String, rest: Substring)? {
        guard text.first == "\"" else { return nil }
        var value = ""
        var index = text.index(after: text.startIndex)
        while index < text.endIndex {
            let character = text[index]
            if character == "\\" {
                index = text.index(after: index)
                guard index < text.endIndex else { return nil }
                value.append(text[index])
            } else if character == "\"" {
                return (value, text[text.index(after: index)...])
            } else {
                value.append(character)
            }
            index = text.index(after: index)
        }
        return nil
    }

    /// A trailing `(comment)` of a line: returns the text before it (trimmed) and the comment.
    static func splitComment(_ text: Substring) -> (body: Substring, comment: String?) {
        let trimmed = text.trimmingWhitespace()
        guard trimmed.hasSuffix(")"), let open = openingParenthesis(of: trimmed) else { return (trimmed, nil) }
        let comment = trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)]
        return (trimmed[..<open].trimmingWhitespace(), String(comment.trimmingWhitespace()))
    }

    /// The `(` that opens the final parenthesised group, skipping quoted strings
    /// and brace blocks.
    private static func openingParenthesis(of text: Substring) -> Substring.Index? {
        var inQuote = false, escaped = false, braces = 0
        var candidate: Substring.Index?
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if inQuote {
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { inQuote = false }
            } else if character == "\"" {
                inQuote = true
            } else if character == "{" {
                braces += 1
            } else if character == "}" {
                braces -= 1
            } else if character == "(" && braces == 0 && candidate == nil {
                candidate = index
            }
            index = text.index(after: index)
        }
        return candidate
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    func trimmingWhitespace() -> SubSequence {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return self[endIndex...]
        }
        return self[first...last]
    }
}
