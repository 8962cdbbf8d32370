/// A text filter typed by a user, made safe for SQLite FTS5: the input is split into
/// words and `"double-quoted phrases"`, and each becomes an FTS5 string (quoted, inner
/// quotes doubled), so FTS5 operators in the input (`AND`, `OR`, `NOT`, `NEAR(`, `*`,
/// `^`, `:`, parentheses) are plain words or punctuation and can never change the query
/// or cause a syntax error. All words must match (AND). A word ending in `*` with at
/// least two letters or digits before it matches as a prefix.
struct FullTextQuery: Hashable, Sendable {
    struct Problem: Error {
        var message: String
    }

    struct Term: Hashable, Sendable {
        /// The word or phrase, without quotes.
        var text: String
        var isPrefix: Bool
    }

    var terms: [Term]

    init(_ input: String) throws {
        guard input.utf8.count <= SearchQuery.maxTextBytes else {
            throw Problem(message: "is \(input.utf8.count) bytes long, more than \(SearchQuery.maxTextBytes); search for fewer words")
        }
        if input.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw Problem(message: "\(quoted(input)) holds a control character (NUL, tab, line break...); search for words only")
        }
        var terms: [Term] = []
        var current = ""
        var inPhrase = false
        func finish(phrase: Bool) {
            var text = current
            current = ""
            var isPrefix = false
            if !phrase, text.hasSuffix("*") {
                text = String(text.drop(while: { $0 == "*" }).reversed().drop(while: { $0 == "*" }).reversed())
                isPrefix = text.filter { $0.isLetter || $0.isNumber }.count >= 2
            }
            guard text.contains(where: { $0.isLetter || $0.isNumber }) else { return }
            terms.append(Term(text: text, isPrefix: isPrefix))
        }
        for character in input {
            if character == "\"" {
                finish(phrase: inPhrase)
                inPhrase.toggle()
            } else if !inPhrase, character == " " {
                finish(phrase: false)
            } else {
                current.append(character)
            }
        }
        finish(phrase: inPhrase)       // an unclosed quote ends with the input
        guard !terms.isEmpty else {
            throw Problem(message: "\(quoted(input)) has no word to search for (letters or digits)")
        }
        guard terms.count <= SearchQuery.maxTerms else {
            throw Problem(message: "\(terms.count) words or phrases, more than \(SearchQuery.maxTerms)")
        }
        self.terms = terms
    }

    /// The FTS5 expression: every term, in `column` when given (else in every column).
    func expression(column: String?) -> String {
        terms.map { term in
            let quotedTerm = "\"" + term.text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" + (term.isPrefix ? " *" : "")
            return column.map { "\($0) : \(quotedTerm)" } ?? quotedTerm
        }.joined(separator: " AND ")
    }
}
