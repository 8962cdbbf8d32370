/// The fields of `XCPQ REPORT` (docs/CPQ.md, "Report").
public struct CPQReport: Hashable, Sendable {
    /// The release the recipient came with.
    public var releaseID: String
    /// `RCPT`: the recipient address (xtext on the wire).
    public var recipient: String
    /// `STATUS`.
    public var status: CPQReportStatus
    /// `REPLY`: the next hop's reply or the reason (xtext on the wire); empty
    /// when there is none (the key is left out).
    public var reply: String

    public init(releaseID: String, recipient: String, status: CPQReportStatus, reply: String = "") {
        self.releaseID = releaseID
        self.recipient = recipient
        self.status = status
        self.reply = reply
    }
}

/// What became of a released recipient.
public enum CPQReportStatus: String, Hashable, Sendable, CaseIterable {
    /// Taken into the gateway's spool.
    case accepted
    /// The next hop took it: the release is done.
    case delivered
    /// The next hop deferred it; the gateway tries again.
    case deferred
    /// The next hop refused it for good.
    case bounced
}
