/// One entity of the MIME tree (RFC 2045 §2.4): its header fields, its body
/// as it appears in the message, and its children.
///
/// `children` holds the body parts of a multipart (RFC 2046 §5.1) or the one
/// encapsulated message of a `message/rfc822` / `message/global` part
/// (RFC 2046 §5.2.1, RFC 6532 §3.5); a leaf has none. Bodies are decoded on
/// demand: `decodedBody` decodes on every access, keep the result.
public struct MIMEPart: Hashable, Sendable {
    /// The part's own header fields (for the root part: the message header).
    public let headers: MessageHeaders
    /// Content-Type (RFC 2045 §5); when absent `text/plain`, or
    /// `message/rfc822` inside `multipart/digest` (RFC 2046 §5.1.5); when
    /// invalid `text/plain` (RFC 2045 §5.2).
    public let contentType: ContentType
    /// Content-Disposition (RFC 2183), when present.
    public let contentDisposition: ContentDisposition?
    /// Content-Transfer-Encoding (RFC 2045 §6); `.sevenBit` when absent.
    public let contentTransferEncoding: ContentTransferEncoding
    /// The attachment's name: Content-Disposition `filename` (RFC 2183 §2.3),
    /// else Content-Type `name`; RFC 2231 and RFC 2047 decoded, trimmed; nil when empty.
    public let filename: String?
    /// Body parts of a multipart, or the parsed message of a message/rfc822 part.
    public let children: [MIMEPart]
    /// The body as it appears in the message, still transfer-encoded. For a
    /// multipart this includes preamble, delimiters and epilogue. Shares the
    /// storage of the parsed message (or of a decoded message/rfc822 body).
    public let rawBody: ArraySlice<UInt8>
    /// Of a multipart: the text before the first delimiter (RFC 2046 §5.1.1), empty when none.
    public let preamble: ArraySlice<UInt8>
    /// Of a multipart: the text after the close delimiter, empty when none.
    public let epilogue: ArraySlice<UInt8>
    /// Defects found in this part's own header and body (not its children's).
    public let defects: [MessageDefect]

    init(headers: MessageHeaders, contentType: ContentType, contentDisposition: ContentDisposition?,
         contentTransferEncoding: ContentTransferEncoding, filename: String?, children: [MIMEPart],
         rawBody: ArraySlice<UInt8>, preamble: ArraySlice<UInt8>, epilogue: ArraySlice<UInt8>, defects: [MessageDefect]) {
        self.headers = headers
        self.contentType = contentType
        self.contentDisposition = contentDisposition
        self.contentTransferEncoding = contentTransferEncoding
        self.filename = filename
        self.children = children
        self.rawBody = rawBody
        self.preamble = preamble
        self.epilogue = epilogue
        self.defects = defects
    }

    /// The body with its Content-Transfer-Encoding undone (RFC 2045 §6.7,
    /// §6.8): base64 and quoted-printable decoded leniently (invalid input is
    /// decoded as far as it goes; the parser recorded `.badEncoding`), other
    /// encodings returned as they are. A multipart's body is returned as it
    /// is too: its encoding is ignored (RFC 2045 §6.4). Computed on every access.
    public var decodedBody: [UInt8] {
        if contentType.isMultipart { return Array(rawBody) }
        switch contentTransferEncoding {
        case .base64: return Base64.decode(rawBody)
        case .quotedPrintable: return QuotedPrintable.decode(rawBody)
        default: return Array(rawBody)
        }
    }

    /// `decodedBody.count`; for base64 counted without decoding.
    public var decodedSize: Int {
        if contentType.isMultipart { return rawBody.count }
        switch contentTransferEncoding {
        case .base64: return rawBody.withUnsafeBufferPointer { Base64.decodedCount($0) }
        case .quotedPrintable: return QuotedPrintable.decode(rawBody).count
        default: return rawBody.count
        }
    }

    /// `decodedBody` as text in the part's `charset` parameter (RFC 2046
    /// §4.1.2; default US-ASCII). See `Charset` for the charsets known;
    /// others are read as UTF-8 with U+FFFD for invalid sequences.
    public var decodedText: String {
        Charset(name: contentType.charset).decode(decodedBody)
    }

    /// True when the part has a filename or `Content-Disposition: attachment`.
    public var isAttachment: Bool {
        filename != nil || contentDisposition?.isAttachment == true
    }

    /// True when the part has no children.
    public var isLeaf: Bool { children.isEmpty }
}
