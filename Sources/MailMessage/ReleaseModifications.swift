/// What a quarantine changes in a message it releases before the message
/// expires: a tag before the subject, one added header field, and
/// attachments replaced by a short notice. Applied to the raw message by
/// `apply(to:)`; everything not modified is copied byte for byte.
///
/// Encoded as JSON with the API's snake_case keys:
/// `{"subject_tag":"[RELEASED]","added_header":{"name":"X-Lazaret-Released","value":"by api:alice"},"strip_attachments":true}`;
/// every key is optional.
public struct ReleaseModifications: Hashable, Sendable, Codable {
    /// A header field to add at the top of the header section.
    public struct AddedHeader: Hashable, Sendable, Codable {
        /// A field name (RFC 5322 §3.6.8: printable ASCII, no space, no ":").
        public var name: String
        /// The field body, without CR or LF; folded when long. Non-ASCII text
        /// is written as given (RFC 6532).
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// Longest subject tag accepted, in Unicode scalars.
    public static let maxSubjectTagLength = 100
    /// Longest added header value accepted, in octets (it is folded, but
    /// header sections have limits at the other end too).
    public static let maxHeaderValueLength = 900

    /// Put before the subject with one space (`[RELEASED] original subject`);
    /// a Subject field is added when the message has none. Nil: subject kept.
    public var subjectTag: String?
    /// Added at the top of the header section. Nil: none.
    public var addedHeader: AddedHeader?
    /// Replace every attachment (see `isStrippedAttachment`) by a short
    /// text/plain part naming the file removed.
    public var stripAttachments: Bool

    public init(subjectTag: String? = nil, addedHeader: AddedHeader? = nil, stripAttachments: Bool = false) {
        self.subjectTag = subjectTag
        self.addedHeader = addedHeader
        self.stripAttachments = stripAttachments
    }

    /// True when `apply(to:)` changes nothing.
    public var isEmpty: Bool {
        subjectTag == nil && addedHeader == nil && !stripAttachments
    }

    enum CodingKeys: String, CodingKey {
        case subjectTag = "subject_tag"
        case addedHeader = "added_header"
        case stripAttachments = "strip_attachments"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        subjectTag = try container.decodeIfPresent(String.self, forKey: .subjectTag)
        addedHeader = try container.decodeIfPresent(AddedHeader.self, forKey: .addedHeader)
        stripAttachments = try container.decodeIfPresent(Bool.self, forKey: .stripAttachments) ?? false
    }

    /// Checks the tag and the header without a message; `apply(to:)` does the same first.
    public func validate() throws(ReleaseModificationError) {
        if let tag = subjectTag {
            if tag.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                throw ReleaseModificationError(code: .invalidSubjectTag, field: "subject_tag",
                                               reason: "subject_tag holds a control character (CR, LF, tab, ...); use plain text such as [RELEASED]")
            }
            let length = tag.unicodeScalars.count
            if tag.allSatisfy({ $0 == " " }) || length > Self.maxSubjectTagLength {
                throw ReleaseModificationError(code: .invalidSubjectTag, field: "subject_tag",
                                               reason: "subject_tag must be 1 to \(Self.maxSubjectTagLength) characters, not only spaces (got \(length))")
            }
        }
        if let header = addedHeader {
            do {
                try HeaderRewriter.validateName(header.name)
            } catch {
                throw ReleaseModificationError(code: .invalidHeaderName, field: "added_header.name",
                                               reason: "added_header.name \(error.reason)")
            }
            if header.value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }) {
                throw ReleaseModificationError(code: .invalidHeaderValue, field: "added_header.value",
                                               reason: "added_header.value holds CR, LF or NUL; give it on one line")
            }
            if header.value.utf8.count > Self.maxHeaderValueLength {
                throw ReleaseModificationError(code: .invalidHeaderValue, field: "added_header.value",
                                               reason: "added_header.value is \(header.value.utf8.count) octets; at most \(Self.maxHeaderValueLength)")
            }
        }
    }

    /// The message with the modifications made: attachments stripped, then
    /// the subject tagged, then the header added. Line ends follow the
    /// message's (CRLF, or LF when its first line ends with a bare LF).
    ///
    /// - Throws: `ReleaseModificationError` naming the bad field, or
    ///   `.structureTooComplex` when attachments are to be stripped from a
    ///   message whose MIME tree the parser could not read to the end
    ///   (`limits` exceeded): stripping only some of them would be a lie.
    public func apply(to message: [UInt8], limits: MailMessage.Limits = .init()) throws(ReleaseModificationError) -> [UInt8] {
        try validate()
        var raw = message
        if stripAttachments {
            raw = try AttachmentStripper.strip(raw, limits: limits)
        }
        if let tag = subjectTag {
            raw = SubjectTagger.tag(raw, with: tag)
        }
        if let header = addedHeader {
            do {
                raw = try HeaderRewriter.rewrite(raw, inserting: [(header.name, header.value)], stripping: [])
            } catch {
                // validate() checked the name and value already.
                throw ReleaseModificationError(code: error.code == .invalidFieldName ? .invalidHeaderName : .invalidHeaderValue,
                                               field: error.code == .invalidFieldName ? "added_header.name" : "added_header.value",
                                               reason: error.reason)
            }
        }
        return raw
    }

    /// True when stripping replaces `part`: `Content-Disposition: attachment`,
    /// or a non-multipart, non-text part with a filename (Content-Disposition
    /// `filename` or Content-Type `name`), or a base64/quoted-printable
    /// encapsulated message holding such a part.
    public static func isStrippedAttachment(_ part: MIMEPart) -> Bool {
        if part.contentDisposition?.isAttachment == true { return true }
        if !part.contentType.isMultipart, !part.contentType.isText, part.filename != nil { return true }
        if part.contentType.isEncapsulatedMessage, part.contentTransferEncoding.isEncoding {
            var stack = part.children
            while let inner = stack.popLast() {
                if isStrippedAttachment(inner) { return true }
                stack.append(contentsOf: inner.children)
            }
        }
        return false
    }
}

