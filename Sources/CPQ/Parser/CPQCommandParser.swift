import Scanning
import SMTPProtocol

/// Parses the argument of an `XCPQ` command line (everything after `XCPQ `)
/// into a ``CPQCommand`` (docs/CPQ.md). Pure: no I/O, no state; the order
/// of commands is ``CPQServerSession``'s business.
///
/// ```
/// xcpq-argument = sub-command [SP positional] *(SP field)
/// field         = KEY ["=" value]          ; KEY = %x41-5A *31(%x41-5A / DIGIT / "-")
/// ```
///
/// Fields are separated by spaces (several are tolerated; values never hold
/// one). Every refusal is a ``CPQProtocolError`` carrying the reply of the
/// doc's table, naming the field: `501 5.5.4` missing or malformed,
/// `555 5.5.4` unknown key, `504 5.5.2` unknown sub-command. Fields are
/// checked left to right, then the missing ones in the order of the doc.
public enum CPQCommandParser {
    /// What each field must look like, as the 501 replies say it.
    enum Rule {
        static let identifier = "1-64 characters of A-Z a-z 0-9 . _ -"
        static let transferID = "transfer id must be \(identifier)"
        static let releaseID = "release id must be \(identifier)"
        static let gateway = "GATEWAY must be \(identifier)"
        static let qid = "QID must be \(identifier)"
        static func number(_ key: String) -> String { "\(key) must be a decimal number below 2^63" }
        static let received = "RECEIVED must be decimal seconds since 1970, below 2^63"
        static func stage(_ key: String) -> String {
            "\(key) must be " + PipelineStage.allCases.map(\.rawValue).joined(separator: ", ")
        }
        static let kind = "KIND must be message-filter, content-filter, antivirus or outbreak"
        static func text(_ key: String) -> String {
            "\(key) must be xtext of at most \(CPQDefaults.maxTextLength) octets of UTF-8 text without control characters"
        }
        static let level = "LEVEL must be \(CPQDefaults.threatLevels.lowerBound)-\(CPQDefaults.threatLevels.upperBound)"
        static let retention = "RETENTION must be decimal seconds, at most 10 years (\(CPQDefaults.maxRetentionSeconds))"
        static let quarantine = "quarantine name must be 1-64 letters, digits, -, _ or spaces (as +20)"
        static let quarantines = "QUARANTINES must be 1-\(CPQDefaults.maxHolds) distinct quarantine names (letters, digits, -, _, +20), comma separated"
        static let recipient = "RCPT must be an address in xtext, 1-\(CPQDefaults.maxRecipientLength) octets of UTF-8 without control characters"
        static let gatewayName = "gateway name must be \(identifier)"
        static let proof = "PROOF must be 64 hexadecimal digits (HMAC-SHA256)"
        static let listener = "LISTENER must be HOST:PORT in xtext, at most 300 octets"
        static let ssh = "SSH must be HOST:PORT in xtext, at most 300 octets"
        static let sshKey = "SSHKEY must be the base64 blob of an OpenSSH public key, at most 1024 characters"
        static let status = "STATUS must be " + CPQReportStatus.allCases.map(\.rawValue).joined(separator: ", ")
        static func flag(_ key: String) -> String { "\(key) takes no value" }
        static func duplicate(_ key: String) -> String { "duplicate key \(key)" }
        static func malformedField(_ word: Substring) -> String {
            "malformed argument \(CPQSyntax.quoted(word)) (KEY=value expected, KEY in upper case)"
        }
    }

    /// Parses `argument`, the text after `XCPQ ` on the command line.
    public static func parse(argument: String) throws(CPQProtocolError) -> CPQCommand {
        let words = split(argument)
        let command = try subCommand(words.first)
        let rest = words.dropFirst()
        switch command {
        case .transfer: return .transfer(try parseTransfer(rest))
        case .hold: return .hold(try parseHold(rest))
        case .release: return .release(try parseRelease(rest))
        case .report: return .report(try parseReport(rest))
        case .join: return .join(try parseJoin(rest))
        }
    }

