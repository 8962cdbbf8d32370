@testable import Scanning

/// A small seeded generator (SplitMix64) so fuzz runs are repeatable.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum FilterFixtures {
    /// A typical inbound message: envelope, 12 headers, a text and an HTML
    /// part of about 5 KB each, two attachments.
    static let typical: MessageFacts = {
        var text = ""
        let words = ["Hello", "team,", "please", "find", "the", "quarterly", "numbers", "attached.", "Regards", "and",
                     "thanks", "for", "your", "patience", "with", "this", "report", "meeting", "tomorrow", "at", "ten."]
        var index = 0
        while text.utf8.count < 5_000 {
            text += words[index % words.count] + (index % 12 == 11 ? "\r\n" : " ")
            index += 1
        }
        return MessageFacts(
            mailFrom: "alice@partner.example",
            recipients: ["bob@example.com", "carol@example.com"],
            remoteIP: "192.0.2.25",
            senderGroup: "RELAYLIST",
            listener: "IncomingMail",
            headers: [
                .init(name: "Received", value: "from mx.partner.example (mx.partner.example [192.0.2.25]) by gw.example.com"),
                .init(name: "From", value: "Alice <alice@partner.example>"),
                .init(name: "To", value: "Bob <bob@example.com>, Carol <carol@example.com>"),
                .init(name: "Subject", value: "Quarterly numbers"),
                .init(name: "Date", value: "Mon, 23 Nov 2026 10:00:00 +0000"),
                .init(name: "Message-ID", value: "<20261123100000.1234@partner.example>"),
                .init(name: "MIME-Version", value: "1.0"),
                .init(name: "Content-Type", value: "multipart/mixed; boundary=\"b1\""),
                .init(name: "X-Mailer", value: "ExampleMail 4.2"),
                .init(name: "X-Spam-Flag", value: "NO"),
                .init(name: "List-Unsubscribe", value: "<mailto:unsubscribe@partner.example>"),
                .init(name: "X-Priority", value: "3"),
            ],
            subject: "Quarterly numbers",
            textBodies: [text, "<html><body>" + text + "</body></html>"],
            attachments: [
                AttachmentFacts(filename: "numbers.xlsx", contentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", size: 48_213),
                AttachmentFacts(filename: "logo.png", contentType: "image/png", size: 5_120),
            ],
            bodySize: 10 * 1024 + 80_000,
            isEncrypted: false,
            isMalformed: false
        )
    }()

    /// Parses one filter `t: if <condition> { }` and tells whether its condition holds.
    static func holds(_ condition: String, _ facts: MessageFacts = typical) throws -> Bool {
        let set = try FilterSet.parse("t: if \(condition) { }")
        return set.evaluate(facts).matched == ["t"]
    }

    /// The condition of `t: if <condition> { }` as the parser wrote it (before reordering).
    static func written(_ condition: String) throws -> String {
        var parser = try FilterParser("t: if \(condition) { }", allowedQuarantines: nil)
        return try parser.parseFilters()[0].condition.description
    }

    /// The error `FilterSet.parse` throws for `text`, or nil when it parses.
    static func syntaxError(_ text: String, allowedQuarantines: Set<String>? = nil) -> FilterSyntaxError? {
        do {
            _ = try FilterSet.parse(text, allowedQuarantines: allowedQuarantines)
            return nil
        } catch {
            return error
        }
    }

    /// The lines of `text` as the lexer counts them (LF, CRLF or CR end a line), in Unicode scalars.
    static func lineLengths(_ text: String) -> [Int] {
        var lengths = [0]
        let scalars = Array(text.unicodeScalars)
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "\r" || scalar == "\n" {
                if scalar == "\r", index + 1 < scalars.count, scalars[index + 1] == "\n" { index += 1 }
                lengths.append(0)
            } else {
                lengths[lengths.count - 1] += 1
            }
            index += 1
        }
        return lengths
    }
}
