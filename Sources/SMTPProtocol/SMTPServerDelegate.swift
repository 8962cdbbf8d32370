import NIOCore

/// What the server knows about a freshly accepted connection.
public struct SMTPConnectionInfo: Sendable, Hashable {
    /// Name of the listener that accepted the connection (`IncomingMail`).
    public var listenerName: String
    public var remoteAddress: String
    public var remotePort: Int
    public var localAddress: String
    public var localPort: Int

    public init(listenerName: String, remoteAddress: String, remotePort: Int, localAddress: String, localPort: Int) {
        self.listenerName = listenerName
        self.remoteAddress = remoteAddress
        self.remotePort = remotePort
        self.localAddress = localAddress
        self.localPort = localPort
    }
}

/// Whether STARTTLS is offered and whether it must be used before MAIL.
public enum SMTPTLSMode: String, Sendable, Hashable, Codable {
    case off, preferred, required
}

/// Limits that the host access table decides per connection.
public struct SMTPSessionPolicy: Sendable, Hashable {
    /// Largest message accepted, in octets (announced with SIZE).
    public var maxMessageSize: Int
    /// More recipients than this in one transaction gets `452 4.5.3`.
    public var maxRecipientsPerMessage: Int
    /// More messages than this in one session gets `421 4.7.0` / `452 4.5.3`.
    public var maxMessagesPerSession: Int
    public var tls: SMTPTLSMode

    public init(
        maxMessageSize: Int = SMTPDefaults.maxMessageSize,
        maxRecipientsPerMessage: Int = SMTPDefaults.maxRecipientsPerMessage,
        maxMessagesPerSession: Int = SMTPDefaults.maxMessagesPerSession,
        tls: SMTPTLSMode = .preferred
    ) {
        self.maxMessageSize = maxMessageSize
        self.maxRecipientsPerMessage = maxRecipientsPerMessage
        self.maxMessagesPerSession = maxMessagesPerSession
        self.tls = tls
    }
}

/// The answer to a new connection.
public enum SMTPConnectionDecision: Sendable, Hashable {
    /// Send a 220 greeting with this text and run the session under this policy.
    case accept(SMTPSessionPolicy, greeting: String)
    /// Send this reply (e.g. `554 5.7.1 Access denied`) instead of a greeting,
    /// answer every further command with `503 5.5.1` except QUIT, and close.
    case reject(SMTPReply)
    /// Close the TCP connection without a word (HAT `TCPREFUSE`).
    case refuse
}

/// The envelope a client built with MAIL and RCPT, plus session facts.
public struct SMTPTransaction: Sendable, Hashable {
    /// Reverse path without angle brackets; empty for the null sender `<>`.
    public var mailFrom: String
    /// Forward paths without angle brackets, in the order they were accepted.
    public var recipients: [String]
    /// The EHLO/HELO argument of the session.
    public var heloName: String
    /// MAIL parameters such as `BODY=8BITMIME`, `SMTPUTF8`, `SIZE=123`, upper-cased keys.
    public var mailParameters: [String: String]
    /// True when the transaction ran inside TLS.
    public var tls: Bool

    public init(mailFrom: String, recipients: [String] = [], heloName: String, mailParameters: [String: String] = [:], tls: Bool = false) {
        self.mailFrom = mailFrom
        self.recipients = recipients
        self.heloName = heloName
        self.mailParameters = mailParameters
        self.tls = tls
    }
}

