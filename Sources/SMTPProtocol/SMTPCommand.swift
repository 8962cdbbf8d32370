/// One SMTP command as a client sends it (RFC 5321 §4.1.1, RFC 3030 BDAT,
/// RFC 3207 STARTTLS).
///
/// Values are produced by ``SMTPCommandParser`` from one command line.
/// Paths are kept without their angle brackets; the null reverse path `<>`
/// is the empty string.
public enum SMTPCommand: Hashable, Sendable {
    /// `EHLO domain` (RFC 5321 §4.1.1.1).
    case ehlo(String)
    /// `HELO domain` (RFC 5321 §4.1.1.1).
    case helo(String)
    /// `MAIL FROM:<reverse-path> [params]` (RFC 5321 §4.1.1.2). Parameter keys
    /// are upper-cased; keyword-only parameters (`SMTPUTF8`) have an empty value.
    case mail(reversePath: String, parameters: [String: String])
    /// `RCPT TO:<forward-path> [params]` (RFC 5321 §4.1.1.3).
    case rcpt(forwardPath: String, parameters: [String: String])
    /// `DATA` (RFC 5321 §4.1.1.4).
    case data
    /// `BDAT size [LAST]` (RFC 3030 §2).
    case bdat(size: Int, last: Bool)
    /// `RSET` (RFC 5321 §4.1.1.5).
    case rset
    /// `NOOP [string]` (RFC 5321 §4.1.1.9).
    case noop
    /// `QUIT` (RFC 5321 §4.1.1.10).
    case quit
    /// `VRFY string` (RFC 5321 §4.1.1.6).
    case vrfy(String)
    /// `HELP [string]` (RFC 5321 §4.1.1.8).
    case help(String?)
    /// `STARTTLS` (RFC 3207 §4).
    case startTLS
    /// A verb the listener declared in
    /// ``SMTPServerConfiguration/extensionVerbs`` (upper-cased), with the rest
    /// of the line after the first space as it came (UTF-8; empty when the
    /// line is the verb alone). Answered by
    /// ``SMTPServerDelegate/extensionCommand(_:argument:transaction:eventLoop:)``.
    case extended(verb: String, argument: String)
    /// Any other verb (upper-cased, at most 16 characters kept).
    case unknown(verb: String)
}

/// A command line that could not be parsed; ``reply`` is what the server
/// sends back (`501 5.5.4`, `555 5.5.4`, `553 5.6.7`, ...).
public struct SMTPCommandParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The reply to send for the refused line.
    public var reply: SMTPReply

    /// Wraps the reply to send.
    public init(_ reply: SMTPReply) {
        self.reply = reply
    }

    public var description: String { reply.description }
}
