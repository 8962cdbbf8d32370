import Foundation
import MailMessage
import Scanning

/// A message to deliver after release from every quarantine: what the release queue
/// sends to the originating gateway (`the.cpq.release.host`), with the body from
/// `QuarantineStore.body(_:)`.
public struct ReleaseRequest: Sendable, Hashable {
    /// Where a release is on its way to the gateway.
    public enum State: String, Sendable, Hashable, Codable {
        /// Recorded by the store; not yet on the release queue.
        case requested
        /// On the release queue (`markReleaseQueued`).
        case queued
        /// The gateway answered 250 to the release (`markReleaseAccepted`): it owns delivery now.
        case accepted
        /// The gateway refused the release permanently (`markReleaseFailed`): not delivered.
        case failed
    }

    /// Unique and stable (a UUID): the gateway recognises a retried delivery of the same
    /// release by it and never delivers twice.
    public var releaseID: String
    public var qid: QID
    /// The originating gateway, its MID and ICID for the message.
    public var gateway: String
    public var gatewayMID: UInt64
    public var gatewayICID: UInt64?
    public var mailFrom: String
    public var recipients: [String]
    public var smtpUTF8: Bool
    /// Where the gateway resumes the pipeline (`outbreak` means rescanned).
    public var resumeAt: PipelineStage
    /// The quarantines the message was released from, sorted.
    public var quarantines: [String]
    public var requestedBy: String
    public var requestedAt: Date
    public var state: State
    /// A release of the message, or a copy sent to an address (the message stays held).
    public var kind: Kind
    /// How the message is changed on its way out (the quarantines' release options, for a
    /// release before expiry); empty when it goes as it came.
    public var options: ReleaseModifications

    public enum Kind: String, Sendable, Hashable, Codable {
        /// The message itself, released from every quarantine, to its recipients.
        case release
        /// A copy to an address an administrator gave (`recipients`); straight to delivery.
        case copy
    }

    public init(releaseID: String, qid: QID, gateway: String, gatewayMID: UInt64, gatewayICID: UInt64?,
                mailFrom: String, recipients: [String], smtpUTF8: Bool, resumeAt: PipelineStage,
                quarantines: [String], requestedBy: String, requestedAt: Date, state: State,
                kind: Kind = .release, options: ReleaseModifications = ReleaseModifications()) {
        self.kind = kind
        self.options = options
        self.releaseID = releaseID
        self.qid = qid
        self.gateway = gateway
        self.gatewayMID = gatewayMID
        self.gatewayICID = gatewayICID
        self.mailFrom = mailFrom
        self.recipients = recipients
        self.smtpUTF8 = smtpUTF8
        self.resumeAt = resumeAt
        self.quarantines = quarantines
        self.requestedBy = requestedBy
        self.requestedAt = requestedAt
        self.state = state
    }
}

/// What the gateway reported for one recipient of a released message.
public struct ReleaseOutcome: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable, Codable, CaseIterable {
        /// The gateway accepted the recipient for the release.
        case accepted
        /// Delivered to the next hop.
        case delivered
        /// A temporary failure; the gateway retries.
        case deferred
        /// A permanent failure; the gateway bounced it.
        case bounced
    }

    public var recipient: String
    public var status: Status
    /// The SMTP reply text (e.g. `250 2.0.0 Ok: queued as 4F2`, `550 5.1.1 User unknown`).
    public var reply: String
    public var at: Date

    public init(recipient: String, status: Status, reply: String, at: Date) {
        self.recipient = recipient
        self.status = status
        self.reply = reply
        self.at = at
    }
}

/// One release of a message, for its history: who asked, when, what became of it.
/// A release the gateway refused shows as `failed` with its reply, never as done.
public struct ReleaseRecord: Sendable, Hashable {
    public var releaseID: String
    public var requestedBy: String
    public var requestedAt: Date
    /// The quarantines the message was released from, sorted.
    public var quarantines: [String]
    public var state: ReleaseRequest.State
    /// When `state` was last changed.
    public var stateChangedAt: Date
    /// The MID the gateway gave the released message (from `markReleaseAccepted`).
    public var acceptedMID: UInt64?
    /// The gateway's reply when the release failed.
    public var failureReply: String?
    /// Per-recipient outcomes in the order they were recorded.
    public var outcomes: [ReleaseOutcome]

    public init(releaseID: String, requestedBy: String, requestedAt: Date, quarantines: [String],
                state: ReleaseRequest.State, stateChangedAt: Date, acceptedMID: UInt64?, failureReply: String?,
                outcomes: [ReleaseOutcome]) {
        self.releaseID = releaseID
        self.requestedBy = requestedBy
        self.requestedAt = requestedAt
        self.quarantines = quarantines
        self.state = state
        self.stateChangedAt = stateChangedAt
        self.acceptedMID = acceptedMID
        self.failureReply = failureReply
        self.outcomes = outcomes
    }
}