/// The policy side of one SMTP server connection. The server handler owns one
/// delegate per connection and calls it on the connection's event loop only;
/// every answer is a future so that a delegate can consult a disk or a lookup.
///
/// A reply whose code is 2xx accepts; anything else is sent to the client as
/// it is (so it must carry an enhanced status code).
public protocol SMTPServerDelegate: AnyObject {
    /// Called once before the greeting.
    func connectionOpened(_ info: SMTPConnectionInfo, eventLoop: EventLoop) -> EventLoopFuture<SMTPConnectionDecision>
    /// TLS was negotiated (after STARTTLS); protocol like `TLSv1.3`, cipher as OpenSSL names it.
    /// Called by the default ``tlsEstablished(_:)``; delegates that need the
    /// peer certificate implement that one instead. Default: nothing.
    func tlsEstablished(protocolVersion: String, cipher: String)
    /// TLS was negotiated (after STARTTLS), with the client certificate when
    /// the client sent one. The session state was reset before (RFC 3207 §4.2).
    /// The default calls ``tlsEstablished(protocolVersion:cipher:)``.
    func tlsEstablished(_ info: SMTPTLSInfo)
    /// Extra EHLO keyword lines (`XCPQ 1`) for the session's TLS state; asked
    /// once when the connection is accepted (`tls` false) and again after the
    /// TLS handshake (`tls` true, after ``tlsEstablished(_:)``). Lines with
    /// control characters are dropped. Default: none.
    func ehloKeywords(tls: Bool) -> [String]
    /// A command whose verb is in ``SMTPServerConfiguration/extensionVerbs``.
    /// `transaction` is the open mail transaction, if any. A 5xx answer counts
    /// as a bad command (see ``SMTPServerConfiguration/maxBadCommands``); a
    /// failed future is `451 4.3.0`. Default: `502 5.5.1 Command not implemented`.
    func extensionCommand(_ verb: String, argument: String, transaction: SMTPTransaction?, eventLoop: EventLoop) -> EventLoopFuture<SMTPReply>
    /// RSET, EHLO or HELO, or the TLS handshake reset the session (RFC 5321
    /// §4.1.1.5, §4.1.4; RFC 3207 §4.2): forget what extension commands set
    /// up. Comes after ``transactionAborted(_:)`` when a transaction was open.
    /// Default: nothing.
    func sessionReset()
    /// MAIL FROM passed syntax and SIZE checks; decide whether to take it.
    func mailFrom(_ transaction: SMTPTransaction, eventLoop: EventLoop) -> EventLoopFuture<SMTPReply>
    /// RCPT TO passed syntax and the recipient limit; `recipient` is not yet in `transaction`.
    func rcptTo(_ recipient: String, transaction: SMTPTransaction, eventLoop: EventLoop) -> EventLoopFuture<SMTPReply>
    /// The whole message arrived (dot-unstuffed, CRLF line ends). Answer 250
    /// only once the message is durable.
    func messageReceived(_ transaction: SMTPTransaction, body: ByteBuffer, eventLoop: EventLoop) -> EventLoopFuture<SMTPReply>
    /// The transaction ended without a message (RSET, a new MAIL after errors, QUIT, disconnect).
    func transactionAborted(_ transaction: SMTPTransaction)
    /// The connection is closed; `reason` is a short text for mail_logs (`QUIT`, `timeout`, `too many errors`...).
    func connectionClosed(reason: String)
}

extension SMTPServerDelegate {
    public func tlsEstablished(protocolVersion: String, cipher: String) {}

    public func tlsEstablished(_ info: SMTPTLSInfo) {
        tlsEstablished(protocolVersion: info.protocolVersion, cipher: info.cipher)
    }

    public func ehloKeywords(tls: Bool) -> [String] { [] }

    public func extensionCommand(_ verb: String, argument: String, transaction: SMTPTransaction?,
                                 eventLoop: EventLoop) -> EventLoopFuture<SMTPReply> {
        eventLoop.makeSucceededFuture(SMTPServerReplies.notImplemented)
    }

    public func sessionReset() {}
}

/// Named defaults for every limit (RFC 5321 §4.5.3 and our own policy).
public enum SMTPDefaults {
    /// RFC 5321 §4.5.3.1.4: command line including CRLF.
    public static let maxCommandLineLength = 512
    /// RFC 5321 §4.5.3.1.6: text line including CRLF.
    public static let maxTextLineLength = 1000
    public static let maxMessageSize = 10 * 1024 * 1024
    public static let maxRecipientsPerMessage = 1000
    public static let maxMessagesPerSession = 10000
    /// Unrecognised or out-of-sequence commands before `421 4.7.0` and close.
    public static let maxBadCommands = 10
    /// Seconds a client may take to send one command (RFC 5321 §4.5.3.2.7 suggests 5 minutes).
    public static let commandTimeoutSeconds: Int64 = 300
    /// Below this many octets per second during DATA/BDAT (averaged over the window) the session is dropped.
    public static let minimumDataRate = 100
    public static let dataRateWindowSeconds: Int64 = 30
    /// Seconds a closing reply may take to be written before the connection is closed without it.
    public static let closeTimeoutSeconds: Int64 = 5
}