/// Why `ReleaseModifications` refused. Compared by `code`.
public struct ReleaseModificationError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// Empty, only spaces, too long, or holding a control character.
        case invalidSubjectTag
        /// Not an RFC 5322 field name.
        case invalidHeaderName
        /// Holds CR, LF or NUL, or is too long.
        case invalidHeaderValue
        /// Attachments cannot all be found: the MIME tree exceeds the parser's limits.
        case structureTooComplex
    }

    public let code: Code
    /// The modification at fault, as the API names it (`subject_tag`,
    /// `added_header.name`, `added_header.value`, `strip_attachments`).
    public let field: String
    /// A sentence naming the field and what to change.
    public let reason: String

    public init(code: Code, field: String, reason: String) {
        self.code = code
        self.field = field
        self.reason = reason
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String { reason }
}

// MARK: - Subject tag (RFC 5322 §3.6.5, RFC 2047)

enum SubjectTagger {
    /// `raw` with `tag` and a space before the first Subject field's value,
    /// in place (the field's other lines kept), or a new Subject field at the
    /// top. A subject that already starts with the tag is left alone.
    static func tag(_ raw: [UInt8], with tag: String) -> [UInt8] {
        let ending = LineEnd.of(raw)
        let message = MailMessage(parsing: raw)
        guard let location = HeaderRewriter.firstField(named: "Subject", in: raw),
              let field = message.headers.first("subject")
        else {
            let value = encodedTag(tag, beforeEncodedWord: false)
            return (try? HeaderRewriter.rewrite(raw, inserting: [("Subject", value)], stripping: [])) ?? raw
        }
        if field.value.hasPrefix(tag) { return raw }

        // The value's first octet on the field's first line, after ":" and white space.
        var valueStart = location.colon + 1
        while valueStart < location.end, raw[valueStart] == 0x20 || raw[valueStart] == 0x09 { valueStart += 1 }
        let restOfLineIsEmpty = valueStart >= location.end || raw[valueStart] == 0x0D || raw[valueStart] == 0x0A
        let value = encodedTag(tag, beforeEncodedWord: field.rawValue.hasPrefix("=?") && field.value != field.rawValue)

        var inserted: [UInt8] = [0x20] + Array(value.utf8)
        if !restOfLineIsEmpty {
            var firstLineEnd = valueStart
            while firstLineEnd < location.end, raw[firstLineEnd] != 0x0A { firstLineEnd += 1 }
            let firstLineLength = (location.colon + 1 - location.start) + inserted.count + 1 + (firstLineEnd - valueStart)
            // Fold after the tag rather than make the first line longer than 78 (RFC 5322 §2.1.1).
            inserted += firstLineLength > 78 ? ending + [0x20] : [0x20]
        }
        var output: [UInt8] = []
        output.reserveCapacity(raw.count + inserted.count)
        output.append(contentsOf: raw[..<(location.colon + 1)])
        output.append(contentsOf: inserted)
        output.append(contentsOf: raw[valueStart...])
        return output
    }

