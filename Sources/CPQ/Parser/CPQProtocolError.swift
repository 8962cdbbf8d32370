import SMTPProtocol

/// A CPQ command or step that is refused, with the exact SMTP reply of
/// docs/CPQ.md ("Replies") to send for it: `501 5.5.4 XCPQ TRANSFER: MID is
/// missing`, `504 5.5.2 ...`, `555 5.5.4 ...`, `503 5.5.1 ...`.
///
/// A backend may throw one from ``CPQManagerBackend`` or
/// ``CPQGatewayBackend`` to answer with its reply.
public struct CPQProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The reply for the client.
    public var reply: SMTPReply

    /// Wraps the reply to send.
    public init(_ reply: SMTPReply) {
        self.reply = reply
    }

    public var description: String { reply.description }
}
