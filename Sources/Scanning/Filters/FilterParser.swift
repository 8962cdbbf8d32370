/// A recursive-descent parser for the filter language (the grammar is in
/// `docs/FILTERS.md`). Each function below reads one rule; the first error
/// stops the parse with a `FilterSyntaxError` that names the filter, the
/// place and what to write instead.
struct FilterParser {
    private var lexer: FilterLexer
    /// The current token (one token of look-ahead).
    private var token: FilterToken
    /// The filter being read, for errors.
    private var filterName: String? {
        didSet { lexer.filter = filterName }
    }
    private let allowedQuarantines: Set<String>?
    /// How deeply `not` and parentheses nest at the current token.
    private var depth = 0

    init(_ text: String, allowedQuarantines: Set<String>?) throws(FilterSyntaxError) {
        lexer = FilterLexer(text)
        self.allowedQuarantines = allowedQuarantines
        token = try lexer.next()
    }

    // MARK: - Helpers

    private mutating func advance() throws(FilterSyntaxError) {
        token = try lexer.next()
    }

    /// The token after the current one, or nil if it cannot be read.
    private func peek() -> FilterToken? {
        var copy = lexer
        return try? copy.next()
    }

    private func error(_ message: String, at position: FilterSourcePosition) -> FilterSyntaxError {
        FilterSyntaxError(filter: filterName, line: position.line, column: position.column, message: message)
    }

    private func error(_ message: String) -> FilterSyntaxError {
        error(message, at: token.start)
    }

    private mutating func nest() throws(FilterSyntaxError) {
        depth += 1
        if depth > FilterDefaults.maxConditionDepth {
            throw error("the condition nests 'not' and parentheses more than \(FilterDefaults.maxConditionDepth) deep; simplify it")
        }
    }

    // MARK: - filters = { filter }

    /// Reads every filter up to the end of the text.
    mutating func parseFilters() throws(FilterSyntaxError) -> [Filter] {
        var filters: [Filter] = []
        var seen: [String: FilterSourcePosition] = [:]
        while token.kind != .end {
            filters.append(try parseFilter(seen: &seen))
        }
        return filters
    }

    // MARK: - filter = name ":" "if" condition block [ "else" block ] [ "." ]

    private mutating func parseFilter(seen: inout [String: FilterSourcePosition]) throws(FilterSyntaxError) -> Filter {
        filterName = nil
        guard case .identifier(let name) = token.kind else {
            if token.isSymbol(.rightBrace) {
                throw error("this '}' closes nothing: remove it, or check the '{' and '}' of the filter before it")
            }
            throw error("expected a filter name followed by ':', e.g. block_exe: if (...) { ... }, found \(token.quoted)")
        }
        let nameToken = token
        try advance()
        guard token.isSymbol(.colon) else {
            if name.lowercased() == "if" {
                throw error("a filter starts with its name and ':', e.g. block_exe: if (...) { ... }", at: nameToken.start)
            }
            throw error("expected ':' after the filter name \"\(name)\", found \(token.quoted)")
        }
        filterName = name
        if let first = seen[name] {
            throw error("a filter named \"\(name)\" already exists (line \(first.line)); give each filter its own name", at: nameToken.start)
        }
        seen[name] = nameToken.start
        try advance()
        guard token.keyword == "if" else {
            throw error("expected 'if' after \"\(name):\", e.g. \(name): if (subject == 'x') { ... }, found \(token.quoted)")
        }
        try advance()
        depth = 0
        let condition = try parseCondition()
        guard token.isSymbol(.leftBrace) else {
            if token.isSymbol(.rightParenthesis) {
                throw error("this ')' has no '(' before it: remove it, or add the '('")
            }
            throw error("expected 'and', 'or' or '{' after the condition, found \(token.quoted)")
        }
        let actions = try parseBlock()
        var elseActions: [FilterAction] = []
        if token.keyword == "else" {
            try advance()
            if token.keyword == "if" {
                throw error("'else if' is not supported: write the second condition as a filter of its own")
            }
            guard token.isSymbol(.leftBrace) else {
                throw error("expected '{' and the actions after 'else', found \(token.quoted)")
            }
            elseActions = try parseBlock()
        }
        if token.isSymbol(.period) { try advance() }
        return Filter(name: name, condition: condition, actions: actions, elseActions: elseActions)
    }

