/// The ESMTP extensions a server announced in its EHLO reply (RFC 5321 §4.1.1.1).
public struct SMTPServerExtensions: Sendable, Hashable {
    public var pipelining = false
    public var startTLS = false
    public var eightBitMIME = false
    public var smtpUTF8 = false
    public var chunking = false
    public var enhancedStatusCodes = false
    /// The SIZE limit, when the server announced one (0 means "no fixed limit").
    public var size: Int?
    /// Every keyword the server announced (upper-cased) with its parameters,
    /// in order: `XCPQ 1 2` is `["XCPQ": ["1", "2"]]`.
    public var keywords: [String: [String]] = [:]

    public init() {}

    /// The parameters of `keyword` (any case), or nil when it was not announced.
    public func parameters(of keyword: String) -> [String]? {
        keywords[keyword.uppercased()]
    }

    /// Reads the extension keywords from the lines of a 250 EHLO reply
    /// (the first line is the server's greeting name and is skipped).
    public init(ehloReply: SMTPReply) {
        for line in ehloReply.lines.dropFirst() {
            let words = line.split(separator: " ")
            guard let keyword = words.first?.uppercased() else { continue }
            keywords[keyword] = words.dropFirst().map(String.init)
            switch keyword {
            case "PIPELINING": pipelining = true
            case "STARTTLS": startTLS = true
            case "8BITMIME": eightBitMIME = true
            case "SMTPUTF8": smtpUTF8 = true
            case "CHUNKING": chunking = true
            case "ENHANCEDSTATUSCODES": enhancedStatusCodes = true
            case "SIZE": size = words.count > 1 ? Int(words[1]) ?? 0 : 0
            default: break
            }
        }
    }
}
