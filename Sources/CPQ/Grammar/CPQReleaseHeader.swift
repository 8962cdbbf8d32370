import Scanning

/// The fields of `XCPQ RELEASE` (docs/CPQ.md, "Release").
public struct CPQReleaseHeader: Hashable, Sendable {
    /// Unique per release; a retried release with a known id delivers nothing twice.
    /// `[A-Za-z0-9._-]`, 1–64.
    public var releaseID: String
    /// `MID`: the gateway's original message id.
    public var mid: UInt64
    /// `QID`: the manager's id of the quarantined message, `[A-Za-z0-9._-]`, 1–64.
    public var qid: String
    /// `RESUME`: the pipeline stage the gateway goes on at.
    public var resume: PipelineStage
    /// `QUARANTINES`: the quarantines it was released from (1–16, distinct).
    public var quarantines: [String]

    public init(releaseID: String, mid: UInt64, qid: String, resume: PipelineStage, quarantines: [String]) {
        self.releaseID = releaseID
        self.mid = mid
        self.qid = qid
        self.resume = resume
        self.quarantines = quarantines
    }
}
