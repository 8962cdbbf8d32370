#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// Builds bounce messages: delivery status notifications per
/// [RFC 3464](https://www.rfc-editor.org/rfc/rfc3464) inside a `multipart/report`
/// ([RFC 6522](https://www.rfc-editor.org/rfc/rfc6522)).
///
/// The result is a complete message (header and body) with CRLF line endings and lines of
/// at most 998 octets, to be stored with the null reverse path (`MAIL FROM:<>`) and sent to
/// the original sender. Nothing from the inputs ever puts a CR or LF into a header we build.
public enum DeliveryStatusNotification {
    /// Longest line we emit, without CRLF ([RFC 5322 §2.1.1](https://www.rfc-editor.org/rfc/rfc5322#section-2.1.1)).
    public static let maxLineLength = 998
    /// Lines we build are folded near this length when they contain spaces.
    static let foldAt = 78

    /// The `Action` field of a per-recipient block ([RFC 3464 §2.3.3](https://www.rfc-editor.org/rfc/rfc3464#section-2.3.3)).
    public enum Action: String, Sendable, Hashable {
        case failed
        case delayed
    }

    /// One recipient the report is about.
    public struct Recipient: Sendable, Hashable {
        /// The recipient address as given in RCPT TO (without brackets).
        public var address: String
        /// Enhanced status code, `5.1.1` ([RFC 3463](https://www.rfc-editor.org/rfc/rfc3463)); an invalid one becomes `5.0.0`.
        public var status: String
        public var action: Action
        /// The host that gave the final answer, when one did.
        public var remoteMTA: String?
        /// That host's reply, e.g. `550 5.1.1 <bob@example.com>: user unknown`.
        public var diagnostic: String?

        public init(address: String, status: String, action: Action = .failed, remoteMTA: String? = nil, diagnostic: String? = nil) {
            self.address = address
            self.status = status
            self.action = action
            self.remoteMTA = remoteMTA
            self.diagnostic = diagnostic
        }
    }

    /// Whether a DSN may be sent for a message from `mailFrom`: never for the null reverse
    /// path, which is how DSNs themselves are sent (RFC 5321 §4.5.5: no bounce loops).
    public static func shouldSend(forReversePath mailFrom: String) -> Bool {
        let trimmed = mailFrom.trimmingSpaces
        return !(trimmed.isEmpty || trimmed == "<>")
    }

    /// Builds the complete DSN message.
    ///
    /// - Parameters:
    ///   - reportingHost: our host name, for `Reporting-MTA`, `From: MAILER-DAEMON@…` and `Message-ID`.
    ///   - envelope: the original message's envelope (sender, arrival date, MID).
    ///   - originalBody: the original message; its header section is returned as `text/rfc822-headers`.
    ///   - recipients: the recipients the report is about.
    ///   - date: seconds since 1970 for the `Date` field.
    ///   - unique: makes `Message-ID` and the MIME boundary unique; random by default.
    public static func build(reportingHost: String, envelope: MessageEnvelope, originalBody: ByteBuffer,
                             recipients: [Recipient], date: Double, unique: UInt64 = UInt64.random(in: 0...UInt64.max)) -> ByteBuffer {
        let host = sanitized(reportingHost).replacingSpaces(with: "-")
        let headers = originalHeaders(originalBody)
        var boundary = "=_lazaret_dsn_\(envelope.mid)_\(String(unique, radix: 16))"
        while headers.contains(where: { $0.contains(boundary) }) { boundary += "_" }

        var out: [String] = []
        out.append(contentsOf: field("From", "Mail Delivery System <MAILER-DAEMON@\(host)>"))
        out.append(contentsOf: field("To", "<\(sanitized(envelope.mailFrom))>"))
        out.append(contentsOf: field("Subject", recipients.contains { $0.action == .failed }
            ? "Undelivered Mail Returned to Sender" : "Delayed Mail (still being retried)"))
        out.append(contentsOf: field("Date", rfc5322Date(date)))
        out.append(contentsOf: field("Message-ID", "<\(Int64(date)).\(envelope.mid).\(String(unique, radix: 16))@\(host)>"))
        out.append(contentsOf: field("Auto-Submitted", "auto-replied"))
        out.append(contentsOf: field("MIME-Version", "1.0"))
        out.append("Content-Type: multipart/report; report-type=delivery-status;")
        out.append("\tboundary=\"\(boundary)\"")
        out.append("")
        out.append("This is a MIME-encapsulated message.")
        out.append("")

        // Part 1: for humans.
        out.append("--\(boundary)")
        out.append("Content-Description: Notification")
        out.append("Content-Type: text/plain; charset=utf-8")
        out.append("Content-Transfer-Encoding: 8bit")
        out.append("")
        out.append("This is the mail system at host \(host).")
        out.append("")
        if recipients.contains(where: { $0.action == .failed }) {
            out.append("I'm sorry to have to inform you that your message could not")
            out.append("be delivered to one or more recipients. Its headers are attached below.")
        } else {
            out.append("Your message could not be delivered yet; delivery is still being retried.")
        }
        out.append("")
        for recipient in recipients {
            let diagnostic = recipient.diagnostic.map(sanitized) ?? "status \(validStatus(recipient.status))"
            let remote = recipient.remoteMTA.map { " (host \(sanitized($0)) said)" } ?? ""
            out.append(contentsOf: folded("<\(sanitized(recipient.address))>\(remote): \(diagnostic)"))
        }
        out.append("")

        // Part 2: for machines (RFC 3464 §2).
        out.append("--\(boundary)")
        out.append("Content-Description: Delivery report")
        out.append("Content-Type: message/delivery-status")
        out.append("")
        out.append(contentsOf: field("Reporting-MTA", "dns; \(host)"))
        out.append(contentsOf: field("X-Lazaret-MID", "\(envelope.mid)"))
        out.append(contentsOf: field("Arrival-Date", rfc5322Date(envelope.receivedAt)))
        for recipient in recipients {
            out.append("")
            out.append(contentsOf: field("Final-Recipient", "rfc822; \(sanitized(recipient.address))"))
            out.append(contentsOf: field("Action", recipient.action.rawValue))
            out.append(contentsOf: field("Status", validStatus(recipient.status)))
            if let remote = recipient.remoteMTA {
                out.append(contentsOf: field("Remote-MTA", "dns; \(sanitized(remote))"))
            }
            if let diagnostic = recipient.diagnostic {
                out.append(contentsOf: field("Diagnostic-Code", "smtp; \(sanitized(diagnostic))"))
            }
        }
        out.append("")

        // Part 3: the original header section.
        out.append("--\(boundary)")
        out.append("Content-Description: Undelivered Message Headers")
        out.append("Content-Type: text/rfc822-headers")
        out.append("")
        out.append(contentsOf: headers)
        out.append("")
        out.append("--\(boundary)--")

        var buffer = ByteBufferAllocator().buffer(capacity: out.reduce(0) { $0 + $1.utf8.count + 2 })
        for line in out {
            buffer.writeString(line)
            buffer.writeStaticString("\r\n")
        }
        return buffer
    }