    /// Only the sub-command of `argument` (`504 5.5.2` when unknown,
    /// `501 5.5.4` when missing); lets the owner check order and role before
    /// the fields.
    public static func subCommand(of argument: String) throws(CPQProtocolError) -> CPQSubCommand {
        try subCommand(split(argument).first)
    }

    // MARK: - sub-command = "TRANSFER" / "HOLD" / "RELEASE" / "REPORT" (any case)

    static func subCommand(_ word: Substring?) throws(CPQProtocolError) -> CPQSubCommand {
        guard let word else { throw CPQProtocolError(CPQReplies.missingSubCommand) }
        let upper = word.uppercased()
        guard let command = CPQSubCommand(rawValue: upper) else {
            throw CPQProtocolError(CPQReplies.unknownSubCommand(CPQSyntax.quoted(upper, limit: 16)))
        }
        return command
    }

    // MARK: - transfer = "TRANSFER" SP transfer-id SP "GATEWAY=" name SP "MID=" n SP "ICID=" n SP "RECEIVED=" n

    static func parseTransfer(_ words: ArraySlice<Substring>) throws(CPQProtocolError) -> CPQTransferHeader {
        let fields = try Fields(words, command: .transfer, valued: ["GATEWAY", "MID", "ICID", "RECEIVED"])
        let id = try fields.positionalWord(name: "transfer id", rule: Rule.transferID, where: CPQSyntax.isIdentifier)
        let gateway = try fields.required("GATEWAY", rule: Rule.gateway) { CPQSyntax.isIdentifier($0) ? String($0) : nil }
        let mid = try fields.required("MID", rule: Rule.number("MID"), CPQSyntax.number)
        let icid = try fields.required("ICID", rule: Rule.number("ICID"), CPQSyntax.number)
        let received = try fields.required("RECEIVED", rule: Rule.received) { CPQSyntax.number($0).map { Int64($0) } }
        return CPQTransferHeader(transferID: String(id), gateway: gateway, mid: mid, icid: icid, received: received)
    }

    // MARK: - hold = "HOLD" SP quarantine SP "STAGE=" stage SP "RESUME=" stage SP "KIND=" kind SP "DETAIL=" xtext
    //                [SP "LEVEL=" 1-5] [SP "RETENTION=" seconds] [SP "COPY"]

    static func parseHold(_ words: ArraySlice<Substring>) throws(CPQProtocolError) -> CPQHold {
        let fields = try Fields(words, command: .hold, valued: ["STAGE", "RESUME", "KIND", "DETAIL", "LEVEL", "RETENTION"],
                                flags: ["COPY"])
        let quarantine = try fields.positional(name: "quarantine name", rule: Rule.quarantine, decodeQuarantineName)
        let stage = try fields.required("STAGE", rule: Rule.stage("STAGE")) { PipelineStage(rawValue: String($0)) }
        let resume = try fields.required("RESUME", rule: Rule.stage("RESUME")) { PipelineStage(rawValue: String($0)) }
        let kind = try fields.required("KIND", rule: Rule.kind) { QuarantineReason.Kind(cpqToken: $0) }
        let detail = try fields.required("DETAIL", rule: Rule.text("DETAIL")) { decodeText($0, maxLength: CPQDefaults.maxTextLength) }
        let level = try fields.optional("LEVEL", rule: Rule.level) { word -> Int? in
            guard let value = CPQSyntax.number(word), value <= UInt64(CPQDefaults.threatLevels.upperBound),
                  CPQDefaults.threatLevels.contains(Int(value)) else { return nil }
            return Int(value)
        }
        let retention = try fields.optional("RETENTION", rule: Rule.retention) { word -> Int? in
            guard let value = CPQSyntax.number(word), value <= UInt64(CPQDefaults.maxRetentionSeconds) else { return nil }
            return Int(value)
        }
        var hold = CPQHold(quarantine: quarantine, reason: QuarantineReason(kind: kind, detail: detail, threatLevel: level),
                           stage: stage, retentionSeconds: retention, isCopy: fields.flags.contains("COPY"))
        hold.resumeAt = resume
        return hold
    }

    // MARK: - release = "RELEASE" SP release-id SP "MID=" n SP "QID=" id SP "RESUME=" stage SP "QUARANTINES=" xtext