    /// The tag as header text: as it is when printable ASCII, else RFC 2047
    /// encoded-words (UTF-8, B encoding, at most 75 octets each, never
    /// splitting a character). White space between encoded-words is not
    /// shown (RFC 2047 §6.2), so before an encoded subject the separating
    /// space goes inside the last word.
    static func encodedTag(_ tag: String, beforeEncodedWord: Bool) -> String {
        let ascii = tag.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
        if ascii, !tag.contains("=?") { return tag }
        let text = beforeEncodedWord ? tag + " " : tag
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in text {
            let bytes = Array(String(character).utf8)
            // 45 octets are 60 base64 characters; with "=?UTF-8?B?" and "?=" 72.
            if chunk.count + bytes.count > 45, !chunk.isEmpty {
                words.append("=?UTF-8?B?" + Base64.encode(chunk) + "?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?" + Base64.encode(chunk) + "?=") }
        return words.joined(separator: " ")
    }
}

// MARK: - Attachments (RFC 2045, RFC 2046, RFC 2183)

enum AttachmentStripper {
    /// Fields of a replaced entity that described the removed content.
    static let replacedFields = ["Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Content-Description",
                                 "Content-ID", "Content-Location", "Content-MD5", "Content-Language", "Content-Base"]

    private struct Replacement {
        var range: Range<Int>
        var bytes: [UInt8]
    }

    static func strip(_ raw: [UInt8], limits: MailMessage.Limits) throws(ReleaseModificationError) -> [UInt8] {
        let message = MailMessage(parsing: raw, limits: limits)
        let limitDefects: [MessageDefect] = [.tooManyParts, .nestingTooDeep, .decodeLimitExceeded]
        let incomplete = message.defects.filter(limitDefects.contains)
        if !incomplete.isEmpty {
            throw ReleaseModificationError(code: .structureTooComplex, field: "strip_attachments",
                                           reason: "attachments cannot be stripped: the message's MIME structure is beyond the parser's limits ("
                                               + incomplete.map(\.description).joined(separator: "; ") + "); release it unmodified or delete it")
        }
        let ending = LineEnd.of(raw)
        var replacements: [Replacement] = []
        raw.withUnsafeBufferPointer { bytes in
            visitEntity(message.root, range: 0..<raw.count, raw: raw, bytes: bytes, ending: ending, isRoot: true,
                        into: &replacements)
        }
        guard !replacements.isEmpty else { return raw }
        var output: [UInt8] = []
        output.reserveCapacity(raw.count)
        var copied = 0
        for replacement in replacements.sorted(by: { $0.range.lowerBound < $1.range.lowerBound }) {
            output.append(contentsOf: raw[copied..<replacement.range.lowerBound])
            output.append(contentsOf: replacement.bytes)
            copied = replacement.range.upperBound
        }
        output.append(contentsOf: raw[copied...])
        return output
    }

    /// `part` spans `range` of `raw` (its header section and body). Either it
    /// is replaced whole, or its children are visited.
    private static func visitEntity(_ part: MIMEPart, range: Range<Int>, raw: [UInt8], bytes: UnsafeBufferPointer<UInt8>,
                                    ending: [UInt8], isRoot: Bool, into replacements: inout [Replacement]) {
        if ReleaseModifications.isStrippedAttachment(part) {
            replacements.append(Replacement(range: range, bytes: replacement(for: part, range: range, raw: raw,
                                                                             ending: ending, isRoot: isRoot)))
            return
        }
        if part.contentType.isMultipart, !part.children.isEmpty, let boundary = part.contentType.boundary {
            let body = part.rawBody.startIndex..<part.rawBody.endIndex
            let split = MIMEParser.split(bytes, body: body, boundary: Array(boundary.utf8), maxParts: part.children.count)
            for (child, childRange) in zip(part.children, split.parts) {
                visitEntity(child, range: childRange, raw: raw, bytes: bytes, ending: ending, isRoot: false, into: &replacements)
            }
        } else if part.contentType.isEncapsulatedMessage, !part.contentTransferEncoding.isEncoding, let inner = part.children.first {
            // The forwarded message is a slice of `raw`; an encoded one was judged whole above.
            visitEntity(inner, range: part.rawBody.startIndex..<part.rawBody.endIndex, raw: raw, bytes: bytes,
                        ending: ending, isRoot: true, into: &replacements)
        }
    }

    /// The entity's header section without the fields describing its content,
    /// a text/plain description, and the notice.
    private static func replacement(for part: MIMEPart, range: Range<Int>, raw: [UInt8], ending: [UInt8], isRoot: Bool) -> [UInt8] {
        let notice = noticeLines(for: part)
        let ascii = notice.allSatisfy { $0.utf8.allSatisfy { $0 < 0x80 } }
        var fields: [(name: String, value: String)] = []
        if isRoot, part.headers.first("mime-version") == nil { fields.append(("MIME-Version", "1.0")) }
        fields.append(("Content-Type", ascii ? "text/plain; charset=us-ascii" : "text/plain; charset=utf-8"))
        fields.append(("Content-Transfer-Encoding", ascii ? "7bit" : "quoted-printable"))
        fields.append(("Content-Disposition", "inline"))

        let headerSection = Array(raw[range.lowerBound..<max(range.lowerBound, part.rawBody.startIndex)])
        var output = (try? HeaderRewriter.rewrite(headerSection, inserting: fields, stripping: replacedFields))
            ?? fields.flatMap { Array("\($0.name): \($0.value)".utf8) + ending }
        // The rewriter keeps the empty line that ended the section; add one when the section had none.
        if !endsWithEmptyLine(output) {
            if let last = output.last, last != 0x0A { output += ending }
            output += ending
        }
        let body = ascii ? notice.map { Array($0.utf8) } : notice.map { QuotedPrintable.encodeLine($0, lineEnding: ending) }
        output += body.joined(separator: ending)
        // A part's range stops before the line break that belongs to the next
        // delimiter; only the end of the message needs its own.
        if range.upperBound == raw.count { output += ending }
        return output
    }

