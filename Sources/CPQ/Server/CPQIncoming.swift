import NIOCore
import Scanning
import SMTPProtocol

/// A complete transfer as the manager receives it at the end of DATA: the
/// metadata, every hold, the original envelope and the message. The owner
/// stores it durably, then answers (``CPQManagerBackend/storeTransfer(_:)``).
public struct CPQIncomingTransfer: Hashable, Sendable {
    public var header: CPQTransferHeader
    /// One per quarantine, in the order they were sent (1–16).
    public var holds: [CPQHold]
    /// The original envelope (`MAIL`/`RCPT` of the transfer) and session facts.
    public var envelope: SMTPTransaction
    /// The message as the gateway holds it (dot-unstuffed, CRLF line ends).
    public var body: ByteBuffer
    /// The gateway's certificate, when TLS carried one.
    public var peerCertificate: SMTPPeerCertificate?

    public init(header: CPQTransferHeader, holds: [CPQHold], envelope: SMTPTransaction, body: ByteBuffer,
                peerCertificate: SMTPPeerCertificate? = nil) {
        self.header = header
        self.holds = holds
        self.envelope = envelope
        self.body = body
        self.peerCertificate = peerCertificate
    }
}

/// A complete release as the gateway receives it at the end of DATA. The
/// owner spools it (fsync) before answering (``CPQGatewayBackend/acceptRelease(_:)``).
public struct CPQIncomingRelease: Hashable, Sendable {
    public var header: CPQReleaseHeader
    /// The original envelope of the message.
    public var envelope: SMTPTransaction
    /// The message with its original headers and Message-ID.
    public var body: ByteBuffer
    /// The manager's certificate, when TLS carried one.
    public var peerCertificate: SMTPPeerCertificate?

    public init(header: CPQReleaseHeader, envelope: SMTPTransaction, body: ByteBuffer, peerCertificate: SMTPPeerCertificate? = nil) {
        self.header = header
        self.envelope = envelope
        self.body = body
        self.peerCertificate = peerCertificate
    }
}

/// What the manager's store says about a transfer it kept.
public struct CPQStoredTransfer: Hashable, Sendable {
    /// The quarantined message's id (`Q7KD2M4XH1`).
    public var qid: String
    /// The transfer id was stored before: nothing new was stored.
    public var alreadyStored: Bool

    public init(qid: String, alreadyStored: Bool = false) {
        self.qid = qid
        self.alreadyStored = alreadyStored
    }
}

/// What the gateway says about a release it spooled.
public struct CPQQueuedRelease: Hashable, Sendable {
    /// The MID the released message has on the gateway now.
    public var mid: UInt64
    /// The release id was accepted before: nothing is delivered twice.
    public var alreadyQueued: Bool

    public init(mid: UInt64, alreadyQueued: Bool = false) {
        self.mid = mid
        self.alreadyQueued = alreadyQueued
    }
}

/// Whether a peer may do what it asks.
public enum CPQAuthorization: Hashable, Sendable {
    case granted
    /// Refused. For a transfer, `certificateName` is the gateway name the
    /// peer's certificate belongs to (nil when it belongs to no paired gateway).
    case denied(certificateName: String?)
}