    static func parseRelease(_ words: ArraySlice<Substring>) throws(CPQProtocolError) -> CPQReleaseHeader {
        let fields = try Fields(words, command: .release, valued: ["MID", "QID", "RESUME", "QUARANTINES"])
        let id = try fields.positionalWord(name: "release id", rule: Rule.releaseID, where: CPQSyntax.isIdentifier)
        let mid = try fields.required("MID", rule: Rule.number("MID"), CPQSyntax.number)
        let qid = try fields.required("QID", rule: Rule.qid) { CPQSyntax.isIdentifier($0) ? String($0) : nil }
        let resume = try fields.required("RESUME", rule: Rule.stage("RESUME")) { PipelineStage(rawValue: String($0)) }
        let quarantines = try fields.required("QUARANTINES", rule: Rule.quarantines, decodeQuarantineList)
        return CPQReleaseHeader(releaseID: String(id), mid: mid, qid: qid, resume: resume, quarantines: quarantines)
    }

    // MARK: - report = "REPORT" SP release-id SP "RCPT=" xtext SP "STATUS=" status [SP "REPLY=" xtext]

    static func parseReport(_ words: ArraySlice<Substring>) throws(CPQProtocolError) -> CPQReport {
        let fields = try Fields(words, command: .report, valued: ["RCPT", "STATUS", "REPLY"])
        let id = try fields.positionalWord(name: "release id", rule: Rule.releaseID, where: CPQSyntax.isIdentifier)
        let recipient = try fields.required("RCPT", rule: Rule.recipient) { word -> String? in
            guard let text = decodeText(word, maxLength: CPQDefaults.maxRecipientLength), !text.isEmpty else { return nil }
            return text
        }
        let status = try fields.required("STATUS", rule: Rule.status) { CPQReportStatus(rawValue: String($0)) }
        let reply = try fields.optional("REPLY", rule: Rule.text("REPLY")) { decodeText($0, maxLength: CPQDefaults.maxTextLength) }
        return CPQReport(releaseID: String(id), recipient: recipient, status: status, reply: reply ?? "")
    }

    // MARK: - join = "JOIN" SP gateway-name SP "PROOF=" 64HEXDIG [SP "LISTENER=" xtext]
    //                [SP "SSH=" xtext SP "SSHKEY=" base64]

