/// What the message filters may look at: plain values that the pipeline fills
/// from the envelope, the listener session and the parsed message, so this
/// target needs no MIME code.
///
/// Every text is already decoded: header values without their RFC 2047
/// encoded words and without folding, body parts as text after
/// Content-Transfer-Encoding and charset decoding.
public struct MessageFacts: Hashable, Sendable {
    /// One header field as received: its name (compared ignoring case) and decoded value.
    public struct Header: Hashable, Sendable {
        /// The field name as written, e.g. `X-Spam-Flag` (filters compare it ignoring case).
        public var name: String
        /// The decoded, unfolded value.
        public var value: String

        /// A header field.
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The envelope sender (`MAIL FROM`) without angle brackets; empty for the null sender `<>`.
    public var mailFrom: String
    /// The envelope recipients (`RCPT TO`) without angle brackets.
    public var recipients: [String]
    /// The address of the SMTP client, as text (IPv4 dotted quad or IPv6).
    public var remoteIP: String
    /// The HAT sender group the connection matched, if any.
    public var senderGroup: String?
    /// The name of the listener that received the message.
    public var listener: String
    /// The header fields in the order received.
    public var headers: [Header]
    /// The decoded `Subject`, or nil when the message has none.
    public var subject: String?
    /// The decoded text body parts (`text/plain`, `text/html`, ... that are not attachments).
    /// Filters only read them when a body condition is evaluated; see `FilterSet.needsTextBodies`.
    public var textBodies: [String]
    /// The attachments, in MIME order.
    public var attachments: [AttachmentFacts]
    /// The size of the whole message in bytes, as received.
    public var bodySize: Int
    /// True for S/MIME or PGP encrypted messages.
    public var isEncrypted: Bool
    /// True when the MIME structure could not be parsed cleanly.
    public var isMalformed: Bool

    /// Facts for one message; everything not given is empty, zero or false.
    public init(
        mailFrom: String = "",
        recipients: [String] = [],
        remoteIP: String = "",
        senderGroup: String? = nil,
        listener: String = "",
        headers: [Header] = [],
        subject: String? = nil,
        textBodies: [String] = [],
        attachments: [AttachmentFacts] = [],
        bodySize: Int = 0,
        isEncrypted: Bool = false,
        isMalformed: Bool = false
    ) {
        self.mailFrom = mailFrom
        self.recipients = recipients
        self.remoteIP = remoteIP
        self.senderGroup = senderGroup
        self.listener = listener
        self.headers = headers
        self.subject = subject
        self.textBodies = textBodies
        self.attachments = attachments
        self.bodySize = bodySize
        self.isEncrypted = isEncrypted
        self.isMalformed = isMalformed
    }
}

/// One attachment as the filters see it.
public struct AttachmentFacts: Hashable, Sendable {
    /// The decoded file name (`Content-Disposition` filename or `Content-Type` name), if any.
    public var filename: String?
    /// The MIME type in lower case without parameters, e.g. `application/pdf`.
    public var contentType: String
    /// The decoded size in bytes.
    public var size: Int

    /// An attachment's facts.
    public init(filename: String?, contentType: String, size: Int) {
        self.filename = filename
        self.contentType = contentType
        self.size = size
    }
}
