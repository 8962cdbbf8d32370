/// An SSH problem of the admin CLI's server or client. `code` says what kind (errors compare
/// by code); `message` says what happened and what to do.
public struct SSHError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// Nothing listens on the host and port (connection refused or unreachable).
        public static let connectionRefused = Code(name: "connectionRefused")
        /// The server presented a host key other than the pinned one; nothing was sent.
        public static let hostKeyMismatch = Code(name: "hostKeyMismatch")
        /// The server refused the user or the key.
        public static let authenticationRefused = Code(name: "authenticationRefused")
        /// No answer in time.
        public static let timedOut = Code(name: "timedOut")
        /// The connection ended before the command's exit status came.
        public static let connectionClosed = Code(name: "connectionClosed")
        /// A key file that cannot be read or written.
        public static let keyFile = Code(name: "keyFile")
        /// A bad `ssh:` configuration value; the message names the field.
        public static let configuration = Code(name: "configuration")
        /// The server cannot listen on its address and port.
        public static let bind = Code(name: "bind")
        public var description: String { name }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static func == (lhs: SSHError, rhs: SSHError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
