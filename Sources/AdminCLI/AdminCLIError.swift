/// Which part of the admin CLI an ``AdminCLIError`` comes from (its codes differ).
public protocol AdminCLIErrorKind: Sendable {}

/// A problem of the admin CLI: the control socket (``ControlError``) or SSH
/// (``SSHError``). `code` says what kind (errors compare by code); `message` says what
/// happened and what to do.
public struct AdminCLIError<Kind: AdminCLIErrorKind>: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public var description: String { name }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
