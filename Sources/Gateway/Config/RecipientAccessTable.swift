import SMTPProtocol

/// What a RAT entry does with a recipient.
public enum RecipientAccessAction: String, Hashable, Sendable {
    case accept = "ACCEPT"
    case reject = "REJECT"
}

/// Which recipients a RAT entry covers.
public enum RecipientPattern: Hashable, Sendable, CustomStringConvertible {
    /// `ceo@example.com`: one address (local part and domain compared case-insensitively).
    case address(localPart: String, domain: String)
    /// `postmaster@`: this local part at any domain.
    case localPart(String)
    /// `example.com`: every address at exactly this domain.
    case domain(String)
    /// `.example.com`: every address at any subdomain of `example.com`.
    case domainSuffix(String)
    /// `ALL`: every recipient no other entry covers.
    case all

    /// Parses one pattern; nil when it is none of the forms.
    public init?(parsing token: some StringProtocol) {
        let text = String(token).lowercased()
        if text == "all" {
            self = .all
        } else if let at = text.lastIndex(of: "@") {
            let local = String(text[..<at])
            let domain = String(text[text.index(after: at)...])
            guard !local.isEmpty, !local.contains(where: { $0 == " " || $0 == "<" || $0 == ">" }) else { return nil }
            if domain.isEmpty {
                self = .localPart(local)
            } else {
                guard RecipientPattern.isDomain(domain) else { return nil }
                self = .address(localPart: local, domain: domain)
            }
        } else if text.hasPrefix(".") {
            let domain = String(text.dropFirst())
            guard RecipientPattern.isDomain(domain) else { return nil }
            self = .domainSuffix(domain)
        } else {
            guard RecipientPattern.isDomain(text) else { return nil }
            self = .domain(text)
        }
    }

    /// The text form, as it parses back.
    public var description: String {
        switch self {
        case .address(let local, let domain): "\(local)@\(domain)"
        case .localPart(let local): "\(local)@"
        case .domain(let domain): domain
        case .domainSuffix(let domain): "." + domain
        case .all: "ALL"
        }
    }

    /// Lower numbers are consulted first: address, local part, domain, suffix, ALL.
    var precedence: Int {
        switch self {
        case .address: 0
        case .localPart: 1
        case .domain: 2
        case .domainSuffix: 3
        case .all: 4
        }
    }

    /// Domains, or address literals in brackets (`[192.0.2.1]`).
    static func isDomain(_ text: String) -> Bool {
        if text.hasPrefix("[") && text.hasSuffix("]") {
            var inner = text.dropFirst().dropLast()
            if inner.lowercased().hasPrefix("ipv6:") { inner = inner.dropFirst(5) }
            return IPAddress(inner) != nil
        }
        return SenderGroupMember.isHostname(text)
    }
}

/// One line of a RAT.
public struct RecipientAccessEntry: Hashable, Sendable {
    public var pattern: RecipientPattern
    public var action: RecipientAccessAction
    /// A custom reply for REJECT (`"550 5.7.1 Use the web form"`).
    public var reply: SMTPReply?
    /// `bypass_receiving_control` on ACCEPT: the HAT's rate limits do not count this recipient.
    public var bypassReceivingControl: Bool
    /// The text in parentheses at the end of the line.
    public var comment: String?

    public init(pattern: RecipientPattern, action: RecipientAccessAction, reply: SMTPReply? = nil, bypassReceivingControl: Bool = false, comment: String? = nil) {
        self.pattern = pattern
        self.action = action
        self.reply = reply
        self.bypassReceivingControl = bypassReceivingControl
        self.comment = comment
    }
}

/// The outcome of looking a recipient up in the RAT.
public struct RecipientAccessDecision: Hashable, Sendable {
    public var action: RecipientAccessAction
    /// The entry that decided; nil when none matched (the default REJECT).
    public var matchedPattern: RecipientPattern?
    /// For REJECT: the custom reply, or `550 5.7.1 Recipient address rejected: <addr>`.
    /// For ACCEPT: `250 2.1.5 Recipient ok`.
    public var reply: SMTPReply
    public var bypassReceivingControl: Bool
    public var comment: String?
}

/// A recipient access table (RAT): which recipients a listener takes mail
/// for. One entry per line:
///
/// ```
/// # recipient access table
/// example.com        ACCEPT
/// .example.com       ACCEPT        (any subdomain)
/// postmaster@        ACCEPT        (any domain's postmaster)
/// ceo@example.com    REJECT        "550 5.7.1 Use the web form"
/// ALL                REJECT
/// ```
///
/// The most specific entry wins whatever the order: full address, then
/// `local@`, then the exact domain, then `.domain` (the longest suffix), then
/// `ALL`. Domains and local parts compare case-insensitively. A recipient
/// that matches nothing is rejected.
public struct RecipientAccessTable: Hashable, Sendable {
    /// The entries in file order.
    public private(set) var entries: [RecipientAccessEntry]

    /// Builds a table from entries; a pattern may appear only once.
    public init(entries: [RecipientAccessEntry]) throws(ConfigurationError) {
        var seen = Set<RecipientPattern>()
        for entry in entries where !seen.insert(entry.pattern).inserted {
            throw ConfigurationError("RAT: \"\(entry.pattern)\" is listed twice")
        }
        self.entries = entries
    }

