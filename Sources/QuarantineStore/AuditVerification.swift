/// A point of the audit chain an admin wrote down: entry `sequence` had hash `hash`.
/// Verifying against it later proves that no entry up to there was rewritten, and that
/// none after it was removed from the end without the log growing past it again — what
/// the chain alone cannot prove (docs/QUARANTINE-STORE.md, "What verification proves").
public struct AuditAnchor: Hashable, Sendable, CustomStringConvertible {
    public var sequence: Int64
    public var hash: String

    public init(sequence: Int64, hash: String) {
        self.sequence = sequence
        self.hash = hash
    }

    /// `SEQ:HASH` as `audit verify` prints it, e.g. `1234:9f2c…` (64 hex digits); nil otherwise.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let sequence = Int64(parts[0]), sequence > 0, AuditChain.isHash(parts[1].lowercased()) else {
            return nil
        }
        self.init(sequence: sequence, hash: parts[1].lowercased())
    }

    public var description: String { "\(sequence):\(hash)" }
}

/// The first place where the audit chain does not hold.
public struct AuditProblem: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// The entry's columns do not hash to its stored `hash`: it was edited after it was written.
        case hashMismatch(stored: String, computed: String)
        /// Its `prev_hash` is not the `hash` of the entry before: that entry was replaced and
        /// re-hashed, or this entry's link was edited.
        case previousHashMismatch(expected: String, found: String)
        /// Entries are missing: the entry that follows `sequence - 1` is `found`.
        case sequenceGap(found: Int64)
        /// A column holds what the store never writes (NULL, a number for text, a malformed hash or time).
        case malformed(String)
        /// The anchored entry is not in the log, which ends at `lastSequence` (0: empty).
        case anchorMissing(lastSequence: Int64)
        /// The anchored entry has another hash now.
        case anchorMismatch(found: String)
    }

    /// The entry where the chain breaks (for a gap, the first missing one).
    public var sequence: Int64
    public var kind: Kind

    public init(sequence: Int64, kind: Kind) {
        self.sequence = sequence
        self.kind = kind
    }

    public var description: String {
        switch kind {
        case .hashMismatch(let stored, let computed):
            "entry \(sequence) was changed after it was written: its columns hash to \(computed), its stored hash is \(stored)"
        case .previousHashMismatch(let expected, let found):
            "entry \(sequence)'s prev_hash \(found) is not the hash of entry \(sequence - 1) (\(expected)): entry \(sequence - 1) was replaced and re-hashed, or entry \(sequence)'s link was edited"
        case .sequenceGap(let found):
            sequence == 1
                ? "entry 1 is missing: the log starts at entry \(found) (\(Self.entries(found - 1)) deleted)"
                : "entry \(sequence) is missing: the entry after \(sequence - 1) is \(found) (\(Self.entries(found - sequence)) deleted)"
        case .malformed(let what):
            "entry \(sequence) is malformed: \(what)"
        case .anchorMissing(let last):
            "the recorded entry \(sequence) is not in the log, which "
                + (last == 0 ? "is empty" : "ends at entry \(last)")
                + ": entries were removed from the end, or the log was replaced"
        case .anchorMismatch(let found):
            "entry \(sequence) now has hash \(found), not the one recorded: the log was rewritten up to entry \(sequence) at least"
        }
    }
}

extension AuditProblem {
    static func entries(_ count: Int64) -> String { count == 1 ? "1 entry" : "\(count) entries" }
}

/// What ``QuarantineStore/verifyAudit(anchor:)`` found.
public struct AuditVerification: Hashable, Sendable {
    /// Entries whose hash and link were checked and hold (all of them when intact).
    public var verifiedEntries: Int64
    /// The last entry of the log (seq and hash), to record as an anchor; nil when empty or broken.
    public var latest: AuditAnchor?
    /// The anchor checked, if one was given.
    public var anchor: AuditAnchor?
    /// The first problem; nil when the chain holds.
    public var problem: AuditProblem?

    public var isIntact: Bool { problem == nil }

    /// What an admin reads: intact with the latest hash to record, or where it breaks and what to do.
    public var summary: String {
        if let problem {
            let trusted = problem.sequence > 1 ? "entries 1-\(problem.sequence - 1) verify; " : ""
            return """
                audit log BROKEN at entry \(problem.sequence): \(problem)
                \(trusted)entry \(problem.sequence) and later cannot be trusted. Compare them with a backup of the store \
                (sqlite3 quarantine.sqlite "SELECT * FROM audit_log WHERE seq >= \(problem.sequence)") and find out \
                who could write the database file.
                """
        }
        guard let latest else {
            return "audit log intact: no entries yet"
        }
        var lines = ["audit log intact: \(verifiedEntries) \(verifiedEntries == 1 ? "entry" : "entries") (1-\(latest.sequence)), every hash and link checked"]
        if let anchor { lines.append("anchor \(anchor) matches entry \(anchor.sequence)") }
        lines.append("latest entry \(latest.sequence) hash \(latest.hash)")
        lines.append("record it outside this machine; `audit verify --anchor \(latest)` later proves entries 1-\(latest.sequence) were neither rewritten nor removed")
        return lines.joined(separator: "\n")
    }
}
