import SMTPProtocol
import NIOSSL
/// Whether a queue uses STARTTLS towards its host.
public enum DestinationTLSMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// Plain text only.
    case off
    /// STARTTLS when the host offers it, without verifying its certificate
    /// (what MTAs do on the open internet); plain text otherwise.
    case opportunistic
    /// STARTTLS is mandatory and the certificate must verify against the
    /// system's trust roots for `host`; otherwise the mail stays queued.
    case required
}

/// A next hop that a delivery queue empties into: the smarthost, and later
/// `the.cpq.host` and `the.cpq.release.host`.
public struct Destination: Sendable, Hashable, Codable {
    /// The queue name that `tophosts` shows (`smarthost`, `the.cpq.host`).
    public var name: String
    public var host: String
    public var port: Int
    /// Concurrent connections the queue keeps open to this host.
    public var maxConnections: Int
    public var tls: DestinationTLSMode

    public init(name: String, host: String, port: Int, maxConnections: Int, tls: DestinationTLSMode = .off) {
        self.name = name
        self.host = host
        self.port = port
        self.maxConnections = maxConnections
        self.tls = tls
    }
}

/// When to try a deferred recipient again: exponential backoff from
/// `initial` seconds, doubling, capped at `maximum`.
public struct RetrySchedule: Sendable, Hashable, Codable {
    public var initial: Double
    public var maximum: Double
    public var factor: Double

    public init(initial: Double = 60, maximum: Double = 3600, factor: Double = 2) {
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
    }

    /// Seconds to wait after the `attempt`-th failed attempt (1-based).
    public func delay(afterAttempt attempt: Int) -> Double {
        guard attempt > 1 else { return initial }
        var delay = initial
        for _ in 1..<min(attempt, 64) {
            delay *= factor
            if delay >= maximum { return maximum }
        }
        return min(delay, maximum)
    }
}

/// How a delivery queue behaves; one per queue.
public struct DeliveryPolicy: Sendable, Hashable {
    /// Our name in EHLO and in DSNs.
    public var localHostname: String
    public var retry: RetrySchedule
    /// Seconds a message may wait in the queue before it bounces as expired.
    public var maxQueueLifetime: Double
    /// Consecutive connection failures after which the host is marked down.
    public var hostDownAfterFailures: Int
    /// Seconds an unused outbound connection stays open.
    public var idleConnectionTimeout: Double

    public init(localHostname: String, retry: RetrySchedule = RetrySchedule(), maxQueueLifetime: Double = 3 * 86400,
                hostDownAfterFailures: Int = 3, idleConnectionTimeout: Double = 10) {
        self.localHostname = localHostname
        self.retry = retry
        self.maxQueueLifetime = maxQueueLifetime
        self.hostDownAfterFailures = hostDownAfterFailures
        self.idleConnectionTimeout = idleConnectionTimeout
    }
}

/// What a delivery queue does beyond plain SMTP for a next hop such as the manager's
/// cpq_listener: its own TLS (the CPQ CA and pin), lines before each MAIL (XCPQ TRANSFER
/// and HOLD), and a label in the delivery logs (`to Centralized Policy Quarantine`).
public struct DeliveryCustomization: Sendable {
    /// The STARTTLS handler and the words for its failures, made fresh for each
    /// connection so that they can share per-connection state (CPQ: the peer
    /// verification that knows why a certificate was refused).
    public struct TLSSession: Sendable {
        public var makeHandler: @Sendable (NIOSSLContext, String?) throws -> NIOSSLClientHandler
        public var describeError: @Sendable (any Error) -> String

        public init(makeHandler: @escaping @Sendable (NIOSSLContext, String?) throws -> NIOSSLClientHandler,
                    describeError: @escaping @Sendable (any Error) -> String) {
            self.makeHandler = makeHandler
            self.describeError = describeError
        }
    }

    /// The client TLS context; nil means the destination's `tls` mode decides as usual.
    public var tlsContext: NIOSSLContext?
    /// Called once per connection; nil means a plain handler and the built-in words.
    public var tlsSession: (@Sendable () -> TLSSession)?
    /// Lines sent before MAIL for a message; each must get a 2xx.
    public var preamble: (@Sendable (MessageEnvelope) -> [String])?
    /// Appended to `Delivery start ... to RID [0]` and `Message done ...` lines.
    public var logLabel: String?
    /// Told what became of the recipients of each attempt, after the outcome is recorded
    /// in the spool (the gateway reports released recipients to the manager; the
    /// manager's release queue records the gateway's answer). It runs on the queue's
    /// worker: keep it short (write it down, act later).
    public var onAttempt: (@Sendable (MessageEnvelope, [RecipientAttempt]) async -> Void)?
    /// Where to connect, asked before each new connection; nil means the destination's
    /// host and port. The manager's release queue learns a gateway's cpq_listener this way
    /// (over SSH). When it throws, the attempt fails like a refused connection: the mail
    /// stays queued, the host is marked down after repeated failures and retried with
    /// backoff; the error's text goes to the `Connection Error` line.
    public var route: (@Sendable () async throws -> DeliveryRoute)?

    public init(tlsContext: NIOSSLContext? = nil, tlsSession: (@Sendable () -> TLSSession)? = nil,
                preamble: (@Sendable (MessageEnvelope) -> [String])? = nil, logLabel: String? = nil,
                onAttempt: (@Sendable (MessageEnvelope, [RecipientAttempt]) async -> Void)? = nil,
                route: (@Sendable () async throws -> DeliveryRoute)? = nil) {
        self.tlsContext = tlsContext
        self.tlsSession = tlsSession
        self.preamble = preamble
        self.logLabel = logLabel
        self.onAttempt = onAttempt
        self.route = route
    }
}

/// A host and port to connect to for one connection (see ``DeliveryCustomization/route``).
public struct DeliveryRoute: Sendable, Hashable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

/// What one delivery attempt did for one recipient, as ``DeliveryCustomization/onAttempt`` sees it.
public struct RecipientAttempt: Sendable, Hashable {
    public enum Result: String, Sendable, Hashable {
        /// The next hop answered 250 (recorded as delivered).
        case delivered
        /// A temporary failure: the recipient stays queued.
        case deferred
        /// Refused for good; the DSN is stored and the outcome recorded.
        case bounced
        /// In the queue too long; the DSN is stored and the outcome recorded.
        case expired
        /// Removed by an administrator (`deleterecipients`).
        case deleted
    }

    public var rid: Int
    public var address: String
    public var result: Result
    /// The next hop's reply, or the local reason (expiry, deletion).
    public var reply: SMTPReply

    public init(rid: Int, address: String, result: Result, reply: SMTPReply) {
        self.rid = rid
        self.address = address
        self.result = result
        self.reply = reply
    }
}
