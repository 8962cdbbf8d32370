import Foundation
import Scanning

/// One quarantine a stored message is (or was) held in.
public struct QuarantineHold: Sendable, Hashable {
    public enum State: String, Sendable, Hashable, Codable {
        /// In the quarantine, waiting for an admin or for its retention to end.
        case held
        /// Released from this quarantine (delivered once released from all of them).
        case released
        /// Deleted from this quarantine: the message is never delivered.
        case deleted
    }

    /// Quarantine, reason, stage, resume stage, retention and copy flag, as the gateway sent them.
    public var ticket: QuarantineTicket
    public var state: State
    /// When retention ends: stored time + `ticket.retentionSeconds`, or + the quarantine's
    /// retention when the gateway gave none; later when an operator delayed it. (Nil only
    /// for holds of a store older than quarantine definitions that nothing could date.)
    public var expiresAt: Date?
    /// The quarantine the gateway asked for when it was not defined here (the hold is in
    /// `Unclassified`); nil otherwise.
    public var askedQuarantine: String?
    /// Who released or deleted it (nil while held).
    public var actedBy: String?
    /// When it was released or deleted (nil while held).
    public var actedAt: Date?

    /// The quarantine's name.
    public var quarantine: String { ticket.quarantine }

    public init(ticket: QuarantineTicket, state: State, expiresAt: Date?, actedBy: String?, actedAt: Date?,
                askedQuarantine: String? = nil) {
        self.askedQuarantine = askedQuarantine
        self.ticket = ticket
        self.state = state
        self.expiresAt = expiresAt
        self.actedBy = actedBy
        self.actedAt = actedAt
    }
}

/// A stored message: envelope, gateway ids, listing metadata and its holds.
public struct QuarantinedMessage: Sendable, Hashable {
    public var qid: QID
    public var gateway: String
    public var transferID: String
    public var gatewayMID: UInt64
    public var gatewayICID: UInt64?
    /// Reverse path without brackets; empty for the null sender.
    public var mailFrom: String
    public var recipients: [String]
    public var smtpUTF8: Bool
    /// When the gateway accepted the message.
    public var receivedAt: Date
    /// When the store committed it.
    public var storedAt: Date
    /// Octets of the body.
    public var size: Int
    /// The `Subject` header, RFC 2047 decoded; nil when the message has none.
    public var subject: String?
    /// The `Message-ID` header as written; nil when the message has none.
    public var messageID: String?
    /// Where the gateway resumes the pipeline after release.
    public var resumeAt: PipelineStage
    /// Every quarantine the message was put in, in the order the gateway sent them.
    public var holds: [QuarantineHold]
    /// False once the body was removed (deleted with nothing left held, or accepted by the
    /// gateway after release).
    public var hasBody: Bool

    /// The quarantines the message is still held in.
    public var heldIn: [String] { holds.filter { $0.state == .held }.map(\.quarantine) }

    public init(qid: QID, gateway: String, transferID: String, gatewayMID: UInt64, gatewayICID: UInt64?,
                mailFrom: String, recipients: [String], smtpUTF8: Bool, receivedAt: Date, storedAt: Date,
                size: Int, subject: String?, messageID: String?, resumeAt: PipelineStage,
                holds: [QuarantineHold], hasBody: Bool) {
        self.qid = qid
        self.gateway = gateway
        self.transferID = transferID
        self.gatewayMID = gatewayMID
        self.gatewayICID = gatewayICID
        self.mailFrom = mailFrom
        self.recipients = recipients
        self.smtpUTF8 = smtpUTF8
        self.receivedAt = receivedAt
        self.storedAt = storedAt
        self.size = size
        self.subject = subject
        self.messageID = messageID
        self.resumeAt = resumeAt
        self.holds = holds
        self.hasBody = hasBody
    }
}

/// One page of `QuarantineStore.list`: newest first.
public struct QuarantineListPage: Sendable, Hashable {
    public var items: [QuarantinedMessage]
    /// Pass as `after:` for the next (older) page; nil on the last page.
    public var next: String?

    public init(items: [QuarantinedMessage], next: String?) {
        self.items = items
        self.next = next
    }
}
