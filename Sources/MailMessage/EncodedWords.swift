/// RFC 2047 encoded-words (`=?charset?B?...?=`, `=?charset?Q?...?=`) in
/// header values and in filename parameters.
///
/// Lenient like the common mail clients: words are decoded even when glued
/// to other text, Q text may hold spaces, a `*language` suffix on the charset
/// is dropped (RFC 2231 §5), white space between two encoded-words is removed
/// (RFC 2047 §6.2), and adjacent words in the same charset are decoded
/// together so a character split across two words survives. Linear time:
/// every scan stops at the next `?`.
public enum EncodedWords {
    /// `text` with its encoded-words decoded; text without `=?` is returned as it is.
    public static func decode(_ text: String) -> String {
        var text = text
        return text.withUTF8 { bytes in
            guard containsMarker(bytes) else { return nil }
            return decode(bytes)
        } ?? text
    }

    private static func containsMarker(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard bytes.count >= 2 else { return false }
        for index in 0..<(bytes.count - 1) where bytes[index] == UInt8(ascii: "=") && bytes[index + 1] == UInt8(ascii: "?") {
            return true
        }
        return false
    }

    private struct Word {
        var charset: Charset
        var charsetName: String
        var bytes: [UInt8]
        var end: Int
    }

    private static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var output = String()
        output.reserveCapacity(bytes.count)
        var literalStart = 0          // start of the text not yet copied to output
        var previousWordEnd = -1      // where the last encoded-word ended
        var pending: [UInt8] = []     // decoded octets of consecutive words in one charset
        var pendingCharset: Charset?
        var pendingName = ""

        func flushPending() {
            if let charset = pendingCharset {
                output += charset.decode(pending)
                pending.removeAll(keepingCapacity: true)
                pendingCharset = nil
            }
        }

        var index = 0
        while index + 1 < bytes.count {
            guard bytes[index] == UInt8(ascii: "="), bytes[index + 1] == UInt8(ascii: "?"),
                  let word = parseWord(bytes, at: index)
            else {
                index += 1
                continue
            }
            // The text between the previous word (or the start) and this one:
            // dropped when it is white space between two words (RFC 2047 §6.2).
            let gap = UnsafeBufferPointer(rebasing: bytes[literalStart..<index])
            let dropGap = previousWordEnd == literalStart && gap.allSatisfy(ASCII.isWhitespace)
            if !dropGap, !gap.isEmpty {
                flushPending()
                output += String(decoding: gap, as: UTF8.self)
            }
            if pendingCharset != nil, ASCII.caseInsensitiveEqual(word.charsetName.utf8, pendingName.utf8) {
                pending += word.bytes
            } else {
                flushPending()
                pendingCharset = word.charset
                pendingName = word.charsetName
                pending = word.bytes
            }
            index = word.end
            literalStart = index
            previousWordEnd = index
        }
        flushPending()
        if literalStart < bytes.count {
            output += String(decoding: UnsafeBufferPointer(rebasing: bytes[literalStart...]), as: UTF8.self)
        }
        return output
    }

    /// Parses `=?charset?e?text?=` at `start`; nil when it is not one.
    private static func parseWord(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> Word? {
        let end = bytes.count
        var index = start + 2
        let charsetStart = index
        while index < end, bytes[index] != UInt8(ascii: "?") {
            let byte = bytes[index]
            if byte <= 0x20 || byte >= 0x7F || index - charsetStart > 64 { return nil }
            index += 1
        }
        guard index < end, index > charsetStart, index + 2 < end, bytes[index + 2] == UInt8(ascii: "?") else { return nil }
        let charsetEnd = index
        let encoding = ASCII.lower(bytes[index + 1])
        guard encoding == UInt8(ascii: "b") || encoding == UInt8(ascii: "q") else { return nil }
        let textStart = index + 3
        index = textStart
        while index < end, bytes[index] != UInt8(ascii: "?") { index += 1 }
        guard index + 1 < end, bytes[index + 1] == UInt8(ascii: "=") else { return nil }
        let text = UnsafeBufferPointer(rebasing: bytes[textStart..<index])
        let decoded = encoding == UInt8(ascii: "b") ? Base64.decode(text) : QuotedPrintable.decode(text, underscoreIsSpace: true)
        // "utf-8*en" names a language (RFC 2231 §5); drop it.
        var nameEnd = charsetStart
        while nameEnd < charsetEnd, bytes[nameEnd] != UInt8(ascii: "*") { nameEnd += 1 }
        let name = String(decoding: UnsafeBufferPointer(rebasing: bytes[charsetStart..<nameEnd]), as: UTF8.self)
        return Word(charset: Charset(name: name), charsetName: name, bytes: decoded, end: index + 2)
    }
}
