/// One `XCPQ` command (docs/CPQ.md): the sub-command and its fields, typed.
///
/// Produced by ``CPQCommandParser/parse(argument:)`` from the argument of
/// the `XCPQ` verb, turned back into a command line by ``CPQCommandEncoder``.
public enum CPQCommand: Hashable, Sendable {
    /// `XCPQ TRANSFER <id> GATEWAY= MID= ICID= RECEIVED=`: opens a transfer (gateway → manager).
    case transfer(CPQTransferHeader)
    /// `XCPQ HOLD <quarantine> STAGE= RESUME= KIND= DETAIL= [LEVEL=] [RETENTION=] [COPY]`:
    /// one quarantine the transferred message is held in.
    case hold(CPQHold)
    /// `XCPQ RELEASE <id> MID= QID= RESUME= QUARANTINES=`: opens a release (manager → gateway).
    case release(CPQReleaseHeader)
    /// `XCPQ REPORT <release id> RCPT= STATUS= [REPLY=]`: what became of a released recipient.
    case report(CPQReport)
    /// `XCPQ JOIN <gateway> PROOF= [LISTENER=]`: a gateway without a certificate joins.
    case join(CPQJoinRequest)

    /// The sub-command word.
    public var subCommand: CPQSubCommand {
        switch self {
        case .transfer: .transfer
        case .hold: .hold
        case .release: .release
        case .report: .report
        case .join: .join
        }
    }
}

/// The sub-commands of `XCPQ` version 1.
public enum CPQSubCommand: String, Hashable, Sendable, CaseIterable {
    case transfer = "TRANSFER"
    case hold = "HOLD"
    case release = "RELEASE"
    case report = "REPORT"
    case join = "JOIN"
}
