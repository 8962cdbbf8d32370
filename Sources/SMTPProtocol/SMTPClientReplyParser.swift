import NIOCore

/// Parses server replies (RFC 5321 §4.2) from a byte stream, joining
/// multi-line replies (`250-...` continuation lines) into one `SMTPReply`.
///
/// Bounded: a reply line longer than `maxLineLength` or a reply of more than
/// `maxLines` lines is a protocol error, so a hostile server cannot make the
/// client buffer without limit.
public struct SMTPClientReplyParser: Sendable {
    public static let maxLineLength = 4096
    public static let maxLines = 200

    private var pendingCode: Int?
    private var pendingLines: [String] = []
    private var pendingEnhanced: EnhancedStatusCode?

    public init() {}

    public enum ParseError: Error, Hashable, CustomStringConvertible {
        case lineTooLong
        case tooManyLines
        case malformed(String)

        public var description: String {
            switch self {
            case .lineTooLong: "server reply line longer than \(SMTPClientReplyParser.maxLineLength) octets"
            case .tooManyLines: "server reply with more than \(SMTPClientReplyParser.maxLines) lines"
            case .malformed(let line): "malformed server reply line: \(line.prefix(80))"
            }
        }
    }

    /// Consumes complete lines from `buffer` and returns every complete reply,
    /// at most `maxReplies` of them (the bytes after the last one stay in `buffer`).
    public mutating func parse(_ buffer: inout ByteBuffer, maxReplies: Int = .max) throws -> [SMTPReply] {
        var replies: [SMTPReply] = []
        while replies.count < maxReplies {
            let view = buffer.readableBytesView
            guard let lf = view.firstIndex(of: UInt8(ascii: "\n")) else {
                if buffer.readableBytes > Self.maxLineLength { throw ParseError.lineTooLong }
                return replies
            }
            let length = lf - view.startIndex + 1
            if length > Self.maxLineLength { throw ParseError.lineTooLong }
            let lineBytes = buffer.readSlice(length: length)!
            var end = lineBytes.readableBytesView.endIndex - 1  // drop LF
            if end > lineBytes.readableBytesView.startIndex && lineBytes.readableBytesView[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            let line = String(decoding: lineBytes.readableBytesView[lineBytes.readableBytesView.startIndex..<end], as: UTF8.self)
            if let reply = try feed(line: line) { replies.append(reply) }
        }
        return replies
    }

    private mutating func feed(line: String) throws -> SMTPReply? {
        let bytes = Array(line.utf8)
        guard bytes.count >= 3,
              bytes[0...2].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let code = Int(String(decoding: bytes[0...2], as: UTF8.self)), (200...599).contains(code)
        else { throw ParseError.malformed(line) }
        let separator: UInt8 = bytes.count > 3 ? bytes[3] : UInt8(ascii: " ")
        guard separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else { throw ParseError.malformed(line) }
        if let pendingCode, pendingCode != code { throw ParseError.malformed(line) }
        var text = bytes.count > 4 ? Substring(String(decoding: bytes[4...], as: UTF8.self)) : ""
        // Peel an enhanced status code off each line (RFC 2034 repeats it on every line).
        if let space = text.firstIndex(of: " ") ?? (text.isEmpty ? nil : text.endIndex),
           let enhanced = EnhancedStatusCode(parsing: text[text.startIndex..<space]),
           enhanced.klass == code / 100 {
            pendingEnhanced = pendingEnhanced ?? enhanced
            text = space < text.endIndex ? text[text.index(after: space)...] : ""
        }
        pendingCode = code
        pendingLines.append(String(text))
        if pendingLines.count > Self.maxLines { throw ParseError.tooManyLines }
        guard separator == UInt8(ascii: " ") else { return nil }
        let reply = SMTPReply(code: code, enhanced: pendingEnhanced, lines: pendingLines)
        self.pendingCode = nil
        self.pendingLines = []
        self.pendingEnhanced = nil
        return reply
    }
}
