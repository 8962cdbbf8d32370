import MailMessage

/// `Subject` and `Message-ID` of a raw message, for listing. Reads only the header
/// section (up to the first empty line, at most `QuarantineStoreOptions.headerScanBytes`),
/// unfolds (RFC 5322 §2.2.3), and decodes RFC 2047 encoded-words in the subject.
/// Header bytes that are not UTF-8 are read as ISO-8859-1.
struct HeaderSummary: Hashable, Sendable {
    /// Longest value kept, in characters (RFC 5322 §2.1.1 line limit).
    static let maxValueCharacters = 998

    var subject: String?
    var messageID: String?

    init(subject: String?, messageID: String?) {
        self.subject = subject
        self.messageID = messageID
    }

    init(scanning raw: [UInt8], limit: Int = QuarantineStoreOptions.headerScanBytes) {
        let end = min(raw.count, limit)
        var index = 0
        var subject: [UInt8]?
        var messageID: [UInt8]?
        // The field being read: which of the two (if any), and its unfolded value so far.
        var current: Int = 0          // 0: other field, 1: Subject, 2: Message-ID
        var value: [UInt8] = []
        func finish() {
            if current == 1, subject == nil { subject = value }
            if current == 2, messageID == nil { messageID = value }
            current = 0
            value.removeAll(keepingCapacity: true)
        }
        while index < end {
            var lineEnd = index
            while lineEnd < end, raw[lineEnd] != 0x0A { lineEnd += 1 }
            var contentEnd = lineEnd
            if contentEnd > index, raw[contentEnd - 1] == 0x0D { contentEnd -= 1 }
            if contentEnd == index { break }                       // empty line: end of the header section
            let first = raw[index]
            if first == 0x20 || first == 0x09 {
                if current != 0 { value.append(contentsOf: raw[index..<contentEnd]) }   // continuation line
            } else {
                finish()
                if let colon = raw[index..<contentEnd].firstIndex(of: UInt8(ascii: ":")) {
                    let name = raw[index..<colon]
                    if Self.equalsIgnoringCase(name, "subject") { current = 1 }
                    if Self.equalsIgnoringCase(name, "message-id") { current = 2 }
                    if current != 0 { value.append(contentsOf: raw[(colon + 1)..<contentEnd]) }
                }
            }
            index = lineEnd + 1
        }
        finish()
        self.subject = subject.map { Self.clip(EncodedWords.decode(Self.text($0))) }
        self.messageID = messageID.map { Self.clip(Self.text($0)) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    private static func equalsIgnoringCase(_ bytes: ArraySlice<UInt8>, _ name: String) -> Bool {
        var trimmed = bytes[...]
        while let last = trimmed.last, last == 0x20 || last == 0x09 { trimmed = trimmed.dropLast() }
        guard trimmed.count == name.utf8.count else { return false }
        return zip(trimmed, name.utf8).allSatisfy { ($0 &- 0x41 < 26 ? $0 | 0x20 : $0) == $1 }
    }

    private static func text(_ bytes: [UInt8]) -> String {
        let value: String
        if let utf8 = String(validating: bytes, as: UTF8.self) {
            value = utf8
        } else {
            value = String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        }
        return value.trimmingWhitespace()
    }

    private static func clip(_ text: String) -> String {
        text.count > maxValueCharacters ? String(text.prefix(maxValueCharacters)) : text
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { $0 != " " && $0 != "\t" }) else { return "" }
        let last = scalars.lastIndex(where: { $0 != " " && $0 != "\t" })!
        return String(scalars[first...last])
    }
}