    static func parseJoin(_ words: ArraySlice<Substring>) throws(CPQProtocolError) -> CPQJoinRequest {
        let fields = try Fields(words, command: .join, valued: ["PROOF", "LISTENER", "SSH", "SSHKEY"])
        let gateway = try fields.positionalWord(name: "gateway name", rule: Rule.gatewayName, where: CPQSyntax.isIdentifier)
        let proof = try fields.required("PROOF", rule: Rule.proof) { word -> String? in
            guard word.utf8.count == 64, word.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) || ($0 >= 0x41 && $0 <= 0x46) })
            else { return nil }
            return word.lowercased()
        }
        let listener = try fields.optional("LISTENER", rule: Rule.listener) { word -> String? in
            guard let text = decodeText(word, maxLength: 300), !text.isEmpty, !text.contains(" ") else { return nil }
            return text
        }
        let ssh = try fields.optional("SSH", rule: Rule.ssh) { word -> String? in
            guard let text = decodeText(word, maxLength: 300), !text.isEmpty, !text.contains(" "), text.contains(":") else { return nil }
            return text
        }
        let sshKey = try fields.optional("SSHKEY", rule: Rule.sshKey) { word -> String? in
            guard (16...1024).contains(word.utf8.count), word.utf8.count % 4 == 0,
                  word.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A)
                      || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "=") }) else { return nil }
            return String(word)
        }
        return CPQJoinRequest(gateway: String(gateway), proof: proof, listener: listener, ssh: ssh, sshKey: sshKey)
    }

    // MARK: - Values

    /// xtext holding printable UTF-8 text of at most `maxLength` octets.
    static func decodeText(_ word: Substring, maxLength: Int) -> String? {
        guard let text = try? CPQXText.decode(word, maxLength: maxLength), CPQSyntax.isPrintableText(text) else { return nil }
        return text
    }

    /// xtext holding a quarantine name.
    static func decodeQuarantineName(_ word: Substring) -> String? {
        guard let text = try? CPQXText.decode(word, maxLength: CPQDefaults.maxQuarantineNameLength),
              CPQSyntax.isQuarantineName(text) else { return nil }
        return text
    }

    /// xtext holding 1–16 distinct quarantine names separated by commas.
    static func decodeQuarantineList(_ word: Substring) -> [String]? {
        let limit = CPQDefaults.maxHolds * (CPQDefaults.maxQuarantineNameLength + 1)
        guard let text = try? CPQXText.decode(word, maxLength: limit) else { return nil }
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard (1...CPQDefaults.maxHolds).contains(names.count), names.allSatisfy(CPQSyntax.isQuarantineName),
              Set(names).count == names.count
        else { return nil }
        return names
    }

    /// Splits at spaces, on octets (never inside a character).
    static func split(_ argument: String) -> [Substring] {
        argument.utf8.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true).map { Substring($0) }
    }

    // MARK: - Fields

    /// The positional word and the `KEY=value` fields of one command.
    struct Fields {
        let command: CPQSubCommand
        let positional: Substring?
        var values: [String: Substring] = [:]
        var flags: Set<String> = []

        /// Sorts `words` into the positional word and fields; refuses malformed,
        /// duplicate and unknown keys, a value after a flag and a valued key without one.
        init(_ words: ArraySlice<Substring>, command: CPQSubCommand, valued: Set<String>, flags allowedFlags: Set<String> = [])
            throws(CPQProtocolError) {
            self.command = command
            var rest = words
            if let first = rest.first, !first.utf8.contains(UInt8(ascii: "=")) {
                positional = first
                rest = rest.dropFirst()
            } else {
                positional = nil
            }
            for word in rest {
                let equals = word.utf8.firstIndex(of: UInt8(ascii: "="))
                let key = equals.map { word[word.startIndex..<$0] } ?? word
                guard CPQSyntax.isKey(key) else {
                    throw CPQProtocolError(CPQReplies.malformed(command, Rule.malformedField(word)))
                }
                let name = String(key)
                guard values[name] == nil, !flags.contains(name) else {
                    throw CPQProtocolError(CPQReplies.malformed(command, Rule.duplicate(name)))
                }
                if allowedFlags.contains(name) {
                    guard equals == nil else { throw CPQProtocolError(CPQReplies.malformed(command, Rule.flag(name))) }
                    flags.insert(name)
                } else if valued.contains(name) {
                    // A valued key without "=" is checked (and refused) with its rule.
                    values[name] = equals.map { word[word.utf8.index(after: $0)...] } ?? ""
                    if equals == nil { absentValue.insert(name) }
                } else {
                    throw CPQProtocolError(CPQReplies.unknownKey(command, name))
                }
            }
        }

        /// Keys given without `=`.
        private var absentValue: Set<String> = []

        func positional<T>(name: String, rule: String, _ convert: (Substring) -> T?) throws(CPQProtocolError) -> T {
            guard let positional else { throw CPQProtocolError(CPQReplies.missing(command, name)) }
            guard let value = convert(positional) else { throw CPQProtocolError(CPQReplies.malformed(command, rule)) }
            return value
        }

        func positionalWord(name: String, rule: String, where check: (Substring) -> Bool) throws(CPQProtocolError) -> Substring {
            try positional(name: name, rule: rule) { check($0) ? $0 : nil }
        }

        func required<T>(_ key: String, rule: String, _ convert: (Substring) -> T?) throws(CPQProtocolError) -> T {
            guard let value = try optional(key, rule: rule, convert) else {
                throw CPQProtocolError(CPQReplies.missing(command, key))
            }
            return value
        }

        func optional<T>(_ key: String, rule: String, _ convert: (Substring) -> T?) throws(CPQProtocolError) -> T? {
            guard let raw = values[key] else { return nil }
            guard !absentValue.contains(key), let value = convert(raw) else {
                throw CPQProtocolError(CPQReplies.malformed(command, rule))
            }
            return value
        }
    }
}