    /// Parses the text form. Errors name the line: `RAT line 3: "ACEPT" is not ACCEPT or REJECT`.
    public init(parsing text: String) throws(ConfigurationError) {
        var entries: [RecipientAccessEntry] = []
        var lines: [RecipientPattern: Int] = [:]
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let content = rawLine.trimmingWhitespace()
            if content.isEmpty || content.hasPrefix("#") { continue }
            let entry = try RecipientAccessTable.parseLine(content, line: lineNumber)
            if let first = lines[entry.pattern] {
                throw ConfigurationError("RAT line \(lineNumber): \"\(entry.pattern)\" is already listed on line \(first)")
            }
            lines[entry.pattern] = lineNumber
            entries.append(entry)
        }
        self.entries = entries
    }

    private static func parseLine(_ content: Substring, line: Int) throws(ConfigurationError) -> RecipientAccessEntry {
        func error(_ message: String) -> ConfigurationError { ConfigurationError("RAT line \(line): \(message)") }
        let (body, comment) = ReplyText.splitComment(content)
        var rest = body
        func nextWord() -> Substring {
            rest = rest.trimmingWhitespace()
            let word = rest.prefix(while: { $0 != " " && $0 != "\t" })
            rest = rest.dropFirst(word.count)
            return word
        }
        let patternText = nextWord()
        guard let pattern = RecipientPattern(parsing: patternText) else {
            throw error("\"\(patternText)\" is not an address, local@, domain, .domain or ALL")
        }
        let actionText = nextWord()
        guard !actionText.isEmpty else { throw error("\"\(patternText)\" needs ACCEPT or REJECT") }
        guard let action = RecipientAccessAction(rawValue: actionText.uppercased()) else {
            throw error("\"\(actionText)\" is not ACCEPT or REJECT")
        }
        var entry = RecipientAccessEntry(pattern: pattern, action: action, comment: comment)
        rest = rest.trimmingWhitespace()
        while !rest.isEmpty {
            if rest.first == "\"" {
                guard action == .reject else { throw error("only REJECT takes a reply") }
                guard entry.reply == nil else { throw error("more than one reply") }
                guard let (text, after) = ReplyText.readQuoted(rest) else { throw error("the quoted reply is not closed") }
                guard let reply = ReplyText.parseFailureReply(text) else {
                    throw error("\"\(text)\" is not an SMTP failure reply like \"550 5.7.1 Recipient rejected\"")
                }
                entry.reply = reply
                rest = after.trimmingWhitespace()
            } else {
                let word = nextWord()
                guard word.lowercased() == "bypass_receiving_control" else { throw error("unexpected \"\(word)\"") }
                guard action == .accept else { throw error("bypass_receiving_control applies to ACCEPT only") }
                entry.bypassReceivingControl = true
                rest = rest.trimmingWhitespace()
            }
        }
        return entry
    }

    /// Looks up one recipient (`user@example.com`, without angle brackets).
    public func evaluate(recipient: String) -> RecipientAccessDecision {
        let lowered = recipient.lowercased()
        let local: String, domain: String
        if let at = lowered.lastIndex(of: "@") {
            local = String(lowered[..<at])
            domain = String(lowered[lowered.index(after: at)...])
        } else {
            local = lowered
            domain = ""
        }
        var best: RecipientAccessEntry?
        var bestRank = (Int.max, 0)
        for entry in entries {
            let rank: (Int, Int)
            switch entry.pattern {
            case .address(let l, let d):
                guard l == local && d == domain else { continue }
                rank = (0, 0)
            case .localPart(let l):
                guard l == local else { continue }
                rank = (1, 0)
            case .domain(let d):
                guard d == domain else { continue }
                rank = (2, 0)
            case .domainSuffix(let d):
                guard domain.hasSuffix("." + d) else { continue }
                rank = (3, -d.count) // the longest suffix is the most specific
            case .all:
                rank = (4, 0)
            }
            if rank < bestRank { best = entry; bestRank = rank }
        }
        guard let best else {
            return RecipientAccessDecision(action: .reject, matchedPattern: nil, reply: Self.rejectReply(for: recipient), bypassReceivingControl: false, comment: nil)
        }
        let reply: SMTPReply
        switch best.action {
        case .accept: reply = SMTPReply(250, EnhancedStatusCode(2, 1, 5), "Recipient ok")
        case .reject: reply = best.reply ?? Self.rejectReply(for: recipient)
        }
        return RecipientAccessDecision(action: best.action, matchedPattern: best.pattern, reply: reply, bypassReceivingControl: best.bypassReceivingControl, comment: best.comment)
    }

    /// `550 5.7.1 Recipient address rejected: <addr>`
    public static func rejectReply(for recipient: String) -> SMTPReply {
        SMTPReply(550, EnhancedStatusCode(5, 7, 1), "Recipient address rejected: <\(recipient)>")
    }

    /// The text form, one entry per line; parsing it gives back an equal table.
    public var text: String {
        let width = max(entries.map { $0.pattern.description.count }.max() ?? 0, 18) + 1
        var out = ""
        for entry in entries {
            let pattern = entry.pattern.description
            var line = pattern + String(repeating: " ", count: width - pattern.count) + entry.action.rawValue
            if let reply = entry.reply { line += " " + ReplyText.quoted(reply.description) }
            if entry.bypassReceivingControl { line += " bypass_receiving_control" }
            if let comment = entry.comment { line += " (\(comment))" }
            out += line + "\n"
        }
        return out
    }
}
