/// The control socket's errors.
public enum ControlErrorKind: AdminCLIErrorKind {}

/// A control-socket problem. `code` says what kind (errors compare by code); `message`
/// says what happened and what to do.
public typealias ControlError = AdminCLIError<ControlErrorKind>

extension AdminCLIError.Code where Kind == ControlErrorKind {
    /// Nothing answers on the socket (no such file, or connection refused).
    public static let notRunning = Self(name: "notRunning")
    /// Another live process already answers on the socket the server was to bind.
    public static let inUse = Self(name: "inUse")
    /// The socket path cannot be used (too long, not a socket, no permission).
    public static let socketPath = Self(name: "socketPath")
    /// A request that is not one line of JSON `{"args": [...]}`.
    public static let malformedRequest = Self(name: "malformedRequest")
    /// A request over `ControlWire.maxRequestBytes`.
    public static let requestTooLarge = Self(name: "requestTooLarge")
    /// The client sent nothing complete before the read deadline.
    public static let timedOut = Self(name: "timedOut")
    /// The answer is not a control response (or none came).
    public static let malformedResponse = Self(name: "malformedResponse")
    /// Any other socket error.
    public static let io = Self(name: "io")
}