    // MARK: - condition = and-condition { "or" and-condition }

    mutating func parseCondition() throws(FilterSyntaxError) -> FilterCondition {
        var terms = [try parseAndCondition()]
        while token.keyword == "or" {
            try advance()
            terms.append(try parseAndCondition())
        }
        return terms.count == 1 ? terms[0] : .any(terms)
    }

    // MARK: - and-condition = not-condition { "and" not-condition }

    private mutating func parseAndCondition() throws(FilterSyntaxError) -> FilterCondition {
        var terms = [try parseNotCondition()]
        while token.keyword == "and" {
            try advance()
            terms.append(try parseNotCondition())
        }
        return terms.count == 1 ? terms[0] : .all(terms)
    }

    // MARK: - not-condition = "not" not-condition | "(" condition ")" | test

    private mutating func parseNotCondition() throws(FilterSyntaxError) -> FilterCondition {
        if token.keyword == "not" {
            try nest()
            try advance()
            let condition = try parseNotCondition()
            depth -= 1
            return .not(condition)
        }
        if token.isSymbol(.leftParenthesis) {
            try nest()
            try advance()
            let condition = try parseCondition()
            guard token.isSymbol(.rightParenthesis) else {
                throw error("expected ')' after the condition, found \(token.quoted)")
            }
            try advance()
            depth -= 1
            return condition
        }
        return try parseTest()
    }

    // MARK: - test

    private mutating func parseTest() throws(FilterSyntaxError) -> FilterCondition {
        guard case .identifier(let written) = token.kind else {
            throw error("expected a condition such as subject == 'regex' (see docs/FILTERS.md), found \(token.quoted)")
        }
        guard let name = FilterConditionName(rawValue: written.lowercased()) else {
            if FilterActionName(rawValue: written.lowercased()) != nil {
                throw error("\"\(written)\" is an action, not a condition: actions go between '{' and '}' after the condition")
            }
            if let suggestion = FilterSpelling.suggestion(for: written, among: FilterConditionName.allCases.map(\.rawValue)) {
                throw error("unknown condition \"\(written)\"; did you mean \"\(suggestion)\"?")
            }
            throw error("unknown condition \"\(written)\"; the conditions are \(FilterConditionName.list)")
        }
        try advance()
        switch name.form {
        case .flag:
            try refuseComparison(after: written)
            if token.isSymbol(.leftParenthesis) {
                throw error("\(written) takes no arguments: write \(written) without parentheses")
            }
            switch name {
            case .encrypted: return .test(.encrypted)
            case .malformed: return .test(.malformed)
            default: return .test(.always)
            }
        case .function:
            let argument = try parseParenthesizedString(after: written, example: name.example)
            let pattern = try compile(argument)
            try refuseComparison(after: "\(written)(...)")
            return .test(name.textTest(pattern))
        case .header:
            let argument = try parseParenthesizedString(after: written, example: name.example)
            guard case .string(let header, _) = argument.kind else { preconditionFailure("not a string token") }
            try validateHeaderName(header, at: argument)
            guard token.kind == .symbol(.equal) || token.kind == .symbol(.notEqual) else {
                if case .symbol(let symbol) = token.kind, symbol.isComparison {
                    throw error("\(written)(...) matches text: use == or != with a quoted regex, e.g. \(name.example)")
                }
                return .test(.header(name: header, nil))
            }
            let negated = token.kind == .symbol(.notEqual)
            try advance()
            let pattern = try compile(try regexOperand(for: "\(written)(...)", example: name.example))
            let test = FilterCondition.test(.header(name: header, pattern))
            return negated ? .not(test) : test
        case .text, .address:
            let negated = try parseMatchOperator(after: written, example: name.example)
            let operand = try regexOperand(for: written, example: name.example)
            let test: FilterTest
            if name.form == .address {
                test = .remoteIP(try addressMatch(operand))
            } else {
                test = name.textTest(try compile(operand))
            }
            return negated ? .not(.test(test)) : .test(test)
        case .size:
            guard case .symbol(let symbol) = token.kind, symbol.isComparison else {
                throw error("expected a comparison (==, !=, <, <=, >, >=) after \(written), e.g. \(name.example), found \(token.quoted)")
            }
            let comparison: FilterSizeComparison
            switch symbol {
            case .less: comparison = .less
            case .lessOrEqual: comparison = .lessOrEqual
            case .greater: comparison = .greater
            case .greaterOrEqual: comparison = .greaterOrEqual
            default: comparison = .equal
            }
            try advance()
            let size = try sizeOperand(for: written, operator: symbol.rawValue, example: name.example)
            let test = FilterCondition.test(name.sizeTest(comparison, size))
            return symbol == .notEqual ? .not(test) : test
        }
    }

