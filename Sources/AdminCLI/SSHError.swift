/// The SSH server's and client's errors.
public enum SSHErrorKind: AdminCLIErrorKind {}

/// An SSH problem of the admin CLI's server or client. `code` says what kind (errors compare
/// by code); `message` says what happened and what to do.
public typealias SSHError = AdminCLIError<SSHErrorKind>

extension AdminCLIError.Code where Kind == SSHErrorKind {
    /// Nothing listens on the host and port (connection refused or unreachable).
    public static let connectionRefused = Self(name: "connectionRefused")
    /// The server presented a host key other than the pinned one; nothing was sent.
    public static let hostKeyMismatch = Self(name: "hostKeyMismatch")
    /// The server refused the user or the key.
    public static let authenticationRefused = Self(name: "authenticationRefused")
    /// No answer in time.
    public static let timedOut = Self(name: "timedOut")
    /// The connection ended before the command's exit status came.
    public static let connectionClosed = Self(name: "connectionClosed")
    /// A key file that cannot be read or written.
    public static let keyFile = Self(name: "keyFile")
    /// A bad `ssh:` configuration value; the message names the field.
    public static let configuration = Self(name: "configuration")
    /// The server cannot listen on its address and port.
    public static let bind = Self(name: "bind")
}
