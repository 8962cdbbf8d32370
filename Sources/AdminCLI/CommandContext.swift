/// How much a command may change, from looking to destroying. A role allows a level and
/// everything below it.
public enum CommandPermission: Int, Comparable, Sendable, CaseIterable {
    /// Looks only: `status`, `tophosts`, `showrecipients`, `tail mail_logs`.
    case read
    /// Changes how mail flows but loses nothing: `suspendlisteners`, `resume`, `delivernow`.
    case operate
    /// Can lose mail or change the system: `deleterecipients`.
    case admin

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The role of an admin user on the CLI (from the role's `ssh:` users; the local control
/// socket, reachable only by the owner of the state directory, acts as `admin`).
public enum AdminRole: String, Codable, Sendable, CaseIterable {
    case admin
    case `operator`
    case readOnly = "read-only"

    /// The highest permission this role holds.
    public var permission: CommandPermission {
        switch self {
        case .admin: .admin
        case .operator: .operate
        case .readOnly: .read
        }
    }

    /// Whether this role may run a command that needs `permission`.
    public func allows(_ permission: CommandPermission) -> Bool { permission <= self.permission }
}

/// Who runs a command and how: the SSH user and role, or the local control socket, and
/// whether someone is at a terminal to answer a confirmation.
public struct CommandContext: Sendable {
    /// The SSH user name, or `nil` for the local control socket.
    public var user: String?
    public var role: AdminRole
    /// True in an interactive SSH session: commands that need confirmation ask.
    public var interactive: Bool
    /// Asks the question at the terminal and answers whether the user said yes. Only
    /// called when `interactive` is true.
    public var confirm: @Sendable (String) async -> Bool

    public init(user: String?, role: AdminRole, interactive: Bool = false,
                confirm: @escaping @Sendable (String) async -> Bool = { _ in false }) {
        self.user = user
        self.role = role
        self.interactive = interactive
        self.confirm = confirm
    }

    /// The local control socket (`lazaret cli`): an admin, not interactive.
    public static let local = CommandContext(user: nil, role: .admin)

    /// Who it is, for mail_logs lines: `admin "alice" over SSH` or `the local control socket`.
    public var who: String {
        if let user { return "\(role.rawValue) \"\(user)\" over SSH" }
        return "the local control socket"
    }
}