    /// Errors when a comparison follows a condition that is complete by itself.
    private func refuseComparison(after written: String) throws(FilterSyntaxError) {
        if case .symbol(let symbol) = token.kind, symbol.isComparison {
            throw error("\(written) is a condition by itself and takes no comparison: remove '\(symbol.rawValue)' and what follows it")
        }
    }

    /// Reads `== ` or `!=` (true for `!=`).
    private mutating func parseMatchOperator(after written: String, example: String) throws(FilterSyntaxError) -> Bool {
        switch token.kind {
        case .symbol(.equal):
            try advance()
            return false
        case .symbol(.notEqual):
            try advance()
            return true
        case .symbol(let symbol) where symbol.isComparison:
            throw error("'\(symbol.rawValue)' compares sizes; \(written) matches text: use == or != with a quoted regex, e.g. \(example)")
        default:
            throw error("expected == or != after \(written), e.g. \(example), found \(token.quoted)")
        }
    }

    /// Reads `( "string" )` after a condition name; returns the string token.
    private mutating func parseParenthesizedString(after written: String, example: String) throws(FilterSyntaxError) -> FilterToken {
        guard token.isSymbol(.leftParenthesis) else {
            throw error("expected '(' after \(written): write \(example)")
        }
        try advance()
        guard case .string = token.kind else {
            throw error("expected a quoted string in \(written)(...), e.g. \(example), found \(token.quoted)")
        }
        let argument = token
        try advance()
        guard token.isSymbol(.rightParenthesis) else {
            throw error("expected ')' after the argument of \(written), found \(token.quoted)")
        }
        try advance()
        return argument
    }

    /// Reads the quoted regex after `==`/`!=`; returns its token.
    private mutating func regexOperand(for written: String, example: String) throws(FilterSyntaxError) -> FilterToken {
        switch token.kind {
        case .string:
            let operand = token
            try advance()
            return operand
        case .size(_, let text):
            throw error("\(written) matches text: quote the value as a regex, e.g. \(written) == '\(text)'")
        default:
            throw error("expected a quoted regex, e.g. \(example), found \(token.quoted)")
        }
    }

    private mutating func sizeOperand(for written: String, operator symbol: String, example: String) throws(FilterSyntaxError) -> Int {
        switch token.kind {
        case .size(let size, _):
            try advance()
            return size
        case .string(let text, _) where text.first.map({ $0.isASCII && $0.isNumber }) == true:
            throw error("write the size without quotes, e.g. \(written) \(symbol) \(text)")
        default:
            throw error("expected a size such as 10M after \(symbol) (K, M and G are 1024, 1024², 1024³ bytes), found \(token.quoted)")
        }
    }

    private func compile(_ operand: FilterToken) throws(FilterSyntaxError) -> FilterPattern {
        guard case .string(let source, let quote) = operand.kind else { preconditionFailure("not a string token") }
        do {
            return try FilterPattern(source)
        } catch {
            throw self.error("invalid regular expression \(quote)\(source)\(quote): \(error.reason)", at: operand.start)
        }
    }

