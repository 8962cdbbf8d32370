/// Something wrong with a message that the parser worked around.
///
/// The parser never fails: it records a defect and keeps what it can. Each
/// defect is recorded once per part (`MIMEPart.defects`) and once per message
/// (`MailMessage.defects`, in order of first occurrence).
///
/// `isSevere` marks the defects where the structure seen by Lazaret may differ
/// from what a mail client or another scanner sees, or where a limit cut the
/// parse short: `MailMessage.isMalformed` is true when any severe defect was
/// recorded. The others are common in legitimate mail and parse unambiguously.
public enum MessageDefect: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    // MARK: Header section (RFC 5322 §2.2, §3.6)

    /// The header section is larger than `Limits.maxHeaderBytes`; fields past
    /// the limit were dropped (the body is still found). Severe.
    case headerTooLong
    /// More than `Limits.maxHeaderFields` fields; the later ones were dropped. Severe.
    case tooManyHeaderFields
    /// A header line is longer than `Limits.maxHeaderLineLength` (998 octets,
    /// RFC 5322 §2.1.1). Kept whole.
    case headerLineTooLong
    /// A line that is neither a header field nor a continuation line ended the
    /// header section without the empty line of RFC 5322 §2.1; that line starts
    /// the body. Severe.
    case missingHeaderBodySeparator
    /// A continuation line with no field before it (RFC 5322 §2.2.3); ignored.
    case invalidHeaderLine
    /// Octets ≥ 0x80 in a header field (legal only with RFC 6532 / SMTPUTF8);
    /// decoded as UTF-8, or Windows-1252 when not valid UTF-8.
    case eightBitInHeader
    /// NUL, a bare CR or another control character (other than HT) in a header field.
    case controlCharacterInHeader

    // MARK: MIME structure (RFC 2045, RFC 2046)

    /// A Content-Type that is not `type/subtype`; `text/plain` was assumed (RFC 2045 §5.2).
    case invalidContentType
    /// More than one Content-Type, Content-Transfer-Encoding or
    /// Content-Disposition in one part; the first was used. Severe.
    case duplicateMIMEHeader
    /// A `multipart/*` part without a `boundary` parameter (RFC 2046 §5.1.1);
    /// kept as a leaf. Severe.
    case missingBoundary
    /// A `boundary` parameter whose delimiter line never appears in the body;
    /// kept as a leaf. Severe.
    case boundaryNotFound
    /// The close delimiter (`--boundary--`) never came; the last part runs to
    /// the end of its parent (RFC 2046 §5.1.1). Common in truncated mail.
    case missingClosingBoundary
    /// Parts nested deeper than `Limits.maxNestingDepth`; the deepest
    /// composite part was kept as a leaf. Severe.
    case nestingTooDeep
    /// More than `Limits.maxParts` parts; the rest of the message was not split. Severe.
    case tooManyParts

    // MARK: Bodies (RFC 2045 §6)

    /// A base64 or quoted-printable body that is not valid (characters outside
    /// the alphabet, a truncated quantum, data after padding, a stray `=`);
    /// `decodedBody` decodes what it can. Severe.
    case badEncoding
    /// A Content-Transfer-Encoding other than 7bit, 8bit, binary,
    /// quoted-printable or base64 (RFC 2045 §6.4); the body is used as it is.
    case unknownTransferEncoding
    /// Base64/quoted-printable message/rfc822 parts would together decode
    /// more octets than the message itself holds; the rest were kept as leaves. Severe.
    case decodeLimitExceeded
    /// A multipart or message part with base64 or quoted-printable encoding,
    /// which RFC 2045 §6.4 forbids. A `message/rfc822` part is decoded and parsed anyway.
    case encodedCompositePart

    /// True for the defects that count towards `MailMessage.isMalformed`.
    public var isSevere: Bool {
        switch self {
        case .headerTooLong, .tooManyHeaderFields, .missingHeaderBodySeparator, .duplicateMIMEHeader,
             .missingBoundary, .boundaryNotFound, .nestingTooDeep, .tooManyParts, .badEncoding, .decodeLimitExceeded:
            return true
        case .headerLineTooLong, .invalidHeaderLine, .eightBitInHeader, .controlCharacterInHeader,
             .invalidContentType, .missingClosingBoundary, .unknownTransferEncoding, .encodedCompositePart:
            return false
        }
    }

    /// A sentence for logs and the admin.
    public var description: String {
        switch self {
        case .headerTooLong: return "header section larger than the limit; later fields ignored"
        case .tooManyHeaderFields: return "too many header fields; later fields ignored"
        case .headerLineTooLong: return "header line longer than 998 octets"
        case .missingHeaderBodySeparator: return "header section not ended by an empty line"
        case .invalidHeaderLine: return "continuation line with no header field before it"
        case .eightBitInHeader: return "8-bit octets in a header field"
        case .controlCharacterInHeader: return "control character in a header field"
        case .invalidContentType: return "invalid Content-Type; text/plain assumed"
        case .duplicateMIMEHeader: return "duplicate MIME header field in one part"
        case .missingBoundary: return "multipart without boundary parameter"
        case .boundaryNotFound: return "multipart boundary never found in the body"
        case .missingClosingBoundary: return "multipart close delimiter missing"
        case .nestingTooDeep: return "MIME parts nested too deep"
        case .tooManyParts: return "too many MIME parts"
        case .badEncoding: return "invalid base64 or quoted-printable body"
        case .unknownTransferEncoding: return "unknown Content-Transfer-Encoding"
        case .decodeLimitExceeded: return "encoded forwarded messages too large to decode"
        case .encodedCompositePart: return "multipart or message part with base64/quoted-printable encoding"
        }
    }
}

/// An ordered set of defects (first occurrence wins), for the parser.
struct DefectList {
    private(set) var list: [MessageDefect] = []
    private var seen: UInt32 = 0

    mutating func insert(_ defect: MessageDefect) {
        let bit = UInt32(1) << UInt32(MessageDefect.allCases.firstIndex(of: defect)!)
        if seen & bit == 0 {
            seen |= bit
            list.append(defect)
        }
    }

    mutating func formUnion(_ other: [MessageDefect]) {
        for defect in other { insert(defect) }
    }
}
