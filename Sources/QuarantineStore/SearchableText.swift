import MailMessage

/// The header and body text of a message as the full-text index holds it: the header
/// fields (`Name: value`, RFC 2047 decoded, in order) and the decoded text of its
/// `text/*` parts (base64 and quoted-printable undone, converted from their charset,
/// HTML tags dropped), each cut at a named limit. Deterministic: the same bytes always
/// give the same text, which is what lets `SearchIndex` remove an entry later.
struct SearchableText: Hashable, Sendable {
    /// Most header text indexed per message (UTF-8 bytes).
    static let maxHeaderBytes = 16 << 10
    /// Most body text indexed per message (UTF-8 bytes), over all its text parts: the
    /// first 4 KB of text (a word further down a long body is not found by its text).
    /// Indexing cost grows with the words indexed; 4 KB loads 3–5x faster than 64 KB did.
    /// Changing it needs a migration that rebuilds `message_text` (see `SearchAtScaleSchema`).
    static let maxBodyBytes = 4 << 10

    var headers: String
    var body: String

    init(headers: String, body: String) {
        self.headers = headers
        self.body = body
    }

    init(message raw: [UInt8]) {
        let message = MailMessage(parsing: raw)
        var headers = BoundedText(limit: Self.maxHeaderBytes)
        for field in message.headers where !headers.isFull {
            headers.append(field.name)
            headers.append(": ")
            headers.append(field.value)
            headers.append("\n")
        }
        var body = BoundedText(limit: Self.maxBodyBytes)
        for part in message.leafParts where part.contentType.isText && !body.isFull {
            let text = part.decodedText
            body.append(part.contentType.subtype == "html" ? Self.droppingTags(text) : text)
            body.append("\n")
        }
        self.headers = headers.text
        self.body = body.text
    }

    /// `html` without its tags (`<...>`): the words between them stay apart.
    static func droppingTags(_ html: String) -> String {
        var result = String.UnicodeScalarView()
        var inTag = false
        for scalar in html.unicodeScalars {
            if inTag {
                if scalar == ">" { inTag = false; result.append(" ") }
            } else if scalar == "<" {
                inTag = true
            } else {
                result.append(scalar)
            }
        }
        return String(result)
    }
}

/// Text that stops growing at `limit` UTF-8 bytes (cut on a character boundary).
private struct BoundedText {
    let limit: Int
    private(set) var text = ""
    private var bytes = 0

    init(limit: Int) { self.limit = limit }

    var isFull: Bool { bytes >= limit }

    mutating func append(_ piece: String) {
        guard !isFull else { return }
        let size = piece.utf8.count
        if bytes + size <= limit {
            text += piece
            bytes += size
            return
        }
        var taken = 0
        var cut = piece.startIndex
        for character in piece {
            let length = character.utf8.count
            guard bytes + taken + length <= limit else { break }
            taken += length
            cut = piece.index(after: cut)
        }
        text += piece[..<cut]
        bytes = limit
    }
}
