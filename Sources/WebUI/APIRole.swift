/// What a user of the API may do (issue #5: admin, operator, read-only, help desk).
public enum APIRole: String, Hashable, Sendable, Codable, CaseIterable {
    /// Everything, including users and tokens.
    case admin
    /// Looks at and acts on quarantined mail (release, delete).
    case `operator`
    /// Looks only.
    case readOnly = "read-only"
    /// Looks, and releases (what a help desk does for a user who misses a message); never deletes.
    case helpDesk = "help-desk"

    /// An action on quarantined mail (or, `manage`, on the quarantines themselves).
    public enum Action: String, Hashable, Sendable {
        case read, release, delete, download, delay, move, copy, manage
    }

    /// Admin: everything. Operator: read, release, delete, download, delay, move in the
    /// quarantines granted to it. Help desk: read and release. Read-only: read. Sending a
    /// copy to an address and defining quarantines are for administrators only.
    public func may(_ action: Action) -> Bool {
        switch (self, action) {
        case (.admin, _): true
        case (.operator, .copy), (.operator, .manage): false
        case (.operator, _): true
        case (.readOnly, .read): true
        case (.readOnly, _): false
        case (.helpDesk, .read), (.helpDesk, .release): true
        case (.helpDesk, _): false
        }
    }

    /// `admin, operator, read-only, help-desk`.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// The authenticated caller.
public struct APIUser: Hashable, Sendable {
    public var name: String
    public var role: APIRole

    public init(name: String, role: APIRole) {
        self.name = name
        self.role = role
    }

    /// How actions by this user appear in histories and logs: `api:alice`.
    public var actor: String { "api:\(name)" }
}
