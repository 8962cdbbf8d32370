import NIOCore

/// Parses one SMTP command line (without its CRLF) into an ``SMTPCommand``.
///
/// The grammar is RFC 5321 §4.1 (commands), §4.1.2 (paths, `Mail-parameters`)
/// with the ESMTP parameters this server announces: `SIZE` (RFC 1870),
/// `BODY=7BIT|8BITMIME|BINARYMIME` (RFC 6152, RFC 3030) and `SMTPUTF8`
/// (RFC 6531 §3.4). The parser is pure: no I/O, no state.
///
/// A CR, LF or NUL anywhere in the line is refused with `501 5.5.4`
/// (RFC 5321 §2.3.8); the framer normally never hands over such a line, but
/// the parser does not rely on it.
public enum SMTPCommandParser {
    /// The longest verb kept in ``SMTPCommand/unknown(verb:)``.
    static let maxVerbLength = 16

    /// Parses one command line; `line` holds the readable bytes without CRLF.
    /// A verb in `extensionVerbs` (upper-case) that is not a standard verb
    /// becomes ``SMTPCommand/extended(verb:argument:)``; any other unknown
    /// verb is ``SMTPCommand/unknown(verb:)``.
    public static func parse(_ line: ByteBuffer, extensionVerbs: Set<String> = []) throws(SMTPCommandParseError) -> SMTPCommand {
        try parse(bytes: Array(line.readableBytesView), extensionVerbs: extensionVerbs)
    }

    /// Parses one command line given as text (convenience for tests and tools).
    public static func parse(_ line: String, extensionVerbs: Set<String> = []) throws(SMTPCommandParseError) -> SMTPCommand {
        try parse(bytes: Array(line.utf8), extensionVerbs: extensionVerbs)
    }

