import Foundation
import NIOCore
import Scanning
import Spool

/// Mail the gateway writes itself: DSNs for filter bounces and filter notifications.
/// Both go out with the null sender so that they can never loop.
enum GeneratedMail {
    /// A DSN (RFC 3464) refusing every recipient of `envelope` for `reason`.
    static func policyBounce(of envelope: MessageEnvelope, body: ByteBuffer, reason: String, mid: MID, hostname: String,
                             destination: String) -> (envelope: MessageEnvelope, body: ByteBuffer)? {
        guard DeliveryStatusNotification.shouldSend(forReversePath: envelope.mailFrom) else { return nil }
        let dsn = DeliveryStatusNotification.build(
            reportingHost: hostname, envelope: envelope, originalBody: body,
            recipients: envelope.recipients.map {
                DeliveryStatusNotification.Recipient(address: $0, status: "5.7.1",
                                                     diagnostic: "554 5.7.1 Message refused by policy (\(reason))")
            },
            date: Date().timeIntervalSince1970)
        let generated = MessageEnvelope(
            mid: mid, icid: 0, listener: "internal", remoteAddress: "127.0.0.1", heloName: hostname, mailFrom: "",
            recipients: [envelope.mailFrom], receivedAt: Date().timeIntervalSince1970, destination: destination,
            size: dsn.readableBytes,
            attributes: [EnvelopeAttribute.pipeline: PipelineStage.delivery.rawValue, EnvelopeAttribute.origin: String(envelope.mid)])
        return (generated, dsn)
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
        let generated = MessageEnvelope(
            mid: mid, icid: 0, listener: "internal", remoteAddress: "127.0.0.1", heloName: hostname, mailFrom: "",
            recipients: [notification.recipient], receivedAt: Date().timeIntervalSince1970, destination: destination,
            size: body.readableBytes,
            attributes: [EnvelopeAttribute.pipeline: PipelineStage.delivery.rawValue, EnvelopeAttribute.origin: String(envelope.mid)])
        return (generated, body)
    }
}