    private static func endsWithEmptyLine(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[bytes.count - 1] == 0x0A && (bytes[bytes.count - 2] == 0x0A
            || (bytes.count >= 4 && bytes[bytes.count - 2] == 0x0D && bytes[bytes.count - 3] == 0x0A))
    }

    /// `The attachment "invoice.exe" (application/octet-stream, 12 KB) was removed ...`, wrapped at 76 columns.
    static func noticeLines(for part: MIMEPart) -> [String] {
        var words = ["The"]
        words.append(part.contentType.isEncapsulatedMessage ? "attached message" : "attachment")
        if let name = part.filename {
            let cleaned = String(String.UnicodeScalarView(name.unicodeScalars.prefix(200).map {
                $0.value < 0x20 || $0.value == 0x7F || $0 == "\"" ? "_" : $0
            }))
            words.append("\"\(cleaned)\"")
        }
        words.append("(\(part.contentType.type)/\(part.contentType.subtype), \(sizeText(part.decodedSize)))")
        words.append("was removed from this message on release from quarantine.")
        let sentence = words.joined(separator: " ")
        var lines: [String] = []
        var line = ""
        for word in sentence.split(separator: " ") {
            if !line.isEmpty, line.count + 1 + word.count > 76 {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + String(word)
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }

    /// `1 byte`, `900 bytes`, `12 KB`, `3.4 MB` (1 KB = 1024 bytes).
    static func sizeText(_ size: Int) -> String {
        if size == 1 { return "1 byte" }
        if size < 1024 { return "\(size) bytes" }
        if size < 1024 * 1024 { return "\((size + 512) / 1024) KB" }
        let tenths = (size * 10 + 512 * 1024) / (1024 * 1024)
        return "\(tenths / 10).\(tenths % 10) MB"
    }
}

// MARK: - Encoders for the few octets written here

enum LineEnd {
    /// CRLF, or LF when the first line ends with a bare LF (as `HeaderRewriter` decides).
    static func of(_ raw: [UInt8]) -> [UInt8] {
        if let firstLF = raw.firstIndex(of: 0x0A), firstLF == 0 || raw[firstLF - 1] != 0x0D { return [0x0A] }
        return [0x0D, 0x0A]
    }
}

extension Base64 {
    /// RFC 4648 §4 with padding, one line.
    static func encode(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let remaining = bytes.count - index
            let b0 = UInt32(bytes[index])
            let b1 = remaining > 1 ? UInt32(bytes[index + 1]) : 0
            let b2 = remaining > 2 ? UInt32(bytes[index + 2]) : 0
            let value = b0 << 16 | b1 << 8 | b2
            output.append(alphabet[Int(value >> 18 & 63)])
            output.append(alphabet[Int(value >> 12 & 63)])
            output.append(remaining > 1 ? alphabet[Int(value >> 6 & 63)] : UInt8(ascii: "="))
            output.append(remaining > 2 ? alphabet[Int(value & 63)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }
}

extension QuotedPrintable {
    /// One line of text as quoted-printable lines (RFC 2045 §6.7): octets
    /// outside printable ASCII and "=" as `=XX`, soft line breaks (`=` at
    /// the end) keeping every line within 76 characters. Lines are joined by
    /// the caller's line break.
    static func encodeLine(_ line: String, lineEnding: [UInt8]) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        var output: [UInt8] = []
        var column = 0
        let bytes = Array(line.utf8)
        for (index, byte) in bytes.enumerated() {
            let isLast = index == bytes.count - 1
            let encoded: [UInt8]
            if (byte >= 0x21 && byte <= 0x7E && byte != UInt8(ascii: "=")) || (byte == 0x20 && !isLast) {
                encoded = [byte]
            } else {
                encoded = [UInt8(ascii: "="), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
            if column + encoded.count > (isLast ? 76 : 75) {
                output += [UInt8(ascii: "=")] + lineEnding
                column = 0
            }
            output += encoded
            column += encoded.count
        }
        return output
    }
}
