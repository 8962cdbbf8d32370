import NIOCore

/// Why a message body received with DATA or BDAT was refused by the framer.
public enum SMTPMessageDataError: Hashable, Sendable {
    /// A CR or LF not part of a CRLF pair (RFC 5321 §2.3.8): the message is
    /// refused rather than guessed at, which closes the door on SMTP smuggling.
    case bareLineEnding
    /// A text line longer than ``SMTPDefaults/maxTextLineLength`` octets
    /// including CRLF (RFC 5321 §4.5.3.1.6).
    case lineTooLong
    /// More octets than the session's maximum message size (RFC 1870).
    case tooLarge

    /// The reply the server sends once the message has been read to its end.
    public var reply: SMTPReply {
        switch self {
        case .bareLineEnding: SMTPServerReplies.bareLineEnding
        case .lineTooLong: SMTPServerReplies.textLineTooLong
        case .tooLarge: SMTPServerReplies.messageTooLarge
        }
    }
}

/// The end of a message: its body (CRLF line ends, dot-unstuffed) or the
/// reason it was refused.
public enum SMTPMessageDataOutcome: Hashable, Sendable {
    /// The message arrived whole; the body has CRLF line ends and no dot-stuffing.
    case complete(ByteBuffer)
    /// The message was read to its end but is refused for this reason.
    case rejected(SMTPMessageDataError)
}

/// Collects the octets of one message up to a size limit; once the message
/// is known to be refused nothing more is kept, so memory stays bounded.
struct SMTPMessageAccumulator {
    private(set) var body: ByteBuffer
    /// Octets of content seen so far, kept or not.
    private(set) var size = 0
    let maxSize: Int
    var bareLineEnding = false
    var lineTooLong = false
    private(set) var tooLarge = false
    /// BDAT: the octets so far end with a CR, so the next one must be LF.
    private var endsWithCR = false

    init(maxSize: Int) {
        self.maxSize = maxSize
        self.body = ByteBuffer()
    }

    var error: SMTPMessageDataError? {
        if bareLineEnding { return .bareLineEnding }
        if lineTooLong { return .lineTooLong }
        if tooLarge { return .tooLarge }
        return nil
    }

    mutating func append(_ slice: inout ByteBuffer) {
        size += slice.readableBytes
        if size > maxSize { tooLarge = true }
        guard error == nil else {
            if body.capacity > 0 { body = ByteBuffer() }
            return
        }
        body.writeBuffer(&slice)
    }

    /// BDAT carries raw octets (RFC 3030 §2), so nothing else finds a CR or
    /// LF outside a CRLF pair: check each chunk, across chunk boundaries.
    /// Only BODY=BINARYMIME could allow them, and that is not offered.
    mutating func checkLineEndings(_ octets: ByteBuffer) {
        guard !bareLineEnding else { return }
        let cr = UInt8(ascii: "\r")
        let lf = UInt8(ascii: "\n")
        var pendingCR = endsWithCR
        var bare = false
        octets.withUnsafeReadableBytes { raw in
            for byte in raw {
                if pendingCR {
                    pendingCR = false
                    if byte == lf { continue }
                    bare = true
                    return
                }
                if byte == cr {
                    pendingCR = true
                } else if byte == lf {
                    bare = true
                    return
                }
            }
        }
        endsWithCR = pendingCR
        if bare { bareLineEnding = true }
    }

    /// The last BDAT chunk was read: a CR at the very end is bare.
    mutating func finishLineEndings() {
        if endsWithCR { bareLineEnding = true }
    }

    var outcome: SMTPMessageDataOutcome {
        if let error { return .rejected(error) }
        return .complete(body)
    }
}
