import NIOCore
import Testing
@testable import Spool

@Suite struct DeliveryStatusNotificationTests {
    struct Part {
        var headers: [String: String]
        var body: [String]
    }

    /// Splits a message into header fields (unfolded, names lowercased) and body lines.
    static func parse(_ lines: ArraySlice<String>) -> Part {
        var headers: [String: String] = [:]
        var last: String?
        var index = lines.startIndex
        while index < lines.endIndex, !lines[index].isEmpty {
            let line = lines[index]
            if line.first == " " || line.first == "\t", let name = last {
                headers[name, default: ""] += " " + line.drop { $0 == " " || $0 == "\t" }
            } else if let colon = line.firstIndex(of: ":") {
                let name = line[..<colon].lowercased()
                headers[name] = String(line[line.index(after: colon)...].drop { $0 == " " })
                last = name
            }
            index += 1
        }
        return Part(headers: headers, body: Array(lines[min(index + 1, lines.endIndex)...]))
    }

    static func build(diagnostic: String = "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown",
                      originalHeaders: String = "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: Quarterly report\r\n") -> String {
        var original = ByteBufferAllocator().buffer(capacity: 256)
        original.writeString(originalHeaders + "\r\nHello Bob\r\n")
        let envelope = MessageEnvelope(mid: 482, icid: 7, listener: "IncomingMail", remoteAddress: "10.0.0.1", heloName: "mx.example.org",
                                       mailFrom: "alice@example.org", recipients: ["bob@example.com", "carol@example.com"],
                                       receivedAt: 1_795_000_000, destination: "smarthost", size: original.readableBytes)
        let dsn = DeliveryStatusNotification.build(
            reportingHost: "gw1.example.net", envelope: envelope, originalBody: original,
            recipients: [
                .init(address: "bob@example.com", status: "5.1.1", remoteMTA: "mail.example.com", diagnostic: diagnostic),
                .init(address: "carol@example.com", status: "5.4.7"),
            ],
            date: 1_795_086_400, unique: 0xABCDEF)
        return String(buffer: dsn)
    }

    @Test func structureFollowsRFC3464() throws {
        let text = Self.build()
        // CRLF only, no bare CR or LF, no line over 998 octets.
        #expect(text.hasSuffix("\r\n"))
        let lines = text.components(separatedByCRLF: ())
        for line in lines {
            #expect(!line.contains("\r") && !line.contains("\n"))
            #expect(line.utf8.count <= 998)
        }
        let message = Self.parse(lines[...])
        #expect(message.headers["from"] == "Mail Delivery System <MAILER-DAEMON@gw1.example.net>")
        #expect(message.headers["to"] == "<alice@example.org>")
        #expect(message.headers["subject"] == "Undelivered Mail Returned to Sender")
        #expect(message.headers["auto-submitted"] == "auto-replied")
        #expect(message.headers["mime-version"] == "1.0")
        #expect(message.headers["date"] == "Thu, 19 Nov 2026 11:06:40 +0000")
        #expect(message.headers["message-id"]?.hasSuffix("@gw1.example.net>") == true)
        let contentType = try #require(message.headers["content-type"])
        #expect(contentType.hasPrefix("multipart/report; report-type=delivery-status;"))
        let boundary = try #require(contentType.split(separator: "\"").dropFirst().first.map(String.init))

        // Split the body into parts at the boundary lines.
        var parts: [[String]] = []
        var closed = false
        for line in message.body {
            if line == "--" + boundary { parts.append([]); continue }
            if line == "--" + boundary + "--" { closed = true; break }
            if !parts.isEmpty { parts[parts.count - 1].append(line) }
        }
        #expect(closed)
        try #require(parts.count == 3)
        let human = Self.parse(parts[0][...])
        #expect(human.headers["content-type"]?.hasPrefix("text/plain") == true)
        #expect(human.body.joined(separator: "\n").contains("<bob@example.com>"))

        let report = Self.parse(parts[1][...])
        #expect(report.headers["content-type"] == "message/delivery-status")
        // Per-message fields, then one block per recipient, separated by empty lines.
        let blocks = report.body.split(separator: "", omittingEmptySubsequences: true).map { Self.parse($0 + [""]).headers }
        try #require(blocks.count == 3)
        #expect(blocks[0]["reporting-mta"] == "dns; gw1.example.net")
        #expect(blocks[0]["arrival-date"] == "Wed, 18 Nov 2026 11:06:40 +0000")
        #expect(blocks[1]["final-recipient"] == "rfc822; bob@example.com")
        #expect(blocks[1]["action"] == "failed")
        #expect(blocks[1]["status"] == "5.1.1")
        #expect(blocks[1]["remote-mta"] == "dns; mail.example.com")
        #expect(blocks[1]["diagnostic-code"] == "smtp; 550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown")
        #expect(blocks[2]["final-recipient"] == "rfc822; carol@example.com")
        #expect(blocks[2]["status"] == "5.4.7")
        #expect(blocks[2]["remote-mta"] == nil)

        let headers = Self.parse(parts[2][...])
        #expect(headers.headers["content-type"] == "text/rfc822-headers")
        #expect(headers.body.contains("Subject: Quarterly report"))
        #expect(!headers.body.contains("Hello Bob"))
    }

    @Test func inputsCannotInjectHeaderLines() {
        let text = Self.build(diagnostic: "550 no\r\nBcc: victim@example.com\nX-Evil: 1\r",
                              originalHeaders: "Subject: bare\nlf\rcr\r\n")
        let lines = text.components(separatedByCRLF: ())
        #expect(!lines.contains { $0.hasPrefix("Bcc:") || $0.hasPrefix("X-Evil:") })
        #expect(!lines.contains { $0.contains("\r") || $0.contains("\n") })
    }

    @Test func longDiagnosticsAreFolded() {
        let long = "550 " + Array(repeating: "word", count: 400).joined(separator: " ") + " " + String(repeating: "x", count: 2000)
        let text = Self.build(diagnostic: long)
        let lines = text.components(separatedByCRLF: ())
        #expect(lines.allSatisfy { $0.utf8.count <= 998 })
        #expect(lines.contains { $0.hasPrefix("Diagnostic-Code: smtp; 550 word") })
    }

    @Test func neverForTheNullSender() {
        #expect(!DeliveryStatusNotification.shouldSend(forReversePath: ""))
        #expect(!DeliveryStatusNotification.shouldSend(forReversePath: "<>"))
        #expect(DeliveryStatusNotification.shouldSend(forReversePath: "alice@example.org"))
    }

    @Test func invalidStatusBecomesGeneric() {
        #expect(DeliveryStatusNotification.validStatus("5.1.1") == "5.1.1")
        #expect(DeliveryStatusNotification.validStatus("9.1.1") == "5.0.0")
        #expect(DeliveryStatusNotification.validStatus("5.1.1\r\nX: y") == "5.0.0")
    }
}

extension String {
    /// Lines split at CRLF (the last, empty piece after a final CRLF dropped).
    func components(separatedByCRLF _: ()) -> [String] {
        var lines: [String] = []
        var current = ""
        var iterator = self.unicodeScalars.makeIterator()
        var pendingCR = false
        while let scalar = iterator.next() {
            if pendingCR {
                pendingCR = false
                if scalar == "\n" { lines.append(current); current = ""; continue }
                current.unicodeScalars.append("\r")
            }
            if scalar == "\r" { pendingCR = true } else { current.unicodeScalars.append(scalar) }
        }
        if pendingCR { current.unicodeScalars.append("\r") }
        if !current.isEmpty { lines.append(current) }
        return lines
    }
}
