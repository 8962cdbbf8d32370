import Foundation
import MailMessage

/// One quarantine as the manager defines it: how long it keeps mail, what happens at
/// expiry, whether it may give up mail early when the store is full, how a message
/// released from it before expiry is changed, and who may see it.
///
/// The four system quarantines (`Policy`, `Virus`, `Outbreak`, `Unclassified`) always
/// exist and cannot be removed; administrators add named policy quarantines. Names are
/// checked when a quarantine is added and never change (a quarantine is never renamed:
/// filters, holds and the audit log name it). A gateway's transfer naming a quarantine
/// that is not defined (never was, or was removed) is held in `Unclassified`.
public struct QuarantineDefinition: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        /// Policy, Virus, Outbreak, Unclassified: always there, cannot be removed.
        case system
        /// A named quarantine for message and content filters.
        case policy
    }

    /// What the sweeper does with a message whose retention ended here.
    public enum DefaultAction: String, Sendable, Hashable, Codable, CaseIterable {
        case release, delete
    }

    public static let policy = "Policy"
    public static let virus = "Virus"
    public static let outbreak = "Outbreak"
    public static let unclassified = "Unclassified"
    public static let systemNames = [policy, virus, outbreak, unclassified]

    /// Longest retention (one year) and shortest (one minute).
    public static let retentionRange = 60...(366 * 86_400)

    public var name: String
    public var kind: Kind
    /// How long a message stays when the gateway did not say (outbreak holds carry their
    /// own, by threat level).
    public var retentionSeconds: Int
    public var defaultAction: DefaultAction
    /// When the store is over its quota, the oldest messages here get the default action
    /// early (before others are refused).
    public var freeUpSpace: Bool
    /// How a message released from here before expiry is changed on its way out.
    public var releaseOptions: ReleaseModifications
    /// Roles (`operator`, `read-only`, `help-desk`) whose users see this quarantine and act
    /// in it as their role allows. Administrators always see every quarantine.
    public var visibleToRoles: [String]
    /// Users (API/CLI user names) who see it whatever their role.
    public var visibleToUsers: [String]

    public init(name: String, kind: Kind = .policy, retentionSeconds: Int = 30 * 86_400,
                defaultAction: DefaultAction = .delete, freeUpSpace: Bool = true,
                releaseOptions: ReleaseModifications = ReleaseModifications(),
                visibleToRoles: [String] = ["operator", "read-only", "help-desk"], visibleToUsers: [String] = []) {
        self.name = name
        self.kind = kind
        self.retentionSeconds = retentionSeconds
        self.defaultAction = defaultAction
        self.freeUpSpace = freeUpSpace
        self.releaseOptions = releaseOptions
        self.visibleToRoles = visibleToRoles
        self.visibleToUsers = visibleToUsers
    }

    /// `Policy` and named quarantines: messages may be moved between them.
    public var isPolicyQuarantine: Bool { kind == .policy || name == Self.policy }

    /// Whether a user with `role` and `user` name sees this quarantine (administrators see all).
    public func isVisible(toRole role: String, user: String) -> Bool {
        role == "admin" || visibleToRoles.contains(role) || visibleToUsers.contains(user)
    }

    /// The system quarantines as a new store has them: Policy keeps 10 days and deletes,
    /// Virus 30 days and deletes, Outbreak (whose holds carry the retention of their
    /// threat level) 1 day and releases, Unclassified 30 days and releases.
    public static var systemDefaults: [QuarantineDefinition] {
        [QuarantineDefinition(name: policy, kind: .system, retentionSeconds: 10 * 86_400, defaultAction: .delete),
         QuarantineDefinition(name: virus, kind: .system, retentionSeconds: 30 * 86_400, defaultAction: .delete),
         QuarantineDefinition(name: outbreak, kind: .system, retentionSeconds: 86_400, defaultAction: .release),
         QuarantineDefinition(name: unclassified, kind: .system, retentionSeconds: 30 * 86_400, defaultAction: .release)]
    }

    /// The problems with this definition, each naming its field; empty when valid.
    public func problems() -> [String] {
        var problems: [String] = []
        if let problem = Self.nameProblem(name) { problems.append("name: \(problem)") }
        if !Self.retentionRange.contains(retentionSeconds) {
            problems.append("retention_seconds: \(retentionSeconds) is not \(Self.retentionRange.lowerBound)-\(Self.retentionRange.upperBound) (one minute to a year)")
        }
        problems += releaseOptions.problems()
        let roles: Set = ["admin", "operator", "read-only", "help-desk"]
        for role in visibleToRoles where !roles.contains(role) {
            problems.append("visible_to_roles: \(quoted(role)) is not a role (admin, operator, read-only, help-desk)")
        }
        if visibleToRoles.count > 8 || visibleToUsers.count > 1000 {
            problems.append("visible_to_users: at most 1000 users (and 8 roles)")
        }
        for user in visibleToUsers where user.isEmpty || user.utf8.count > 64 || user.contains(where: { $0.isWhitespace || $0.isNewline }) {
            problems.append("visible_to_users: \(quoted(user)) is not a user name (1-64 characters, no spaces)")
        }
        return problems
    }

    /// Why `name` cannot name a quarantine, or nil: 1 to 64 characters, letters, digits,
    /// space, `-`, `_`, `.`, starting with a letter or digit, no trailing space.
    public static func nameProblem(_ name: String) -> String? {
        guard !name.isEmpty, name.count <= 64 else { return "\(quoted(name)) must be 1-64 characters" }
        guard let first = name.unicodeScalars.first, CharacterSet.alphanumerics.contains(first) else {
            return "\(quoted(name)) must start with a letter or digit"
        }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: " -_."))
        guard name.unicodeScalars.allSatisfy({ allowed.contains($0) }) else {
            return "\(quoted(name)) may hold only letters, digits, spaces, '-', '_' and '.'"
        }
        guard !name.hasSuffix(" ") else { return "\(quoted(name)) must not end with a space" }
        return nil
    }
}

extension ReleaseModifications {
    /// The modifications of several quarantines as one: every tag (in order, once), the
    /// first header, and attachments stripped if any says so.
    public static func merged(_ all: [ReleaseModifications]) -> ReleaseModifications {
        var tags: [String] = []
        for modifications in all {
            if let tag = modifications.subjectTag, !tags.contains(tag) { tags.append(tag) }
        }
        return ReleaseModifications(subjectTag: tags.isEmpty ? nil : tags.joined(separator: " "),
                                    addedHeader: all.lazy.compactMap(\.addedHeader).first,
                                    stripAttachments: all.contains(where: \.stripAttachments))
    }

    /// The added header as admins write it, `Name: value`.
    public var headerLine: String? { addedHeader.map { "\($0.name): \($0.value)" } }

    /// `Name: value` → the header; nil when there is no colon (``problems()`` says so).
    public static func header(fromLine line: String) -> AddedHeader? {
        guard let colon = line.firstIndex(of: ":") else { return nil }
        return AddedHeader(name: String(line[..<colon]), value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }

    /// Problems named by the API's fields (`release_subject_tag`, `release_header`).
    func problems() -> [String] {
        do {
            try validate()
            return []
        } catch {
            let field = error.field.hasPrefix("subject_tag") ? "release_subject_tag" : "release_header"
            return ["\(field): \(error.reason)"]
        }
    }
}
