/// A parsed Internet message (RFC 5322) and its MIME tree (RFC 2045,
/// RFC 2046), for message filters, anti-virus and outbreak rules.
///
/// Parsing never fails and never hangs: malformed input gives what could be
/// read plus `defects`. Header sections are parsed eagerly, bodies are
/// decoded on demand (`MIMEPart.decodedBody`), and every part shares the
/// bytes passed in. CRLF and bare LF line ends are both accepted.
///
/// ```swift
/// let message = MailMessage(parsing: bytes)
/// if message.attachments.contains(where: { $0.filename?.hasSuffix(".exe") == true }) { ... }
/// ```
public struct MailMessage: Hashable, Sendable {
    /// Bounds that keep hostile input cheap. Each has a named default.
    public struct Limits: Hashable, Sendable {
        public static let defaultMaxNestingDepth = 20
        public static let defaultMaxParts = 1000
        public static let defaultMaxHeaderBytes = 1 << 20
        public static let defaultMaxHeaderFields = 1000
        public static let defaultMaxHeaderLineLength = 998
        public static let defaultMaxURLs = 1000
        /// The parser recurses once per level: `maxNestingDepth` is capped here.
        public static let nestingDepthCap = 200

        /// Composite parts deeper than this are kept as leaves (`.nestingTooDeep`).
        /// The root is at depth 0. Capped at `nestingDepthCap`.
        public var maxNestingDepth: Int
        /// Parts in the whole tree, the root included (`.tooManyParts`).
        public var maxParts: Int
        /// Octets of one header section; fields past it are dropped (`.headerTooLong`).
        public var maxHeaderBytes: Int
        /// Fields of one header section (`.tooManyHeaderFields`).
        public var maxHeaderFields: Int
        /// A longer header line is recorded as `.headerLineTooLong` (RFC 5322 §2.1.1).
        public var maxHeaderLineLength: Int
        /// At most this many entries in `urls`.
        public var maxURLs: Int

        public init(maxNestingDepth: Int = defaultMaxNestingDepth, maxParts: Int = defaultMaxParts,
                    maxHeaderBytes: Int = defaultMaxHeaderBytes, maxHeaderFields: Int = defaultMaxHeaderFields,
                    maxHeaderLineLength: Int = defaultMaxHeaderLineLength, maxURLs: Int = defaultMaxURLs) {
            self.maxNestingDepth = min(max(0, maxNestingDepth), Self.nestingDepthCap)
            self.maxParts = max(1, maxParts)
            self.maxHeaderBytes = max(0, maxHeaderBytes)
            self.maxHeaderFields = max(0, maxHeaderFields)
            self.maxHeaderLineLength = max(1, maxHeaderLineLength)
            self.maxURLs = max(0, maxURLs)
        }
    }

    /// The top-level header section (RFC 5322 §3.6); the same as `root.headers`.
    public let headers: MessageHeaders
    /// The MIME tree; the root part is the whole message.
    public let root: MIMEPart
    /// Every defect found anywhere in the tree, each once, in order of first occurrence.
    public let defects: [MessageDefect]
    /// The limits the message was parsed with.
    public let limits: Limits

    /// Parses `raw` (the message as received after DATA, CRLF or LF line ends). Never fails.
    public init(parsing raw: [UInt8], limits: Limits = .init()) {
        let parser = MIMEParser(limits: limits)
        self.root = parser.parseMessage(raw)
        self.headers = root.headers
        self.defects = parser.defects.list
        self.limits = limits
    }

    /// True when a severe defect was found (`MessageDefect.isSevere`): a
    /// limit cut the parse short, or the MIME structure or an encoding is
    /// broken in a way other parsers may read differently. Minor defects
    /// (8-bit headers, a missing close delimiter, long header lines, ...) are
    /// in `defects` but do not make a message malformed.
    public var isMalformed: Bool {
        defects.contains { $0.isSevere }
    }

    /// The Subject, unfolded and RFC 2047-decoded.
    public var subject: String? {
        headers["subject"]
    }

    /// Every part, depth first (pre-order), the root first, descending into
    /// multiparts and encapsulated messages.
    public var allParts: [MIMEPart] {
        var result: [MIMEPart] = []
        var stack = [root]
        while let part = stack.popLast() {
            result.append(part)
            stack.append(contentsOf: part.children.reversed())
        }
        return result
    }

    /// The parts with no children, depth first: the bodies and attachments,
    /// including those inside forwarded messages (message/rfc822).
    public var leafParts: [MIMEPart] {
        var result: [MIMEPart] = []
        var stack = [root]
        while let part = stack.popLast() {
            if part.children.isEmpty {
                result.append(part)
            } else {
                stack.append(contentsOf: part.children.reversed())
            }
        }
        return result
    }

    /// Leaves with a filename or `Content-Disposition: attachment`, including
    /// those inside forwarded messages. A message/rfc822 part itself is not a
    /// leaf: its contents are listed instead.
    public var attachments: [MIMEPart] {
        leafParts.filter(\.isAttachment)
    }

    /// The decoded text of every `text/*` leaf (plain, html, ..., attachments
    /// included), depth first, converted from its charset (`MIMEPart.decodedText`).
    public var textBodies: [String] {
        leafParts.filter(\.contentType.isText).map(\.decodedText)
    }

    /// True when any part is encrypted: multipart/encrypted (RFC 1847),
    /// application/pkcs7-mime or x-pkcs7-mime with smime-type enveloped-data,
    /// authEnveloped-data or none (RFC 8551 §3.2), application/pgp-encrypted
    /// (RFC 3156), or a text leaf (or a `.asc`/`.pgp`/`.gpg` leaf) holding an
    /// inline `-----BEGIN PGP MESSAGE-----` (RFC 4880 §6.2).
    public var isEncrypted: Bool {
        for part in allParts {
            let type = part.contentType
            switch (type.type, type.subtype) {
            case ("multipart", "encrypted"), ("application", "pgp-encrypted"):
                return true
            case ("application", "pkcs7-mime"), ("application", "x-pkcs7-mime"):
                let smimeType = type[parameter: "smime-type"]?.lowercased()
                if smimeType == nil || smimeType == "enveloped-data" || smimeType == "authenveloped-data" { return true }
            default:
                break
            }
            guard part.isLeaf else { continue }
            let name = part.filename?.lowercased() ?? ""
            if type.isText || name.hasSuffix(".asc") || name.hasSuffix(".pgp") || name.hasSuffix(".gpg") {
                if Self.containsPGPArmor(part.decodedBody) { return true }
            }
        }
        return false
    }

    /// The http and https URLs in `textBodies`, deduplicated, at most `limits.maxURLs`.
    public var urls: [String] {
        URLExtractor.extract(from: textBodies, limit: limits.maxURLs)
    }

    private static let pgpMessageArmor = Array("-----BEGIN PGP MESSAGE-----".utf8)

    /// Whether `bytes` holds the PGP armor line; linear: only a "B" five
    /// octets into a candidate starts a comparison.
    static func containsPGPArmor(_ bytes: [UInt8]) -> Bool {
        let needle = pgpMessageArmor
        guard bytes.count >= needle.count else { return false }
        return bytes.withUnsafeBufferPointer { haystack in
            var index = 5
            let last = haystack.count - (needle.count - 5)
            while index <= last {
                if haystack[index] == UInt8(ascii: "B") {
                    var matched = true
                    for offset in 0..<needle.count where haystack[index - 5 + offset] != needle[offset] {
                        matched = false
                        break
                    }
                    if matched { return true }
                }
                index += 1
            }
            return false
        }
    }
}
