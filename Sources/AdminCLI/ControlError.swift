/// A control-socket problem. `code` says what kind (errors compare by code); `message`
/// says what happened and what to do.
public struct ControlError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// Nothing answers on the socket (no such file, or connection refused).
        public static let notRunning = Code(name: "notRunning")
        /// Another live process already answers on the socket the server was to bind.
        public static let inUse = Code(name: "inUse")
        /// The socket path cannot be used (too long, not a socket, no permission).
        public static let socketPath = Code(name: "socketPath")
        /// A request that is not one line of JSON `{"args": [...]}`.
        public static let malformedRequest = Code(name: "malformedRequest")
        /// A request over `ControlWire.maxRequestBytes`.
        public static let requestTooLarge = Code(name: "requestTooLarge")
        /// The client sent nothing complete before the read deadline.
        public static let timedOut = Code(name: "timedOut")
        /// The answer is not a control response (or none came).
        public static let malformedResponse = Code(name: "malformedResponse")
        /// Any other socket error.
        public static let io = Code(name: "io")
        public var description: String { name }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static func == (lhs: ControlError, rhs: ControlError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
