import Foundation
import Scanning

/// One message a gateway hands over for quarantine (CPQ transfer): the envelope, the
/// gateway's ids for it, and the quarantines it is to be held in. The body travels beside it.
public struct IncomingTransfer: Sendable, Hashable {
    /// The gateway's id for this handover; with `gateway` it makes a retried transfer
    /// recognisable (`storeTransfer` stores it once).
    public var transferID: String
    /// Name of the originating gateway (its CPQ peer name).
    public var gateway: String
    /// The message's MID on the gateway.
    public var gatewayMID: UInt64
    /// The inbound connection (ICID) on the gateway that brought the message, if known.
    public var gatewayICID: UInt64?
    /// When the gateway accepted the message.
    public var receivedAt: Date
    /// Reverse path without brackets; empty for the null sender.
    public var mailFrom: String
    /// Envelope recipients, in order.
    public var recipients: [String]
    /// The quarantines to hold the message in, with reason, stage and retention each.
    public var holds: [QuarantineTicket]
    /// The message needs SMTPUTF8 (RFC 6531) when it is delivered after release.
    public var smtpUTF8: Bool

    public init(transferID: String, gateway: String, gatewayMID: UInt64, gatewayICID: UInt64? = nil,
                receivedAt: Date, mailFrom: String, recipients: [String], holds: [QuarantineTicket],
                smtpUTF8: Bool = false) {
        self.transferID = transferID
        self.gateway = gateway
        self.gatewayMID = gatewayMID
        self.gatewayICID = gatewayICID
        self.receivedAt = receivedAt
        self.mailFrom = mailFrom
        self.recipients = recipients
        self.holds = holds
        self.smtpUTF8 = smtpUTF8
    }

    /// Where the gateway resumes the pipeline after release from every quarantine: the
    /// latest `resumeAt` of the holds (every stage before the latest quarantining stage
    /// already ran on the gateway; an outbreak hold resumes at the outbreak rescan).
    public var resumeAt: PipelineStage {
        holds.map(\.resumeAt).max() ?? .delivery
    }
}

/// What `storeTransfer` did.
public struct StoreResult: Sendable, Hashable {
    /// The message's QID: new, or the one the first copy of this transfer got.
    public var qid: QID
    /// True when `(gateway, transferID)` was already stored and nothing new was written.
    public var isDuplicate: Bool

    public init(qid: QID, isDuplicate: Bool) {
        self.qid = qid
        self.isDuplicate = isDuplicate
    }
}

/// Group-commit counters of a `QuarantineStore` since it was opened.
public struct IngestStatistics: Sendable, Hashable {
    /// Transfers handed to write transactions (duplicates included).
    public var transfers: Int
    /// Write transactions committed or attempted for them.
    public var commits: Int

    public init(transfers: Int, commits: Int) {
        self.transfers = transfers
        self.commits = commits
    }
}