    /// True when every byte of `text` is 7-bit ASCII.
    public static func isASCII(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 < 0x80 }
    }

    // MARK: - Command = verb [SP argument]

    static func parse(bytes: [UInt8], extensionVerbs: Set<String> = []) throws(SMTPCommandParseError) -> SMTPCommand {
        if bytes.contains(where: { $0 == 0 || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }) {
            throw SMTPCommandParseError(SMTPServerReplies.invalidCharacter)
        }
        let verbEnd = bytes.firstIndex(of: UInt8(ascii: " ")) ?? bytes.endIndex
        let verbBytes = bytes[..<verbEnd]
        guard !verbBytes.isEmpty,
              verbBytes.count <= maxVerbLength,
              verbBytes.allSatisfy(isAlpha)
        else {
            let printable = verbBytes.prefix(maxVerbLength).map { isVisibleASCII($0) ? $0 : UInt8(ascii: "?") }
            throw SMTPCommandParseError(SMTPServerReplies.unknownCommand(String(decoding: printable, as: UTF8.self).uppercased()))
        }
        let verb = String(decoding: verbBytes, as: UTF8.self).uppercased()
        let argument = verbEnd < bytes.endIndex ? Array(bytes[(verbEnd + 1)...]) : []

        switch verb {
        case "EHLO": return .ehlo(try parseDomainArgument(argument, verb: verb))
        case "HELO": return .helo(try parseDomainArgument(argument, verb: verb))
        case "MAIL": return try parseMail(argument)
        case "RCPT": return try parseRcpt(argument)
        case "DATA": try requireNoArgument(argument, syntax: "DATA"); return .data
        case "RSET": try requireNoArgument(argument, syntax: "RSET"); return .rset
        case "QUIT": try requireNoArgument(argument, syntax: "QUIT"); return .quit
        case "STARTTLS": try requireNoArgument(argument, syntax: "STARTTLS"); return .startTLS
        case "NOOP": return .noop
        case "BDAT": return try parseBdat(argument)
        case "VRFY":
            let text = try decodeUTF8(trimmed(argument))
            guard !text.isEmpty else { throw SMTPCommandParseError(SMTPServerReplies.syntax("VRFY address")) }
            return .vrfy(text)
        case "HELP":
            let text = try decodeUTF8(trimmed(argument))
            return .help(text.isEmpty ? nil : text)
        default:
            if extensionVerbs.contains(verb) {
                return .extended(verb: verb, argument: try decodeUTF8(argument))
            }
            return .unknown(verb: verb)
        }
    }

    // MARK: - ehlo = "EHLO" SP ( Domain / address-literal )

    static func parseDomainArgument(_ argument: [UInt8], verb: String) throws(SMTPCommandParseError) -> String {
        let name = trimmed(argument)
        guard !name.isEmpty, name.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw SMTPCommandParseError(SMTPServerReplies.syntax("\(verb) hostname"))
        }
        return String(decoding: name, as: UTF8.self)
    }

    // MARK: - mail = "MAIL FROM:" Reverse-path [SP Mail-parameters]

    static func parseMail(_ argument: [UInt8]) throws(SMTPCommandParseError) -> SMTPCommand {
        let syntax = SMTPServerReplies.syntax("MAIL FROM:<address>")
        guard let afterPrefix = stripPrefix("FROM:", of: argument) else { throw SMTPCommandParseError(syntax) }
        let (path, rest) = try parsePath(afterPrefix, allowNull: true, syntax: syntax)
        let parameters = try parseParameters(rest, syntax: syntax)
        for (key, value) in parameters {
            switch key {
            case "SIZE":
                guard !value.isEmpty, value.count <= 18, value.utf8.allSatisfy(isDigit) else {
                    throw SMTPCommandParseError(SMTPServerReplies.badParameterValue("SIZE"))
                }
            case "BODY":
                guard ["7BIT", "8BITMIME", "BINARYMIME"].contains(value.uppercased()) else {
                    throw SMTPCommandParseError(SMTPServerReplies.badParameterValue("BODY"))
                }
            case "SMTPUTF8":
                guard value.isEmpty else { throw SMTPCommandParseError(SMTPServerReplies.badParameterValue("SMTPUTF8")) }
            default:
                throw SMTPCommandParseError(SMTPServerReplies.unsupportedParameter(key))
            }
        }
        var normalized = parameters
        if let body = parameters["BODY"] { normalized["BODY"] = body.uppercased() }
        if !isASCII(path), normalized["SMTPUTF8"] == nil {
            throw SMTPCommandParseError(SMTPServerReplies.nonASCIIWithoutSMTPUTF8)
        }
        return .mail(reversePath: path, parameters: normalized)
    }

    // MARK: - rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path ) [SP Rcpt-parameters]

    static func parseRcpt(_ argument: [UInt8]) throws(SMTPCommandParseError) -> SMTPCommand {
        let syntax = SMTPServerReplies.syntax("RCPT TO:<address>")
        guard let afterPrefix = stripPrefix("TO:", of: argument) else { throw SMTPCommandParseError(syntax) }
        let (path, rest) = try parsePath(afterPrefix, allowNull: false, syntax: syntax)
        let parameters = try parseParameters(rest, syntax: syntax)
        if let key = parameters.keys.sorted().first {
            throw SMTPCommandParseError(SMTPServerReplies.unsupportedParameter(key))
        }
        return .rcpt(forwardPath: path, parameters: parameters)
    }

    // MARK: - bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]

    static func parseBdat(_ argument: [UInt8]) throws(SMTPCommandParseError) -> SMTPCommand {
        let syntax = SMTPServerReplies.syntax("BDAT size [LAST]")
        let words = trimmed(argument).split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
        guard (1...2).contains(words.count),
              words[0].count <= 18, words[0].allSatisfy(isDigit),
              let size = Int(String(decoding: words[0], as: UTF8.self))
        else { throw SMTPCommandParseError(syntax) }
        var last = false
        if words.count == 2 {
            guard String(decoding: words[1], as: UTF8.self).uppercased() == "LAST" else { throw SMTPCommandParseError(syntax) }
            last = true
        }
        return .bdat(size: size, last: last)
    }

    // MARK: - Path = "<" [ A-d-l ":" ] Mailbox ">"

    /// Returns the mailbox (source route dropped, RFC 5321 §4.1.2 and
    /// Appendix C) and the bytes after `>`.
    static func parsePath(_ bytes: ArraySlice<UInt8>, allowNull: Bool, syntax: SMTPReply) throws(SMTPCommandParseError) -> (String, ArraySlice<UInt8>) {
        var index = bytes.startIndex
        while index < bytes.endIndex, bytes[index] == UInt8(ascii: " ") { index += 1 }  // tolerate "FROM: <a@b>"
        guard index < bytes.endIndex, bytes[index] == UInt8(ascii: "<") else { throw SMTPCommandParseError(syntax) }
        let innerStart = index + 1
        var cursor = innerStart
        var inQuotes = false
        var closing: Int?
        while cursor < bytes.endIndex {
            let byte = bytes[cursor]
            if inQuotes, byte == UInt8(ascii: "\\") {
                cursor += 2
                continue
            }
            if byte == UInt8(ascii: "\"") {
                inQuotes.toggle()
            } else if !inQuotes, byte == UInt8(ascii: ">") {
                closing = cursor
                break
            } else if !inQuotes, byte == UInt8(ascii: "<") {
                throw SMTPCommandParseError(syntax)
            }
            cursor += 1
        }
        guard let closing else { throw SMTPCommandParseError(syntax) }
        var inner = bytes[innerStart..<closing]
        let rest = bytes[(closing + 1)...]
        if rest.first.map({ $0 != UInt8(ascii: " ") }) ?? false { throw SMTPCommandParseError(syntax) }

        if inner.first == UInt8(ascii: "@") {
            // A-d-l: "@one,@two:" — accepted and ignored (RFC 5321 §4.1.2, Appendix C).
            guard let colon = inner.firstIndex(of: UInt8(ascii: ":")) else { throw SMTPCommandParseError(syntax) }
            inner = inner[(colon + 1)...]
        }
        if inner.isEmpty {
            guard allowNull else { throw SMTPCommandParseError(syntax) }
            return ("", rest)
        }
        guard isValidMailbox(inner, allowPostmaster: !allowNull) else { throw SMTPCommandParseError(syntax) }
        return (try decodeUTF8(inner), rest)
    }

    /// Mailbox = Local-part "@" ( Domain / address-literal ); UTF-8 is allowed
    /// here and refused later without SMTPUTF8 (RFC 6531 §3.3).
    static func isValidMailbox(_ bytes: ArraySlice<UInt8>, allowPostmaster: Bool) -> Bool {
        var at: Int?
        var inQuotes = false
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if inQuotes, byte == UInt8(ascii: "\\") {
                index += 2
                continue
            }
            if byte == UInt8(ascii: "\"") { inQuotes.toggle() }
            if !inQuotes, byte == UInt8(ascii: "@") { at = index }
            index += 1
        }
        guard !inQuotes else { return false }
        guard let at else {
            return allowPostmaster && String(decoding: bytes, as: UTF8.self).lowercased() == "postmaster"
        }
        let local = bytes[bytes.startIndex..<at]
        let domain = bytes[(at + 1)...]
        guard !local.isEmpty, !domain.isEmpty, local.count <= 256, domain.count <= 255 else { return false }
        if local.first == UInt8(ascii: "\"") {
            guard local.count >= 2, local.last == UInt8(ascii: "\"") else { return false }
            if local.contains(where: { $0 < 0x20 || $0 == 0x7F }) { return false }
        } else {
            let forbidden: Set<UInt8> = Set("()<>[]\\,;:@\" ".utf8)
            if local.contains(where: { $0 < 0x20 || $0 == 0x7F || forbidden.contains($0) }) { return false }
        }
        if domain.first == UInt8(ascii: "[") {
            guard domain.last == UInt8(ascii: "]"), domain.count > 2 else { return false }
            return domain.dropFirst().dropLast().allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "[") && $0 != UInt8(ascii: "]") && $0 != UInt8(ascii: "\\") }
        }
        return domain.allSatisfy { isAlpha($0) || isDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || $0 >= 0x80 }
    }

    // MARK: - Mail-parameters = esmtp-param *(SP esmtp-param); esmtp-param = esmtp-keyword ["=" esmtp-value]

    static func parseParameters(_ bytes: ArraySlice<UInt8>, syntax: SMTPReply) throws(SMTPCommandParseError) -> [String: String] {
        var result: [String: String] = [:]
        for word in bytes.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true) {
            let equals = word.firstIndex(of: UInt8(ascii: "="))
            let keyBytes = word[word.startIndex..<(equals ?? word.endIndex)]
            guard let first = keyBytes.first, isAlpha(first) || isDigit(first),
                  keyBytes.allSatisfy({ isAlpha($0) || isDigit($0) || $0 == UInt8(ascii: "-") })
            else { throw SMTPCommandParseError(syntax) }
            var value = ""
            if let equals {
                let valueBytes = word[(equals + 1)...]
                guard !valueBytes.isEmpty,
                      valueBytes.allSatisfy({ ($0 >= 33 && $0 <= 126 && $0 != UInt8(ascii: "=")) || $0 >= 0x80 })
                else { throw SMTPCommandParseError(syntax) }
                value = try decodeUTF8(valueBytes)
            }
            let key = String(decoding: keyBytes, as: UTF8.self).uppercased()
            guard result[key] == nil else { throw SMTPCommandParseError(SMTPServerReplies.duplicateParameter(key)) }
            result[key] = value
        }
        return result
    }

    // MARK: - Helpers

    static func requireNoArgument(_ argument: [UInt8], syntax: String) throws(SMTPCommandParseError) {
        guard trimmed(argument).isEmpty else { throw SMTPCommandParseError(SMTPServerReplies.syntax(syntax)) }
    }

    /// Case-insensitive `prefix` (like `FROM:`), returning what follows it.
    static func stripPrefix(_ prefix: String, of bytes: [UInt8]) -> ArraySlice<UInt8>? {
        let prefixBytes = Array(prefix.utf8)
        guard bytes.count >= prefixBytes.count else { return nil }
        for (offset, expected) in prefixBytes.enumerated() where asciiUppercased(bytes[offset]) != expected {
            return nil
        }
        return bytes[prefixBytes.count...]
    }

    static func trimmed<C: BidirectionalCollection<UInt8>>(_ bytes: C) -> C.SubSequence {
        let isSpace: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        let start = bytes.firstIndex(where: { !isSpace($0) }) ?? bytes.endIndex
        let end = bytes.lastIndex(where: { !isSpace($0) }).map { bytes.index(after: $0) } ?? bytes.endIndex
        return start < end ? bytes[start..<end] : bytes[bytes.endIndex..<bytes.endIndex]
    }

    static func decodeUTF8<C: Collection<UInt8>>(_ bytes: C) throws(SMTPCommandParseError) -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw SMTPCommandParseError(SMTPServerReplies.invalidUTF8)
        }
        return text
    }

    static func isAlpha(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }

    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    static func isVisibleASCII(_ byte: UInt8) -> Bool {
        byte > 0x20 && byte < 0x7F
    }

    static func asciiUppercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") ? byte - 32 : byte
    }
}