    /// `remote-ip`: one address, a network (CIDR) or a regex.
    private func addressMatch(_ operand: FilterToken) throws(FilterSyntaxError) -> FilterAddressMatch {
        guard case .string(let text, _) = operand.kind else { preconditionFailure("not a string token") }
        if let slash = text.firstIndex(of: "/"), let address = FilterIPAddress(text[..<slash]) {
            let prefix = text[text.index(after: slash)...]
            guard let length = Int(prefix), prefix.allSatisfy({ $0.isASCII && $0.isNumber }), (0...address.bitWidth).contains(length) else {
                throw error(
                    "\"\(text)\" is not a network: the prefix length after '/' is a number from 0 to \(address.bitWidth) for \(address.family == .v4 ? "IPv4, e.g. '10.0.0.0/8'" : "IPv6, e.g. '2001:db8::/32'")",
                    at: operand.start)
            }
            return .network(address.masked(to: length), prefixLength: length)
        }
        if let address = FilterIPAddress(text) {
            return .address(address.unmapped)
        }
        return .pattern(try compile(operand))
    }

    // MARK: - block = "{" { action ";" } "}"

    private mutating func parseBlock() throws(FilterSyntaxError) -> [FilterAction] {
        let opening = token.start
        try advance()
        var actions: [FilterAction] = []
        var final: String?
        while !token.isSymbol(.rightBrace) {
            if token.kind == .end {
                throw error("expected '}' to close the actions opened at line \(opening.line), column \(opening.column)")
            }
            if case .identifier = token.kind, peek()?.isSymbol(.colon) == true {
                throw error("expected '}' to close the actions opened at line \(opening.line), column \(opening.column) before the next filter")
            }
            if let final {
                throw error("\(final) ends the evaluation, so nothing after it would run: move these actions before \(final)")
            }
            let (action, written) = try parseAction()
            actions.append(action)
            if action.isFinal { final = written }
        }
        try advance()
        return actions
    }

    // MARK: - action = name "(" [ string { "," string } ] ")" ";"

    private mutating func parseAction() throws(FilterSyntaxError) -> (FilterAction, String) {
        guard case .identifier(let written) = token.kind else {
            throw error("expected an action such as quarantine(\"Policy\"); or the '}' that ends the actions, found \(token.quoted)")
        }
        let lowered = written.lowercased()
        guard let name = FilterActionName(rawValue: lowered) else {
            if lowered == "if" {
                throw error("an 'if' inside the actions is not supported: write it as a filter of its own")
            }
            if FilterConditionName(rawValue: lowered) != nil {
                throw error("\"\(written)\" is a condition, not an action: conditions go between 'if' and '{'")
            }
            if let suggestion = FilterSpelling.suggestion(for: written, among: FilterActionName.allCases.map(\.rawValue)) {
                throw error("unknown action \"\(written)\"; did you mean \"\(suggestion)\"?")
            }
            throw error("unknown action \"\(written)\"; the actions are \(FilterActionName.list)")
        }
        let nameToken = token
        try advance()
        guard token.isSymbol(.leftParenthesis) else {
            throw error("expected '(' after \(written): write \(name.usage)")
        }
        try advance()
        var arguments: [(value: String, token: FilterToken)] = []
        if !token.isSymbol(.rightParenthesis) {
            while true {
                guard case .string(let value, _) = token.kind else {
                    throw error("the arguments of \(written) are quoted strings: write \(name.usage), found \(token.quoted)")
                }
                arguments.append((value, token))
                try advance()
                if token.isSymbol(.comma) {
                    try advance()
                    continue
                }
                if token.isSymbol(.rightParenthesis) { break }
                throw error("expected ',' or ')' after the argument of \(written), found \(token.quoted)")
            }
        }
        let closing = token
        try advance()
        guard name.arity.contains(arguments.count) else {
            throw error("\(written) \(name.arityText): write \(name.usage)", at: nameToken.start)
        }
        let shown = written + (name.arity.upperBound == 0 ? "()" : "(...)")
        let action = try makeAction(name, arguments)
        guard token.isSymbol(.semicolon) else {
            throw error("expected ';' after \(shown), found \(token.quoted)", at: closing.end)
        }
        try advance()
        return (action, shown)
    }

