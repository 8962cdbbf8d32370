/// A failure of the gateway role that an admin must act on; the message says what to do.
public struct GatewayError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
