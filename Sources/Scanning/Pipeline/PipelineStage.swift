/// The stages every message passes, in this fixed order. A message quarantined at one
/// stage resumes, once released, at the stage after it (`resumeStage(after:)`).
public enum PipelineStage: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case messageFilters = "message-filters"
    case antivirus
    case contentFilters = "content-filters"
    case outbreak
    /// Past the last stage: ready for its delivery queue.
    case delivery

    var order: Int { Self.allCases.firstIndex(of: self)! }

    public static func < (a: PipelineStage, b: PipelineStage) -> Bool { a.order < b.order }

    /// The stage after this one (`delivery` stays `delivery`).
    public var next: PipelineStage {
        let all = Self.allCases
        return all[min(order + 1, all.count - 1)]
    }

    /// Where a message released from a quarantine set at `stage` goes on. Outbreak
    /// releases are rescanned first (anti-virus and outbreak again, with the signatures
    /// and rules of the moment of release); every other stage is not run twice.
    public static func resumeStage(after stage: PipelineStage) -> PipelineStage {
        stage == .outbreak ? .outbreak : stage.next
    }
}

/// Why a message is held: which stage, and the filter, virus or outbreak rule.
public struct QuarantineReason: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Codable {
        case messageFilter = "message filter"
        case contentFilter = "content filter"
        case antivirus
        case outbreak
    }
    public var kind: Kind
    /// Filter name, virus name(s), or outbreak rule id.
    public var detail: String
    /// Outbreak rules only: 1-5.
    public var threatLevel: Int?

    public init(kind: Kind, detail: String, threatLevel: Int? = nil) {
        self.kind = kind
        self.detail = detail
        self.threatLevel = threatLevel
    }

    /// As mail_logs shows it: `message filter:block_exe`, `antivirus:Eicar-Test-Signature`,
    /// `outbreak:OUTB-17 threat level 4`.
    public var description: String {
        if let threatLevel { return "\(kind.rawValue):\(detail) threat level \(threatLevel)" }
        return "\(kind.rawValue):\(detail)"
    }
}

/// One quarantine a message is held in, with everything the manager and a later release
/// need. Kept with the message in the spool (envelope attribute `quarantines`, JSON).
public struct QuarantineTicket: Sendable, Hashable, Codable {
    /// Quarantine name: `Policy`, `Virus`, `Outbreak`, or a named policy quarantine.
    public var quarantine: String
    public var reason: QuarantineReason
    /// The stage that quarantined it.
    public var stage: PipelineStage
    /// Where the pipeline goes on after release from every quarantine.
    public var resumeAt: PipelineStage
    /// Outbreak quarantine: how long it is held before release, by threat level.
    public var retentionSeconds: Int?
    /// A `duplicate-quarantine` copy: the original went on through the pipeline.
    public var isCopy: Bool

    public init(quarantine: String, reason: QuarantineReason, stage: PipelineStage, retentionSeconds: Int? = nil,
                isCopy: Bool = false) {
        self.quarantine = quarantine
        self.reason = reason
        self.stage = stage
        self.resumeAt = PipelineStage.resumeStage(after: stage)
        self.retentionSeconds = retentionSeconds
        self.isCopy = isCopy
    }
}