    private func makeAction(_ name: FilterActionName, _ arguments: [(value: String, token: FilterToken)]) throws(FilterSyntaxError) -> FilterAction {
        func argument(_ index: Int) -> String { arguments[index].value }
        switch name {
        case .quarantine:
            return .quarantine(try quarantineName(arguments[0]))
        case .duplicateQuarantine:
            return .duplicateQuarantine(try quarantineName(arguments[0]))
        case .drop: return .drop
        case .bounce: return .bounce
        case .deliver: return .deliver
        case .skipFilters: return .skipFilters
        case .insertHeader:
            try validateHeaderName(argument(0), at: arguments[0].token)
            try validateText(argument(1), at: arguments[1].token, what: "a header value")
            return .insertHeader(name: argument(0), value: argument(1))
        case .stripHeader:
            try validateHeaderName(argument(0), at: arguments[0].token)
            return .stripHeader(argument(0))
        case .altRcptTo:
            try validateAddress(argument(0), at: arguments[0].token)
            return .alternateRecipient(argument(0))
        case .notify:
            try validateAddress(argument(0), at: arguments[0].token)
            if arguments.count > 1 {
                try validateText(argument(1), at: arguments[1].token, what: "a subject")
            }
            return .notify(recipient: argument(0), subject: arguments.count > 1 ? argument(1) : nil)
        case .logEntry:
            guard !argument(0).isEmpty else {
                throw error("log-entry needs some text, e.g. log-entry(\"partner mail\")", at: arguments[0].token.start)
            }
            try validateText(argument(0), at: arguments[0].token, what: "a log entry")
            return .logEntry(argument(0))
        }
    }

    // MARK: - Argument checks

    private func quarantineName(_ argument: (value: String, token: FilterToken)) throws(FilterSyntaxError) -> String {
        let name = argument.value
        guard !name.isEmpty else {
            throw error("the quarantine name is empty: write e.g. quarantine(\"Policy\")", at: argument.token.start)
        }
        try validateText(name, at: argument.token, what: "a quarantine name")
        guard let allowed = allowedQuarantines, !allowed.contains(name) else { return name }
        let known = allowed.sorted()
        if let sameLetters = known.first(where: { $0.lowercased() == name.lowercased() }) {
            throw error("unknown quarantine \"\(name)\"; did you mean \"\(sameLetters)\"? (quarantine names are case-sensitive)", at: argument.token.start)
        }
        if let suggestion = FilterSpelling.suggestion(for: name, among: known) {
            throw error("unknown quarantine \"\(name)\"; did you mean \"\(suggestion)\"?", at: argument.token.start)
        }
        if known.isEmpty {
            throw error("unknown quarantine \"\(name)\": no quarantines are configured", at: argument.token.start)
        }
        throw error("unknown quarantine \"\(name)\"; the configured quarantines are \(known.map { "\"\($0)\"" }.joined(separator: ", "))", at: argument.token.start)
    }

    /// RFC 5322 §3.6.8 field-name: printable ASCII except ':'.
    private func validateHeaderName(_ name: String, at token: FilterToken) throws(FilterSyntaxError) {
        guard !name.isEmpty, name.unicodeScalars.allSatisfy({ (33...126).contains($0.value) && $0 != ":" }) else {
            throw error("\"\(name)\" is not a header name: use letters, digits and '-' without spaces or ':', e.g. \"X-Scanned\"", at: token.start)
        }
    }

    /// No control characters except tab (they could break the header or the log line).
    private func validateText(_ text: String, at token: FilterToken, what: String) throws(FilterSyntaxError) {
        if let bad = text.unicodeScalars.first(where: { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F }) {
            throw error("\(what) cannot contain the control character \(FilterLexer.describe(bad))", at: token.start)
        }
    }

    private func validateAddress(_ address: String, at token: FilterToken) throws(FilterSyntaxError) {
        let scalars = address.unicodeScalars
        let valid = !scalars.contains { $0.properties.isWhitespace || $0.value < 0x20 || $0 == "<" || $0 == ">" || $0 == "," }
            && address.lastIndex(of: "@").map { $0 != address.startIndex && address.index(after: $0) != address.endIndex } == true
        guard valid else {
            throw error("\"\(address)\" is not an email address: write it as name@example.com, without angle brackets", at: token.start)
        }
    }
}
