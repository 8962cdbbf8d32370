import Scanning

/// The fields of `XCPQ HOLD` are those of the gateway's ``QuarantineTicket``:
/// the quarantine name (positional), `STAGE` (``QuarantineTicket/stage``),
/// `RESUME` (``QuarantineTicket/resumeAt``), `KIND` and `DETAIL`
/// (``QuarantineTicket/reason``), optional `LEVEL`
/// (``QuarantineReason/threatLevel``), `RETENTION`
/// (``QuarantineTicket/retentionSeconds``) and the flag `COPY`
/// (``QuarantineTicket/isCopy``).
public typealias CPQHold = QuarantineTicket

extension QuarantineReason.Kind {
    /// The `KIND` token: `message-filter`, `content-filter`, `antivirus`, `outbreak`.
    public var cpqToken: String {
        switch self {
        case .messageFilter: "message-filter"
        case .contentFilter: "content-filter"
        case .antivirus: "antivirus"
        case .outbreak: "outbreak"
        }
    }

    /// The kind a `KIND` token names, nil for anything else (case matters).
    public init?(cpqToken: Substring) {
        switch cpqToken {
        case "message-filter": self = .messageFilter
        case "content-filter": self = .contentFilter
        case "antivirus": self = .antivirus
        case "outbreak": self = .outbreak
        default: return nil
        }
    }
}
