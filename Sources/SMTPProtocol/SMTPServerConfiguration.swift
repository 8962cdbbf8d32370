import NIOCore
import NIOSSL

/// How an ``SMTPServerHandler`` runs its sessions: names, TLS and time limits.
/// Per-connection limits (size, recipients, TLS mode) come from the delegate's
/// ``SMTPConnectionDecision`` instead.
public struct SMTPServerConfiguration: Sendable {
    /// Listener name handed to the delegate in ``SMTPConnectionInfo``.
    public var listenerName: String
    /// Our host name in the greeting, EHLO and `421` replies (RFC 5321 §4.1.3).
    public var hostname: String
    /// The server context for STARTTLS (RFC 3207); nil means STARTTLS is never offered.
    public var tlsContext: NIOSSLContext?
    /// More bad commands than this in one session gets `421 4.7.0` and a close.
    public var maxBadCommands: Int
    /// Time a client may take to complete one command (RFC 5321 §4.5.3.2.7).
    public var commandTimeout: TimeAmount
    /// Minimum octets per second while receiving DATA or BDAT, averaged over ``dataRateWindow``.
    public var minimumDataRate: Int
    /// Window over which ``minimumDataRate`` is measured.
    public var dataRateWindow: TimeAmount
    /// Wait this long before the greeting; a client that talks first is dropped (RFC 5321 §4.3.1).
    public var greetingDelay: TimeAmount
    /// How long a closing reply (`221`, `421`, `554`) may take to be written
    /// before the connection is closed without it.
    public var closeTimeout: TimeAmount
    /// Before STARTTLS only EHLO, HELO, STARTTLS, NOOP and QUIT are accepted;
    /// anything else gets `530 5.7.0 Must issue a STARTTLS command first`
    /// (RFC 3207 §4; stricter than ``SMTPTLSMode/required``, which only guards MAIL).
    public var requireTLS: Bool
    /// Verbs (upper-case) that are parsed as ``SMTPCommand/extended(verb:argument:)``
    /// and answered by the delegate's
    /// ``SMTPServerDelegate/extensionCommand(_:argument:transaction:eventLoop:)``.
    /// Standard verbs cannot be overridden.
    public var extensionVerbs: Set<String>
    /// Makes the TLS handler for STARTTLS from ``tlsContext``, e.g. with a custom
    /// certificate verification (CPQ checks the peer against its CA and the paired
    /// gateways); nil means `NIOSSLServerHandler(context:)`.
    public var makeTLSHandler: (@Sendable (NIOSSLContext) throws -> NIOSSLServerHandler)?
    /// Turns a TLS error into the words after `TLS failed: ` in the close reason
    /// (CPQ: `verify error: no certificate from client`); nil means the error's own text.
    public var describeTLSError: (@Sendable (any Error) -> String)?
    /// Per connection, instead of the two above: the TLS handler and the words for its
    /// failures made together, so that they can share what the handshake learnt (CPQ:
    /// why a client certificate was refused). Takes precedence over ``makeTLSHandler``.
    public var makeTLSSession: (@Sendable (NIOSSLContext) throws -> SMTPServerTLSSession)?

    /// A configuration with the ``SMTPDefaults`` limits unless given.
    public init(
        listenerName: String,
        hostname: String,
        tlsContext: NIOSSLContext? = nil,
        maxBadCommands: Int = SMTPDefaults.maxBadCommands,
        commandTimeout: TimeAmount = .seconds(SMTPDefaults.commandTimeoutSeconds),
        minimumDataRate: Int = SMTPDefaults.minimumDataRate,
        dataRateWindow: TimeAmount = .seconds(SMTPDefaults.dataRateWindowSeconds),
        greetingDelay: TimeAmount = .zero,
        closeTimeout: TimeAmount = .seconds(SMTPDefaults.closeTimeoutSeconds),
        requireTLS: Bool = false,
        extensionVerbs: Set<String> = []
    ) {
        self.listenerName = listenerName
        self.hostname = hostname
        self.tlsContext = tlsContext
        self.maxBadCommands = maxBadCommands
        self.commandTimeout = commandTimeout
        self.minimumDataRate = minimumDataRate
        self.dataRateWindow = dataRateWindow
        self.greetingDelay = greetingDelay
        self.closeTimeout = closeTimeout
        self.requireTLS = requireTLS
        self.extensionVerbs = Set(extensionVerbs.map { $0.uppercased() })
    }
}

/// A STARTTLS handler with the words for its failures (``SMTPServerConfiguration/makeTLSSession``).
public struct SMTPServerTLSSession {
    public var handler: NIOSSLServerHandler
    public var describeError: @Sendable (any Error) -> String

    public init(handler: NIOSSLServerHandler, describeError: @escaping @Sendable (any Error) -> String) {
        self.handler = handler
        self.describeError = describeError
    }
}
