/// The fixed replies of the SMTP server (RFC 5321 §4.2, enhanced status codes
/// from RFC 3463 / RFC 5248).
enum SMTPServerReplies {
    static let invalidCharacter = SMTPReply(501, .init(5, 5, 4), "Syntax error: CR, LF or NUL in command (RFC 5321 section 2.3.8)")
    static let invalidUTF8 = SMTPReply(501, .init(5, 5, 4), "Syntax error: invalid UTF-8 in command")
    static let nonASCIIWithoutSMTPUTF8 = SMTPReply(553, .init(5, 6, 7), "Non-ASCII addresses need the SMTPUTF8 parameter (RFC 6531 section 3.3)")
    static let lineTooLong = SMTPReply(500, .init(5, 5, 2), "Line too long")
    static let textLineTooLong = SMTPReply(500, .init(5, 5, 2), "Message rejected: text line longer than 1000 octets (RFC 5321 section 4.5.3.1.6)")
    static let bareLineEnding = SMTPReply(550, .init(5, 6, 11), "Message rejected: bare CR or LF in data (RFC 5321 section 2.3.8); use CRLF line endings")
    static let messageTooLarge = SMTPReply(552, .init(5, 3, 4), "Message size exceeds fixed maximum message size")
    static let badSequence = SMTPReply(503, .init(5, 5, 1), "Bad sequence of commands")
    static let needHelo = SMTPReply(503, .init(5, 5, 1), "Error: send HELO/EHLO first")
    static let needMail = SMTPReply(503, .init(5, 5, 1), "Error: need MAIL command")
    static let nestedMail = SMTPReply(503, .init(5, 5, 1), "Error: nested MAIL command")
    static let noValidRecipients = SMTPReply(554, .init(5, 5, 1), "Error: no valid recipients")
    static let dataAfterBdat = SMTPReply(503, .init(5, 5, 1), "Error: DATA after BDAT in one transaction")
    static let binaryMIMENotSupported = SMTPReply(555, .init(5, 5, 4), "BODY=BINARYMIME is not supported; send 8BITMIME with CRLF line endings")
    static let transactionInProgress = SMTPReply(503, .init(5, 5, 1), "Error: MAIL transaction in progress")
    static let alreadyTLS = SMTPReply(503, .init(5, 5, 1), "Error: TLS already active")
    static let tlsNotAvailable = SMTPReply(454, .init(4, 7, 0), "TLS not available")
    static let readyToStartTLS = SMTPReply(220, .init(2, 0, 0), "Ready to start TLS")
    static let mustStartTLS = SMTPReply(530, .init(5, 7, 0), "Must issue a STARTTLS command first")
    static let tooManyRecipients = SMTPReply(452, .init(4, 5, 3), "Too many recipients")
    static let tooManyMessages = SMTPReply(452, .init(4, 5, 3), "Too many messages in this session")
    static let tooManyErrors = SMTPReply(421, .init(4, 7, 0), "Too many errors, closing connection")
    static let tooManyConnections = SMTPReply(421, .init(4, 3, 2), "Too many concurrent connections, try again later")
    static let protocolViolation = SMTPReply(554, .init(5, 5, 0), "Error: SMTP protocol synchronization (data sent before the server's reply)")
    static let localError = SMTPReply(451, .init(4, 3, 0), "Local error in processing, try again later")
    static let localErrorClosing = SMTPReply(421, .init(4, 3, 0), "Local error in processing, try again later")
    static let vrfy = SMTPReply(252, .init(2, 5, 0), "Cannot VRFY user, but will accept message and attempt delivery")
    static let help = SMTPReply(214, .init(2, 0, 0), "See RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS")
    static let ok = SMTPReply(250, .init(2, 0, 0), "Ok")
    static let notImplemented = SMTPReply(502, .init(5, 5, 1), "Command not implemented")
    static let startData = SMTPReply(354, nil, "End data with <CR><LF>.<CR><LF>")

    static func syntax(_ usage: String) -> SMTPReply {
        SMTPReply(501, .init(5, 5, 4), "Syntax: \(usage)")
    }

    static func unknownCommand(_ verb: String) -> SMTPReply {
        SMTPReply(500, .init(5, 5, 2), "Error: command not recognized")
    }

    static func badParameterValue(_ key: String) -> SMTPReply {
        SMTPReply(501, .init(5, 5, 4), "Bad \(key) parameter value")
    }

    static func unsupportedParameter(_ key: String) -> SMTPReply {
        SMTPReply(555, .init(5, 5, 4), "Unsupported parameter \(key)")
    }

    static func duplicateParameter(_ key: String) -> SMTPReply {
        SMTPReply(501, .init(5, 5, 4), "Duplicate parameter \(key)")
    }

    static func greeting(hostname: String, text: String) -> SMTPReply {
        SMTPReply(220, nil, text.isEmpty ? "\(hostname) ESMTP" : "\(hostname) ESMTP \(text)")
    }

    static func closing(hostname: String) -> SMTPReply {
        SMTPReply(221, .init(2, 0, 0), "\(hostname) closing connection")
    }

    static func shuttingDown(hostname: String) -> SMTPReply {
        SMTPReply(421, .init(4, 3, 2), "\(hostname) Service shutting down, try again later")
    }

    static func timeout(hostname: String) -> SMTPReply {
        SMTPReply(421, .init(4, 4, 2), "\(hostname) Error: timeout exceeded")
    }

    static func chunkReceived(_ octets: Int) -> SMTPReply {
        SMTPReply(250, .init(2, 0, 0), "\(octets) octets received")
    }

    static func helo(hostname: String, client: String) -> SMTPReply {
        SMTPReply(250, nil, "\(hostname) Hello \(client)")
    }

    /// The EHLO response (RFC 5321 §4.1.1.1); no enhanced code (RFC 2034 §3).
    static func ehlo(hostname: String, client: String, maxMessageSize: Int, offerSTARTTLS: Bool, additional: [String] = []) -> SMTPReply {
        var lines = [
            "\(hostname) Hello \(client)",
            "PIPELINING",
            "SIZE \(maxMessageSize)",
            "8BITMIME",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES",
            "CHUNKING",
        ]
        if offerSTARTTLS { lines.append("STARTTLS") }
        lines.append(contentsOf: additional)
        lines.append("HELP")
        return SMTPReply(code: 250, enhanced: nil, lines: lines)
    }
}