    // MARK: Helpers

    /// Replaces CR, LF and other control characters (tab included) with a space.
    static func sanitized(_ value: String) -> String {
        String(String.UnicodeScalarView(value.unicodeScalars.map { scalar in
            scalar.value < 0x20 || scalar.value == 0x7F ? " " : scalar
        }))
    }

    static func validStatus(_ status: String) -> String {
        let parts = status.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, ["2", "4", "5"].contains(parts[0]),
              parts[1...].allSatisfy({ (1...3).contains($0.count) && $0.allSatisfy { $0.isASCII && $0.isNumber } })
        else { return "5.0.0" }
        return status
    }

    /// `Name: value`, folded at spaces to stay near 78 octets, never over 998.
    static func field(_ name: String, _ value: String) -> [String] {
        folded("\(name): \(sanitized(value).trimmingSpaces)")
    }

    /// Folds one logical line into physical lines (continuations start with a space):
    /// at spaces near `foldAt`, hard at `maxLineLength` when there is no space.
    static func folded(_ line: String) -> [String] {
        var lines: [String] = []
        var rest = Substring(line)
        var prefix = ""
        while prefix.utf8.count + rest.utf8.count > foldAt {
            let budget = maxLineLength - prefix.utf8.count
            // Last space within the soft limit (not at position 0), else first space within the hard limit.
            var cut: Substring.Index?
            var length = 0
            var index = rest.startIndex
            while index < rest.endIndex {
                let character = rest[index]
                let width = character.utf8.count
                if length + width > budget { break }
                if character == " " && index != rest.startIndex {
                    if prefix.utf8.count + length <= foldAt || cut == nil { cut = index }
                    if prefix.utf8.count + length > foldAt { break }
                }
                length += width
                index = rest.index(after: index)
            }
            if let cut {
                lines.append(prefix + rest[..<cut])
                rest = rest[rest.index(after: cut)...]
            } else if index < rest.endIndex {
                // No space within the hard limit: cut the word.
                guard index > rest.startIndex else { break }
                lines.append(prefix + rest[..<index])
                rest = rest[index...]
            } else {
                break
            }
            prefix = " "
        }
        if !rest.isEmpty || lines.isEmpty { lines.append(prefix + rest) }
        return lines
    }

    /// The header section of `body` (up to the first empty line), as lines without
    /// line ends; lines over 998 octets are folded.
    static func originalHeaders(_ body: ByteBuffer) -> [String] {
        let bytes = body.readableBytesView
        var lines: [String] = []
        var start = bytes.startIndex
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if bytes[index] == UInt8(ascii: "\n") {
                var end = index
                if end > start && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                if end == start { return lines }
                lines.append(contentsOf: headerLine(bytes[start..<end]))
                start = index + 1
            }
            index += 1
        }
        if start < bytes.endIndex { lines.append(contentsOf: headerLine(bytes[start..<bytes.endIndex])) }
        return lines
    }

    private static func headerLine(_ bytes: ByteBufferView.SubSequence) -> [String] {
        // Stray CRs become spaces so that no bare CR reaches the output.
        let cleaned = bytes.map { $0 == UInt8(ascii: "\r") ? UInt8(ascii: " ") : $0 }
        var result: [String] = []
        var start = 0
        repeat {
            let end = min(cleaned.count, start + maxLineLength - (start == 0 ? 0 : 1))
            let piece = String(decoding: cleaned[start..<end], as: UTF8.self)
            result.append(start == 0 ? piece : " " + piece)
            start = end
        } while start < cleaned.count
        return result
    }

    /// `Mon, 23 Nov 2026 09:00:00 +0000` ([RFC 5322 §3.3](https://www.rfc-editor.org/rfc/rfc5322#section-3.3)).
    public static func rfc5322Date(_ secondsSince1970: Double) -> String {
        var time = time_t(secondsSince1970)
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(parts.tm_wday)]), \(parts.tm_mday) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
    }
}

extension String {
    fileprivate var trimmingSpaces: Substring {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }

    fileprivate func replacingSpaces(with replacement: String) -> String {
        split(separator: " ", omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
