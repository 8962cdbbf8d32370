import QuarantineStore

/// The mail_logs lines of a manual release or delete, in the format admins know from
/// appliances, naming the message by its gateway's MID (as the gateway's `quarantined to`
/// line did). Computed from the message as it was *before* the action, so that only holds
/// the action changed are logged. The API's single and bulk actions share them.
enum QuarantineActionLog {
    /// `MID 483 released from quarantine "Policy" (manual)` for each hold still held in
    /// `from` (nil: all), then `MID 483 released from all quarantines` when `fromAll` (no
    /// hold is left) and this action released something.
    static func released(_ before: QuarantinedMessage?, from: Set<String>?, fromAll: Bool) -> [String] {
        guard let before else { return [] }
        let released = before.holds.filter { $0.state == .held && from?.contains($0.quarantine) ?? true }
        var lines = released.map { "MID \(before.gatewayMID) released from quarantine \"\($0.quarantine)\" (manual)" }
        if fromAll && !released.isEmpty { lines.append("MID \(before.gatewayMID) released from all quarantines") }
        return lines
    }

    /// `MID 484 deleted from quarantine "Virus" (manual)` for each hold in `from` (nil: all)
    /// that was not deleted yet.
    static func deleted(_ before: QuarantinedMessage?, from: Set<String>?) -> [String] {
        guard let before else { return [] }
        return before.holds.filter { $0.state != .deleted && from?.contains($0.quarantine) ?? true }
            .map { "MID \(before.gatewayMID) deleted from quarantine \"\($0.quarantine)\" (manual)" }
    }
}
