import Foundation
import QuarantineStore
import Scanning

/// SplitMix64: a fast, seedable generator, so every run loads the same messages.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Synthetic quarantined mail: message `index` is always the same message (seeded by its
/// index), so a search can be built for words a message is known to hold.
struct SyntheticMail: Sendable {
    /// Messages are received over this many days, evenly, oldest first.
    static let days = 30.0
    static let base = Date(timeIntervalSince1970: 1_790_000_000)

    let count: Int
    let words: [String]          // body vocabulary, Zipf-like use
    let subjectWords: [String]
    let firstNames: [String]
    let senderDomains: [String]
    let internalDomains = ["corp.example", "sales.corp.example", "eu.corp.example", "lab.example", "subsidiary.example"]
    let gateways = ["gw1.mx.example.net", "gw2.mx.example.net", "gw3.mx.example.net", "gw4.mx.example.net", "gw5.dmz.example.net"]
    let filters = (1...20).map { "policy_rule_\($0)" }
    let viruses = (1...30).map { "Win.Trojan.Agent-\(9000 + $0)" } + ["Eicar-Test-Signature", "Doc.Dropper.Agent-6330"]
    let outbreakRules = (1...50).map { "OUTB-\($0)" }

    init(count: Int) {
        self.count = count
        var random = SplitMix64(seed: 42)
        let syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "an", "el", "or", "un", "is", "ba", "de",
                         "fi", "go", "ha", "ju", "pe", "qu", "re", "st", "tr", "wy", "xo", "ch", "sh", "th"]
        func word(_ parts: Int) -> String {
            (0..<parts).map { _ in syllables[Int(random.next() % UInt64(syllables.count))] }.joined()
        }
        var seen: Set<String> = []
        var words: [String] = []
        while words.count < 30_000 {
            let candidate = word(2 + Int(random.next() % 3))
            if seen.insert(candidate).inserted { words.append(candidate) }
        }
        self.words = words
        subjectWords = Array(words.prefix(2_000))
        firstNames = (0..<500).map { _ in word(2) }
        senderDomains = (0..<5_000).map { _ in word(2 + Int(random.next() % 2)) + [".com", ".net", ".org", ".biz", ".example"][Int(random.next() % 5)] }
    }

    struct Message {
        var transfer: IncomingTransfer
        var body: [UInt8]
        var bodyWord: String
        var subjectWord: String
    }

    func receivedAt(_ index: Int) -> Date {
        Self.base.addingTimeInterval(Double(index) / Double(count) * Self.days * 86_400)
    }

    /// Zipf-like pick: low indexes are common words, high ones rare.
    private func zipf(_ random: inout SplitMix64, _ n: Int) -> Int {
        let u = Double(random.next() >> 11) / Double(1 << 53)
        return min(n - 1, Int(pow(u, 3) * Double(n)))
    }

    func sender(_ random: inout SplitMix64) -> String {
        let name = firstNames[Int(random.next() % UInt64(firstNames.count))]
        return "\(name)\(random.next() % 50)@\(senderDomains[zipf(&random, senderDomains.count)])"
    }

    func recipient(_ random: inout SplitMix64) -> String {
        "\(firstNames[Int(random.next() % UInt64(firstNames.count))]).\(firstNames[Int(random.next() % 100)])@\(internalDomains[Int(random.next() % 5)])"
    }

    func message(_ index: Int) -> Message {
        var random = SplitMix64(seed: UInt64(index) &* 0x2545_F491_4F6C_DD1D)
        let from = sender(&random)
        let recipients = (0...Int(random.next() % 3)).map { _ in recipient(&random) }
        let subjectWordList = (0..<(3 + Int(random.next() % 6))).map { _ in subjectWords[zipf(&random, subjectWords.count)] }
        let subject = subjectWordList.joined(separator: " ")
        // Bodies 2–50 KB, log-uniform (mean ≈ 15 KB).
        let u = Double(random.next() >> 11) / Double(1 << 53)
        let size = Int(2_048 * pow(25.0, u))
        var text: [UInt8] = []
        text.reserveCapacity(size + 200)
        var line = 0
        var bodyWord = ""
        while text.count < size {
            let word = words[zipf(&random, words.count)]
            if bodyWord.isEmpty, text.count > 200 { bodyWord = word }
            text += word.utf8
            line += word.utf8.count + 1
            if line > 72 { text += [0x0D, 0x0A]; line = 0 } else { text.append(0x20) }
        }
        let received = receivedAt(index)
        var head = """
            Received: from mail.\(from.split(separator: "@").last!) (unknown [192.0.2.\(random.next() % 250)])\r
            \tby \(gateways[index % gateways.count]) with ESMTPS id \(index); \(received)\r
            From: \(from)\r
            To: \(recipients.joined(separator: ", "))\r
            Subject: \(subject)\r
            Date: \(received)\r
            Message-ID: <\(index).\(random.next() % 1_000_000)@\(from.split(separator: "@").last!)>\r
            MIME-Version: 1.0\r

            """
        if random.next() % 3 == 0 { head += "X-Mailer: Bulkmailer \(random.next() % 9).\(random.next() % 9)\r\n" }
        let kind = random.next() % 20
        var body: [UInt8]
        switch kind {
        case 0..<14:       // 70 % text/plain
            body = Array((head + "Content-Type: text/plain; charset=utf-8\r\n\r\n").utf8) + text
        case 14..<16:      // 10 % base64 text/plain
            body = Array((head + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n").utf8)
                + Self.base64Lines(text)
        case 16..<19:      // 15 % multipart/alternative: plain + HTML
            let half = Array(text.prefix(text.count / 2))
            body = Array((head + "Content-Type: multipart/alternative; boundary=\"alt\(index)\"\r\n\r\n--alt\(index)\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n").utf8)
                + half + Array("\r\n--alt\(index)\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>".utf8)
                + half + Array("</p></body></html>\r\n--alt\(index)--\r\n".utf8)
        default:           // 5 % text + a binary attachment
            var attachment = [UInt8](repeating: 0, count: 1_024 + Int(random.next() % 4_096))
            for i in attachment.indices { attachment[i] = UInt8(truncatingIfNeeded: random.next()) }
            body = Array((head + "Content-Type: multipart/mixed; boundary=\"mix\(index)\"\r\n\r\n--mix\(index)\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n").utf8)
                + text + Array("\r\n--mix\(index)\r\nContent-Type: application/pdf; name=\"doc\(index).pdf\"\r\nContent-Disposition: attachment; filename=\"doc\(index).pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n".utf8)
                + Self.base64Lines(attachment) + Array("--mix\(index)--\r\n".utf8)
        }
        let holdKind = random.next() % 100
        let hold: QuarantineTicket
        switch holdKind {
        case 0..<55:
            hold = QuarantineTicket(quarantine: "Policy", reason: QuarantineReason(kind: .messageFilter, detail: filters[zipf(&random, filters.count)]),
                                    stage: .messageFilters, retentionSeconds: 30 * 86_400)
        case 55..<70:
            hold = QuarantineTicket(quarantine: "Virus", reason: QuarantineReason(kind: .antivirus, detail: viruses[zipf(&random, viruses.count)]),
                                    stage: .antivirus, retentionSeconds: 14 * 86_400)
        case 70..<85:
            hold = QuarantineTicket(quarantine: "Outbreak", reason: QuarantineReason(kind: .outbreak, detail: outbreakRules[zipf(&random, outbreakRules.count)],
                                                                                       threatLevel: 3 + Int(random.next() % 3)),
                                    stage: .outbreak, retentionSeconds: 2 * 86_400)
        case 85..<95:
            hold = QuarantineTicket(quarantine: "Legal", reason: QuarantineReason(kind: .contentFilter, detail: "legal_keywords"),
                                    stage: .contentFilters, retentionSeconds: 90 * 86_400)
        default:
            hold = QuarantineTicket(quarantine: "Unclassified", reason: QuarantineReason(kind: .contentFilter, detail: "unclassified"),
                                    stage: .contentFilters, retentionSeconds: 7 * 86_400)
        }
        var holds = [hold]
        if holdKind % 10 == 3 {    // some messages in two quarantines
            holds.append(QuarantineTicket(quarantine: "Policy", reason: QuarantineReason(kind: .messageFilter, detail: filters[0]),
                                          stage: .messageFilters, retentionSeconds: 30 * 86_400))
        }
        if holds.count == 2, holds[0].quarantine == "Policy" { holds.removeLast() }
        // A little disorder: received up to 10 minutes before its slot.
        let jittered = received.addingTimeInterval(-Double(random.next() % 600))
        let transfer = IncomingTransfer(transferID: "bench-\(index)", gateway: gateways[index % gateways.count],
                                        gatewayMID: UInt64(index + 1), receivedAt: jittered, mailFrom: from,
                                        recipients: recipients, holds: holds)
        return Message(transfer: transfer, body: body, bodyWord: bodyWord, subjectWord: subjectWordList[0])
    }

    static func base64Lines(_ bytes: [UInt8]) -> [UInt8] {
        let encoded = Array(Data(bytes).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed]).utf8)
        return encoded + [0x0D, 0x0A]
    }
}
