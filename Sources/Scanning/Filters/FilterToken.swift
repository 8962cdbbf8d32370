/// A place in the filter text: line and column, both from 1; columns count Unicode scalars.
struct FilterSourcePosition: Hashable, Sendable, CustomStringConvertible {
    var line: Int
    var column: Int

    var description: String { "line \(line), column \(column)" }
}

/// One token of the filter language, with where it starts and where it ends.
struct FilterToken: Hashable, Sendable {
    enum Symbol: String, Hashable, Sendable {
        case leftParenthesis = "("
        case rightParenthesis = ")"
        case leftBrace = "{"
        case rightBrace = "}"
        case semicolon = ";"
        case comma = ","
        case colon = ":"
        case period = "."
        case equal = "=="
        case notEqual = "!="
        case less = "<"
        case lessOrEqual = "<="
        case greater = ">"
        case greaterOrEqual = ">="

        var isComparison: Bool {
            switch self {
            case .equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual: true
            default: false
            }
        }
    }

    enum Kind: Hashable, Sendable {
        /// A name: filter names, conditions, actions, `if`, `and`, ... (as written).
        case identifier(String)
        /// A quoted string after escape processing, and the quote used.
        case string(String, quote: Character)
        /// A size: digits with an optional K, M or G suffix, already multiplied out.
        case size(Int, text: String)
        case symbol(Symbol)
        case end
    }

    var kind: Kind
    /// The first scalar of the token (for `.end`: just after the last token).
    var start: FilterSourcePosition
    /// Just after the last scalar of the token.
    var end: FilterSourcePosition

    /// The identifier in lower case, or nil for other tokens.
    var keyword: String? {
        if case .identifier(let name) = kind { return name.lowercased() }
        return nil
    }

    func isSymbol(_ symbol: Symbol) -> Bool { kind == .symbol(symbol) }

    /// How an error message names this token: `'{'`, `"subjekt"`, `the string 'abc'`, ...
    var quoted: String {
        switch kind {
        case .identifier(let name): return "\"\(name)\""
        case .string(let value, let quote):
            let shown = value.count > 30 ? String(value.prefix(27)) + "..." : value
            return "the string \(quote)\(shown)\(quote)"
        case .size(_, let text): return "the size \(text)"
        case .symbol(let symbol): return "'\(symbol.rawValue)'"
        case .end: return "the end of the filters"
        }
    }
}
