/// Why `HeaderRewriter.rewrite` refused a field. Compared by `code`.
public struct HeaderRewriteError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was wrong.
    public enum Code: Hashable, Sendable {
        /// Empty, or not printable ASCII without ":" (RFC 5322 §3.6.8 ftext).
        case invalidFieldName
        /// Holds CR, LF or NUL, which would end the field early or inject another one.
        case invalidFieldValue
    }

    public let code: Code
    /// A sentence naming the field and what to change.
    public let reason: String

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String { reason }
}

/// Rewrites the header section of a raw message for filter actions
/// (insert-header, strip-header) without touching the body: the bytes after
/// the header section are copied as they are, and so are the fields kept.
public enum HeaderRewriter {
    /// Inserts `inserting` at the top of the header section, in the order
    /// given, and removes every field whose name is in `stripping`
    /// (case-insensitive), continuation lines included (RFC 5322 §2.2.3).
    ///
    /// Inserted fields end with CRLF, or with LF when the message's first
    /// line ends with a bare LF; a field longer than 78 octets is folded at
    /// white space (RFC 5322 §2.1.1, §2.2.3). Values are written as given:
    /// non-ASCII text needs RFC 2047 encoding unless the message travels
    /// with SMTPUTF8 (RFC 6532). The header section ends at the first empty
    /// line or at the first line that is not a field, as `MailMessage` reads it.
    ///
    /// - Throws: `HeaderRewriteError` when a name is not a valid field name
    ///   or a value holds CR, LF or NUL; nothing is rewritten then.
    public static func rewrite(_ raw: [UInt8], inserting: [(name: String, value: String)],
                               stripping: [String]) throws(HeaderRewriteError) -> [UInt8] {
        for field in inserting {
            try validateName(field.name)
            if field.value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }) {
                throw HeaderRewriteError(code: .invalidFieldValue,
                                         reason: "header \(field.name) value holds CR, LF or NUL; remove them before inserting")
            }
        }
        for name in stripping { try validateName(name) }

        let lineEnding: [UInt8]
        if let firstLF = raw.firstIndex(of: 0x0A), firstLF == 0 || raw[firstLF - 1] != 0x0D {
            lineEnding = [0x0A]
        } else {
            lineEnding = [0x0D, 0x0A]
        }
        var output: [UInt8] = []
        output.reserveCapacity(raw.count + inserting.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 8 })
        for field in inserting {
            appendFolded(name: field.name, value: field.value, lineEnding: lineEnding, to: &output)
        }

        let strip = stripping.map { Array($0.utf8) }
        var index = 0
        var copyFrom = 0        // start of the kept bytes not yet copied
        var removing = false    // inside a field being removed
        var sawField = false
        let end = raw.count
        while index < end {
            var lineEnd = index
            while lineEnd < end, raw[lineEnd] != 0x0A { lineEnd += 1 }
            var contentEnd = lineEnd
            if contentEnd > index, raw[contentEnd - 1] == 0x0D { contentEnd -= 1 }
            if contentEnd == index { break }  // the empty line: the body follows
            let next = min(lineEnd + 1, end)
            let first = raw[index]
            if first == 0x20 || first == 0x09 {
                // A continuation line goes with its field. One with no field before it
                // (which MailMessage ignores) is dropped: it would fold into an inserted field.
                if !sawField { removing = true }
            } else if let nameEnd = fieldNameEnd(raw, from: index, to: contentEnd) {
                let name = raw[index..<nameEnd]
                removing = strip.contains { ASCII.caseInsensitiveEqual($0, name) }
                sawField = true
            } else {
                break  // not a field: the body starts here
            }
            if removing {
                output.append(contentsOf: raw[copyFrom..<index])
                copyFrom = next
            }
            index = next
        }
        output.append(contentsOf: raw[copyFrom...])
        return output
    }

    /// Where the first field called `name` (case-insensitive) is in the header
    /// section of `raw`: its first octet, its ":" and the end of its last line
    /// (line break included, continuation lines included). The header section
    /// ends where `rewrite` says it does; nil when there is no such field.
    static func firstField(named name: String, in raw: [UInt8]) -> (start: Int, colon: Int, end: Int)? {
        let wanted = Array(name.utf8)
        var found: (start: Int, colon: Int)?
        var index = 0
        let end = raw.count
        while index < end {
            var lineEnd = index
            while lineEnd < end, raw[lineEnd] != 0x0A { lineEnd += 1 }
            var contentEnd = lineEnd
            if contentEnd > index, raw[contentEnd - 1] == 0x0D { contentEnd -= 1 }
            if contentEnd == index { break }
            let next = min(lineEnd + 1, end)
            let first = raw[index]
            if first == 0x20 || first == 0x09 {
                index = next
                continue
            }
            guard let nameEnd = fieldNameEnd(raw, from: index, to: contentEnd) else { break }
            if let found { return (found.start, found.colon, index) }
            if ASCII.caseInsensitiveEqual(wanted, raw[index..<nameEnd]) {
                var colon = nameEnd
                while raw[colon] != 0x3A { colon += 1 }
                found = (index, colon)
            }
            index = next
        }
        return found.map { ($0.start, $0.colon, index) }
    }

    /// The end of the field name when the line is `name [WSP] ":" ...`, else nil.
    private static func fieldNameEnd(_ raw: [UInt8], from start: Int, to end: Int) -> Int? {
        var index = start
        while index < end, raw[index] > 0x20, raw[index] < 0x7F, raw[index] != 0x3A { index += 1 }
        let nameEnd = index
        while index < end, raw[index] == 0x20 || raw[index] == 0x09 { index += 1 }
        guard nameEnd > start, index < end, raw[index] == 0x3A else { return nil }
        return nameEnd
    }

    static func validateName(_ name: String) throws(HeaderRewriteError) {
        guard !name.isEmpty, name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != 0x3A }) else {
            throw HeaderRewriteError(code: .invalidFieldName,
                                     reason: "\"\(name)\" is not a header field name: use printable ASCII without spaces or \":\"")
        }
    }

    private static func appendFolded(name: String, value: String, lineEnding: [UInt8], to output: inout [UInt8]) {
        let limit = 78
        output.append(contentsOf: name.utf8)
        output.append(UInt8(ascii: ":"))
        let bytes = Array(value.utf8)
        guard !bytes.isEmpty else {
            output.append(contentsOf: lineEnding)
            return
        }
        output.append(UInt8(ascii: " "))
        var lineLength = name.utf8.count + 2
        var start = 0
        while bytes.count - start + lineLength > limit {
            // The last white space that fits, with something other than white space before it.
            var fold: Int?
            var index = start + 1
            while index < bytes.count {
                if ASCII.isWhitespace(bytes[index]), !ASCII.isWhitespace(bytes[index - 1]) {
                    if fold == nil || index - start + lineLength <= limit { fold = index }
                    if index - start + lineLength > limit { break }
                }
                index += 1
            }
            guard let at = fold else { break }
            output.append(contentsOf: bytes[start..<at])
            output.append(contentsOf: lineEnding)
            start = at
            lineLength = 0
        }
        output.append(contentsOf: bytes[start...])
        output.append(contentsOf: lineEnding)
    }
}
