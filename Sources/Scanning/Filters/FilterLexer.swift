/// Splits filter text into tokens on demand, so the first error in the text is
/// the one reported. Skips white space and `#` comments.
///
/// Line breaks are LF, CRLF or a lone CR. Strings do not span lines; inside
/// them `\\`, `\'` and `\"` stand for the character after the backslash and
/// every other backslash is kept as written, so `'\\.'` and `'\.'` are both
/// the regular expression `\.`.
struct FilterLexer {
    private let scalars: [Unicode.Scalar]
    private var index = 0
    private var line = 1
    private var column = 1
    /// Where the last token ended: errors at the end of the input point here.
    private var lastEnd = FilterSourcePosition(line: 1, column: 1)
    /// The filter being read, for error messages (set by the parser).
    var filter: String?

    init(_ text: String) {
        scalars = Array(text.unicodeScalars)
    }

    private var position: FilterSourcePosition { FilterSourcePosition(line: line, column: column) }

    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        let at = index + offset
        return at < scalars.count ? scalars[at] : nil
    }

    private mutating func advance() {
        let scalar = scalars[index]
        index += 1
        if scalar == "\n" || (scalar == "\r" && peek() != "\n") {
            line += 1
            column = 1
        } else {
            column += 1
        }
    }

    private static func isLineBreak(_ scalar: Unicode.Scalar) -> Bool { scalar == "\n" || scalar == "\r" }

    private static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || scalar == "\u{FEFF}"
    }

    static func isIdentifierStart(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || scalar == "_"
    }

    static func isIdentifierContinuation(_ scalar: Unicode.Scalar) -> Bool {
        isIdentifierStart(scalar) || ("0"..."9").contains(scalar) || scalar == "-"
    }

    private func error(_ message: String, at position: FilterSourcePosition) -> FilterSyntaxError {
        FilterSyntaxError(filter: filter, line: position.line, column: position.column, message: message)
    }

    /// The next token; `.end` (repeatedly) at the end of the input.
    mutating func next() throws(FilterSyntaxError) -> FilterToken {
        skipSpaceAndComments()
        guard let scalar = peek() else {
            return FilterToken(kind: .end, start: lastEnd, end: lastEnd)
        }
        let start = position
        let kind: FilterToken.Kind
        switch scalar {
        case "'", "\"":
            kind = try string(quote: scalar, start: start)
        case "0"..."9":
            kind = try size(start: start)
        case _ where Self.isIdentifierStart(scalar):
            var name = String.UnicodeScalarView()
            while let next = peek(), Self.isIdentifierContinuation(next) {
                name.append(next)
                advance()
            }
            kind = .identifier(String(name))
        default:
            kind = .symbol(try symbol(scalar, start: start))
        }
        lastEnd = position
        return FilterToken(kind: kind, start: start, end: lastEnd)
    }

    private mutating func skipSpaceAndComments() {
        while let scalar = peek() {
            if Self.isSpace(scalar) {
                advance()
            } else if scalar == "#" {
                while let next = peek(), !Self.isLineBreak(next) { advance() }
            } else {
                return
            }
        }
    }

    private mutating func string(quote: Unicode.Scalar, start: FilterSourcePosition) throws(FilterSyntaxError) -> FilterToken.Kind {
        advance()
        var value = String.UnicodeScalarView()
        while true {
            guard let scalar = peek(), !Self.isLineBreak(scalar) else {
                throw error(
                    "unterminated string: add the closing \(quote) on the same line (strings cannot span lines; write \\\(quote) for a quote inside)",
                    at: start)
            }
            advance()
            if scalar == quote { break }
            if scalar == "\\", let escaped = peek(), escaped == "\\" || escaped == "'" || escaped == "\"" {
                value.append(escaped)
                advance()
            } else {
                value.append(scalar)
            }
        }
        return .string(String(value), quote: Character(quote))
    }

    private mutating func size(start: FilterSourcePosition) throws(FilterSyntaxError) -> FilterToken.Kind {
        var digits = ""
        while let scalar = peek(), ("0"..."9").contains(scalar) {
            digits.unicodeScalars.append(scalar)
            advance()
        }
        if peek() == ".", let after = peek(1), ("0"..."9").contains(after) {
            throw error(decimalSizeAdvice(digits: digits), at: start)
        }
        var suffix = ""
        while let scalar = peek(), Self.isIdentifierContinuation(scalar) {
            suffix.unicodeScalars.append(scalar)
            advance()
        }
        let text = digits + suffix
        let multiplier: Int
        switch suffix {
        case "": multiplier = 1
        case "k", "K": multiplier = 1 << 10
        case "m", "M": multiplier = 1 << 20
        case "g", "G": multiplier = 1 << 30
        default:
            if let first = suffix.first, "kKmMgG".contains(first) {
                throw error("bad size suffix \"\(suffix)\" in \(text): write \(digits)\(first.uppercased()) (the suffixes are K, M and G; 1K = 1024 bytes)", at: start)
            }
            throw error("bad size suffix \"\(suffix)\" in \(text): use K, M or G, e.g. 10M (1K = 1024 bytes)", at: start)
        }
        guard let number = Int(digits), case let (value, overflow) = number.multipliedReportingOverflow(by: multiplier),
              !overflow, value <= FilterDefaults.maxSize
        else {
            throw error("the size \(text) is too large: the largest is 1024G", at: start)
        }
        return .size(value, text: text)
    }

    /// Reads the rest of a decimal size such as `1.5M` and says how to write it whole.
    private mutating func decimalSizeAdvice(digits: String) -> String {
        var fraction = ""
        advance()
        while let scalar = peek(), ("0"..."9").contains(scalar) {
            fraction.unicodeScalars.append(scalar)
            advance()
        }
        var suffix = ""
        while let scalar = peek(), Self.isIdentifierContinuation(scalar) {
            suffix.unicodeScalars.append(scalar)
            advance()
        }
        let written = "\(digits).\(fraction)\(suffix)"
        // The next smaller unit: 1.5M is 1536K, 1.5K is 1536 bytes.
        let smallerUnit = ["K": "", "M": "K", "G": "M"][suffix.uppercased()]
        if let smallerUnit, let value = Double(digits + "." + fraction) {
            let inSmallerUnit = value * 1024
            if inSmallerUnit < 1e12 {
                let about = inSmallerUnit == inSmallerUnit.rounded() ? "" : "about "
                return "sizes are whole numbers: write \(about)\(Int(inSmallerUnit.rounded()))\(smallerUnit) rather than \(written) (1K = 1024 bytes)"
            }
        }
        return "sizes are whole numbers with K, M or G, e.g. 1536K rather than 1.5M (1K = 1024 bytes)"
    }

    private mutating func symbol(_ scalar: Unicode.Scalar, start: FilterSourcePosition) throws(FilterSyntaxError) -> FilterToken.Symbol {
        let next = peek(1)
        let twoCharacters: FilterToken.Symbol? = switch (scalar, next) {
        case ("=", "="): .equal
        case ("!", "="): .notEqual
        case ("<", "="): .lessOrEqual
        case (">", "="): .greaterOrEqual
        default: nil
        }
        if let twoCharacters {
            advance()
            advance()
            return twoCharacters
        }
        if let single = FilterToken.Symbol(rawValue: String(scalar)) {
            advance()
            return single
        }
        let message: String
        switch scalar {
        case "=": message = "a single '=' is not an operator: write '==' to match"
        case "!": message = "write 'not' to negate a condition, or '!=' for \"does not match\""
        case "&": message = "write 'and' to combine conditions"
        case "|": message = "write 'or' to combine conditions"
        case "\u{2018}", "\u{2019}", "\u{201C}", "\u{201D}":
            message = "typographic quote \(Self.describe(scalar)): use straight quotes ' or \" around strings"
        default: message = "unexpected character \(Self.describe(scalar))"
        }
        throw error(message, at: start)
    }

    /// `'@'`, `'é' (U+00E9)` or `U+0007` for characters that do not print.
    static func describe(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        if scalar.isASCII {
            return scalar.value > 0x20 && scalar.value < 0x7F ? "'\(scalar)'" : code
        }
        let printable = !scalar.properties.isWhitespace && scalar.properties.generalCategory != .control
            && scalar.properties.generalCategory != .format && scalar.properties.generalCategory != .unassigned
            && scalar.properties.generalCategory != .nonspacingMark
        return printable ? "'\(scalar)' (\(code))" : code
    }
}
