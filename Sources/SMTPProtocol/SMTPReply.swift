/// An RFC 3463 enhanced status code such as `5.3.4`.
public struct EnhancedStatusCode: Hashable, Sendable, CustomStringConvertible {
    public var klass: Int
    public var subject: Int
    public var detail: Int

    public init(_ klass: Int, _ subject: Int, _ detail: Int) {
        self.klass = klass
        self.subject = subject
        self.detail = detail
    }

    /// Parses `X.Y.Z`; returns nil for anything else.
    public init?(parsing text: Substring) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let k = Int(parts[0]), [2, 4, 5].contains(k),
              let s = Int(parts[1]), (0...999).contains(s),
              let d = Int(parts[2]), (0...999).contains(d)
        else { return nil }
        self.init(k, s, d)
    }

    public var description: String { "\(klass).\(subject).\(detail)" }
}

/// One SMTP reply (RFC 5321 §4.2): a three-digit code, an optional enhanced
/// status code (RFC 2034) and one or more text lines.
public struct SMTPReply: Hashable, Sendable, CustomStringConvertible {
    public var code: Int
    public var enhanced: EnhancedStatusCode?
    public var lines: [String]

    public init(_ code: Int, _ enhanced: EnhancedStatusCode?, _ text: String) {
        self.code = code
        self.enhanced = enhanced
        self.lines = [text]
    }

    public init(code: Int, enhanced: EnhancedStatusCode?, lines: [String]) {
        self.code = code
        self.enhanced = enhanced
        self.lines = lines.isEmpty ? [""] : lines
    }

    public var isPositiveCompletion: Bool { (200..<300).contains(code) }
    public var isPositiveIntermediate: Bool { (300..<400).contains(code) }
    public var isTransientFailure: Bool { (400..<500).contains(code) }
    public var isPermanentFailure: Bool { (500..<600).contains(code) }

    /// The reply text without code, as mail_logs quotes it: `2.0.0 Ok: queued`.
    public var text: String {
        let body = lines.joined(separator: " ")
        if let enhanced { return "\(enhanced) \(body)" }
        return body
    }

    /// The wire form, every line ending in CRLF, continuation lines with `-`.
    public var wireFormat: String {
        var out = ""
        for (index, line) in lines.enumerated() {
            out += String(code)
            out += index == lines.count - 1 ? " " : "-"
            if let enhanced { out += "\(enhanced) " }
            out += line
            out += "\r\n"
        }
        return out
    }

    public var description: String { "\(code) \(text)" }
}
