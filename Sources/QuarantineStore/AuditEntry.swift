import Foundation

/// Who did an audited action: the name the action was taken under (`cli:root` for the
/// command line, `api:alice` for the REST API) and the role, when known.
public struct AuditActor: Hashable, Sendable, CustomStringConvertible {
    /// `cli:<unix user>`, `api:<user>`, or the name a caller gave (`--user`).
    public var name: String
    /// `admin`, `operator`, `read-only`, `help desk`... nil when the caller has no role.
    public var role: String?

    public init(name: String, role: String? = nil) {
        self.name = name
        self.role = role
    }

    /// `api:alice (operator)`, or the name alone.
    public var description: String { role.map { "\(name) (\($0))" } ?? name }
}

/// What was done. A string, so later actions (the REST API's move, copy, download...)
/// extend the list without a schema change; the ones known today are the constants.
public struct AuditAction: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Released from quarantines (one message; a bulk release writes one entry per message).
    public static let release = AuditAction(rawValue: "release")
    /// Deleted from quarantines: never delivered.
    public static let delete = AuditAction(rawValue: "delete")
    /// Exit delayed (retention extended).
    public static let delay = AuditAction(rawValue: "delay")
    /// Moved between policy quarantines.
    public static let move = AuditAction(rawValue: "move")
    /// A copy sent to an address.
    public static let copy = AuditAction(rawValue: "copy")
    /// The original message downloaded.
    public static let download = AuditAction(rawValue: "download")
    /// A user logged in (web UI, API token).
    public static let login = AuditAction(rawValue: "login")

    public var description: String { rawValue }
}

/// What an action was done on: a message (QID) and the quarantines named, or a bulk
/// selection, or both (each message of a bulk action names the selection it came from).
public struct AuditTarget: Hashable, Sendable, CustomStringConvertible {
    public var qid: QID?
    /// The quarantines acted on, sorted; nil: every quarantine the message is in (or none apply).
    public var quarantines: [String]?
    /// A bulk action's selection as the admin gave it, e.g. `release-all --quarantine Policy`.
    public var selection: String?

    public init(qid: QID? = nil, quarantines: [String]? = nil, selection: String? = nil) {
        self.qid = qid
        self.quarantines = quarantines?.sorted()
        self.selection = selection
    }

    /// `QK7XW2M4PA3RT5BNE from "Policy", "Virus" [release-all]`
    public var description: String {
        var parts: [String] = []
        if let qid { parts.append(qid.rawValue) }
        if let quarantines { parts.append("from " + quarantines.map { "\"\($0)\"" }.joined(separator: ", ")) }
        if let selection { parts.append(qid == nil ? selection : "[\(selection)]") }
        return parts.isEmpty ? "-" : parts.joined(separator: " ")
    }
}

/// Whether the action was done. A refused action changed nothing; its entry says why.
public enum AuditOutcome: Hashable, Sendable, CustomStringConvertible {
    case ok
    case refused(reason: String)

    public var description: String {
        switch self {
        case .ok: "ok"
        case .refused(let reason): "refused: \(reason)"
        }
    }
}

/// What an action's audit entry says beyond who (`by`) and what: the actor's role and,
/// for a message acted on as part of a bulk action, the selection it came from.
public struct AuditContext: Hashable, Sendable {
    public var role: String?
    public var selection: String?

    public init(role: String? = nil, selection: String? = nil) {
        self.role = role
        self.selection = selection
    }
}

/// One entry of the audit log, as stored: numbered from 1 without gaps, chained to the
/// entry before it by `previousHash`.
public struct AuditEntry: Hashable, Sendable {
    /// 1, 2, 3...
    public var sequence: Int64
    /// When it was recorded (to the millisecond).
    public var time: Date
    public var actor: AuditActor
    public var action: AuditAction
    public var target: AuditTarget
    public var outcome: AuditOutcome
    /// What the action did (`still held in "Virus"`, `release 6f1c...`), when there is more to say.
    public var detail: String?
    /// `hash` of the entry before (64 zeros for entry 1).
    public var previousHash: String
    /// SHA-256 (hex) of this entry's canonical serialization, which includes `previousHash`.
    public var hash: String
}
