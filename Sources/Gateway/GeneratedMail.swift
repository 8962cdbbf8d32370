import Foundation
import NIOCore
import Scanning
import Spool

/// Mail the gateway writes itself: DSNs for filter bounces and filter notifications.
/// Both go out with the null sender so that they can never loop.
enum GeneratedMail {
    /// A DSN (RFC 3464) to the sender of `envelope` for `recipients`, as a new message
    /// (MID `mid`, null sender) ready for `destination`; nil for the null sender (a
    /// bounce of a bounce is never sent).
    static func bounce(of envelope: MessageEnvelope, body: ByteBuffer, recipients: [DeliveryStatusNotification.Recipient],
                       mid: MID, hostname: String, destination: String) -> (envelope: MessageEnvelope, body: ByteBuffer)? {
        guard DeliveryStatusNotification.shouldSend(forReversePath: envelope.mailFrom) else { return nil }
        let dsn = DeliveryStatusNotification.build(reportingHost: hostname, envelope: envelope, originalBody: body,
                                                   recipients: recipients, date: Date().timeIntervalSince1970)
        return (generated(mid: mid, origin: envelope.mid, to: envelope.mailFrom, hostname: hostname, destination: destination,
                          size: dsn.readableBytes), dsn)
    }

    /// The DSN for a filter's `bounce()`: every recipient refused with 5.7.1.
    static func policyBounce(of envelope: MessageEnvelope, body: ByteBuffer, reason: String, mid: MID, hostname: String,
                             destination: String) -> (envelope: MessageEnvelope, body: ByteBuffer)? {
        bounce(of: envelope, body: body, recipients: envelope.recipients.map {
            DeliveryStatusNotification.Recipient(address: $0, status: "5.7.1",
                                                 diagnostic: "554 5.7.1 Message refused by policy (\(reason))")
        }, mid: mid, hostname: hostname, destination: destination)
    }

    /// The envelope of a message the gateway wrote: null sender, past the pipeline.
    private static func generated(mid: MID, origin: MID, to recipient: String, hostname: String, destination: String,
                                  size: Int) -> MessageEnvelope {
        MessageEnvelope(
            mid: mid, icid: 0, listener: "internal", remoteAddress: "127.0.0.1", heloName: hostname, mailFrom: "",
            recipients: [recipient], receivedAt: Date().timeIntervalSince1970, destination: destination, size: size,
            attributes: [EnvelopeAttribute.pipeline: PipelineStage.delivery.rawValue, EnvelopeAttribute.origin: String(origin)])
    }

    /// A short text message telling `notification.recipient` that a filter matched.
    static func notification(_ notification: FilterResult.Notification, about envelope: MessageEnvelope, subject original: String?,
                             mid: MID, hostname: String, destination: String) -> (envelope: MessageEnvelope, body: ByteBuffer) {
        func clean(_ text: String) -> String {
            String(text.map { $0.isNewline || $0 == "\0" ? " " : $0 }.prefix(300))
        }
        let subject = clean(notification.subject ?? "Lazaret: filter '\(notification.filter)' matched MID \(envelope.mid)")
        let text = """
            From: Lazaret <MAILER-DAEMON@\(hostname)>\r
            To: <\(clean(notification.recipient))>\r
            Subject: \(subject)\r
            Date: \(RFC5322Date.now())\r
            Message-ID: <notify.\(mid).\(envelope.mid)@\(hostname)>\r
            Auto-Submitted: auto-generated\r
            MIME-Version: 1.0\r
            Content-Type: text/plain; charset=utf-8\r
            Content-Transfer-Encoding: 8bit\r
            \r
            Filter '\(clean(notification.filter))' matched a message on \(hostname).\r
            \r
            MID:      \(envelope.mid)\r
            From:     <\(clean(envelope.mailFrom))>\r
            To:       \(envelope.recipients.map { "<\(clean($0))>" }.joined(separator: ", "))\r
            Subject:  \(clean(original ?? ""))\r
            Received: from \(clean(envelope.remoteAddress)) on listener \(clean(envelope.listener))\r

            """
        let body = ByteBuffer(string: text)
        return (generated(mid: mid, origin: envelope.mid, to: notification.recipient, hostname: hostname, destination: destination,
                          size: body.readableBytes), body)
    }
}
