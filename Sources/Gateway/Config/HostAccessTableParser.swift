import SMTPProtocol

/// Reads the HAT text form line by line (see `HostAccessTable`).
struct HostAccessTableParser {
    private enum State {
        case top
        case policyBody(name: String, line: Int)
        case group(name: String, members: [SenderGroupMember], line: Int)
        case all(line: Int)
    }

    /// Where a policy whose braces are still open goes once they close.
    private enum Target {
        case definition(name: String)
        case rule(HostAccessRule.Selector)
    }

    /// A `BEHAVIOUR {` whose `}` has not been seen yet.
    private struct OpenPolicy {
        var behaviour: HostAccessBehaviour
        var target: Target
        var line: Int
        var segments: [(line: Int, text: Substring)]
    }

    private var state = State.top
    private var open: OpenPolicy?
    private var policies: [HostAccessPolicy] = []
    private var rules: [HostAccessRule] = []
    private var references: [(name: String, line: Int)] = []
    private var groupNames = Set<String>()
    private var allLine: Int?

    mutating func parse(_ text: String) throws(ConfigurationError) -> ([HostAccessPolicy], [HostAccessRule]) {
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let content = rawLine.trimmingWhitespace()
            if content.isEmpty || content.hasPrefix("#") { continue }
            let indented = rawLine.first == " " || rawLine.first == "\t"
            try handle(content, indented: indented, line: lineNumber)
        }
        try finish(lastLine: max(lineNumber, 1))
        for reference in references where !policies.contains(where: { $0.name == reference.name }) {
            throw error(reference.line, "unknown policy \"$\(reference.name)\" (defined: \(HostAccessTable.list(policies)))")
        }
        return (policies, rules)
    }

    private func error(_ line: Int, _ message: String) -> ConfigurationError {
        ConfigurationError("HAT line \(line): \(message)")
    }

    private mutating func handle(_ content: Substring, indented: Bool, line: Int) throws(ConfigurationError) {
        if var pending = open {
            if let close = Self.closingBrace(in: content) {
                pending.segments.append((line, content[..<close]))
                open = nil
                try complete(pending, after: content[content.index(after: close)...], line: line)
            } else {
                pending.segments.append((line, content))
                open = pending
            }
            return
        }
        switch state {
        case .top:
            try handleHeader(content, line: line)
        case .policyBody(let name, _):
            guard let behaviour = Self.behaviour(of: content) else {
                throw error(line, "policy \"$\(name)\" needs a behaviour (ACCEPT, RELAY, REJECT, TCPREFUSE or CONTINUE), found \"\(content)\"")
            }
            try startPolicy(behaviour, text: content, target: .definition(name: name), line: line)
        case .group(let name, let members, let groupLine):
            if content.hasPrefix("$") || Self.behaviour(of: content) != nil {
                guard !members.isEmpty else { throw error(line, "sender group \(name) has no members") }
                try handlePolicyUse(content, selector: .senderGroup(name: name, members: members), line: line)
            } else if !indented && (content == "ALL" || content.hasSuffix(":")) {
                throw error(line, "sender group \(name) (line \(groupLine)) has no policy")
            } else {
                state = .group(name: name, members: members + (try parseMembers(content, line: line)), line: groupLine)
            }
        case .all:
            guard content.hasPrefix("$") || Self.behaviour(of: content) != nil else {
                throw error(line, "ALL needs a policy ($NAME or BEHAVIOUR {...}), found \"\(content)\"")
            }
            try handlePolicyUse(content, selector: .all, line: line)
        }
    }

    /// A line outside any definition: `$NAME`, `NAME:` or `ALL`.
    private mutating func handleHeader(_ content: Substring, line: Int) throws(ConfigurationError) {
        if let previous = allLine {
            throw error(line, "nothing after ALL (line \(previous)) is ever reached, found \"\(content)\"")
        }
        if content.hasPrefix("$") {
            let name = String(content.dropFirst())
            guard Self.isName(name) else { throw error(line, "\"\(content)\" is not a policy name ($ and letters, digits, _)") }
            guard !policies.contains(where: { $0.name == name }) else { throw error(line, "policy \"$\(name)\" is defined twice") }
            state = .policyBody(name: name, line: line)
        } else if content == "ALL" {
            allLine = line
            state = .all(line: line)
        } else if let colon = content.firstIndex(of: ":"), Self.isName(String(content[..<colon])) {
            let name = String(content[..<colon])
            guard name != "ALL" else { throw error(line, "ALL is a rule, not a sender group name") }
            guard groupNames.insert(name).inserted else { throw error(line, "sender group \(name) is defined twice") }
            let rest = content[content.index(after: colon)...].trimmingWhitespace()
            state = .group(name: name, members: rest.isEmpty ? [] : try parseMembers(rest, line: line), line: line)
        } else {
            throw error(line, "expected a policy ($NAME), a sender group (NAME:) or ALL, found \"\(content)\"")
        }
    }

    /// `$NAME (comment)` or `BEHAVIOUR {params} (comment)` under a group or ALL.
    private mutating func handlePolicyUse(_ content: Substring, selector: HostAccessRule.Selector, line: Int) throws(ConfigurationError) {
        if content.hasPrefix("$") {
            let (body, comment) = ReplyText.splitComment(content)
            let name = String(body.dropFirst())
            guard Self.isName(name) else { throw error(line, "\"\(body)\" is not a policy name ($ and letters, digits, _)") }
            references.append((name, line))
            rules.append(HostAccessRule(selector: selector, policy: .named(name), comment: comment))
            state = .top
        } else if let behaviour = Self.behaviour(of: content) {
            try startPolicy(behaviour, text: content, target: .rule(selector), line: line)
        }
    }

    private mutating func startPolicy(_ behaviour: HostAccessBehaviour, text: Substring, target: Target, line: Int) throws(ConfigurationError) {
        let rest = text.dropFirst(behaviour.rawValue.count).trimmingWhitespace()
        var pending = OpenPolicy(behaviour: behaviour, target: target, line: line, segments: [])
        guard rest.first == "{" else {
            // No braces: no parameters, maybe a comment.
            try complete(pending, after: rest, line: line)
            return
        }
        let inside = rest.dropFirst()
        if let close = Self.closingBrace(in: inside) {
            pending.segments.append((line, inside[..<close]))
            try complete(pending, after: inside[inside.index(after: close)...], line: line)
        } else {
            pending.segments.append((line, inside))
            open = pending
        }
    }

    /// The braces are closed: parse the parameters, take the comment, store the policy.
    private mutating func complete(_ pending: OpenPolicy, after trailer: Substring, line: Int) throws(ConfigurationError) {
        var parameters = HostAccessParameters()
        var seen = Set<String>()
        for segment in pending.segments {
            try parseParameters(segment.text, line: segment.line, into: &parameters, seen: &seen)
        }
        let trimmed = trailer.trimmingWhitespace()
        var comment: String?
        if !trimmed.isEmpty {
            let (body, text) = ReplyText.splitComment(trimmed)
            guard body.isEmpty, let text else { throw error(line, "unexpected \"\(trimmed)\" after the policy (a comment goes in parentheses)") }
            comment = text
        }
        switch pending.target {
        case .definition(let name):
            guard comment == nil else { throw error(line, "a policy definition takes no comment; put it after the policy's use") }
            policies.append(HostAccessPolicy(name: name, behaviour: pending.behaviour, parameters: parameters))
        case .rule(let selector):
            rules.append(HostAccessRule(selector: selector, policy: .inline(HostAccessPolicy(behaviour: pending.behaviour, parameters: parameters)), comment: comment))
        }
        state = .top
    }

    private func finish(lastLine: Int) throws(ConfigurationError) {
        if let open {
            throw error(open.line, "\"{\" is never closed")
        }
        switch state {
        case .top: break
        case .policyBody(let name, let line): throw error(line, "policy \"$\(name)\" has no behaviour")
        case .group(let name, let members, let line):
            throw error(line, members.isEmpty ? "sender group \(name) has no members and no policy" : "sender group \(name) has no policy")
        case .all(let line): throw error(line, "ALL has no policy")
        }
        _ = lastLine
    }

    private func parseMembers(_ text: Substring, line: Int) throws(ConfigurationError) -> [SenderGroupMember] {
        var members: [SenderGroupMember] = []
        for token in text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }) {
            guard let member = SenderGroupMember(parsing: token) else {
                throw error(line, "\"\(token)\" is not an IP address, CIDR or hostname")
            }
            members.append(member)
        }
        return members
    }

    private func parseParameters(_ text: Substring, line: Int, into parameters: inout HostAccessParameters, seen: inout Set<String>) throws(ConfigurationError) {
        for item in Self.splitOutsideQuotes(text) {
            let item = item.trimmingWhitespace()
            if item.isEmpty { continue }
            guard let equals = item.firstIndex(of: "=") else { throw error(line, "expected key = value, found \"\(item)\"") }
            let key = String(item[..<equals].trimmingWhitespace())
            let value = item[item.index(after: equals)...].trimmingWhitespace()
            guard seen.insert(key).inserted || !Self.parameterKeys.contains(key) else {
                throw error(line, "parameter \"\(key)\" is given twice")
            }
            switch key {
            case "max_msg_size":
                guard let size = Self.parseSize(value) else {
                    throw error(line, "max_msg_size: \"\(value)\" is not a size (a number with an optional K, M or G suffix)")
                }
                parameters.maxMessageSize = size
            case "max_rcpts_per_msg": parameters.maxRecipientsPerMessage = try count(key, value, line)
            case "max_msgs_per_session": parameters.maxMessagesPerSession = try count(key, value, line)
            case "max_rcpts_per_hour": parameters.maxRecipientsPerHour = try count(key, value, line)
            case "max_conn_per_ip": parameters.maxConnectionsPerIP = try count(key, value, line)
            case "tls":
                guard let mode = SMTPTLSMode(rawValue: value.lowercased()) else {
                    throw error(line, "tls: \"\(value)\" is not off, preferred or required")
                }
                parameters.tls = mode
            case "smtp_banner_text":
                parameters.bannerText = try quoted(key, value, line)
            case "reject_reply":
                let text = try quoted(key, value, line)
                guard let reply = ReplyText.parseFailureReply(text) else {
                    throw error(line, "reject_reply: \"\(text)\" is not an SMTP failure reply like \"554 5.7.1 Access denied\"")
                }
                parameters.rejectReply = reply
            default:
                throw error(line, "unknown parameter \"\(key)\" (known: \(Self.parameterKeys.joined(separator: ", ")))")
            }
        }
    }

    static let parameterKeys = [
        "max_msg_size", "max_rcpts_per_msg", "max_msgs_per_session", "max_rcpts_per_hour",
        "max_conn_per_ip", "tls", "smtp_banner_text", "reject_reply",
    ]

    private func count(_ key: String, _ value: Substring, _ line: Int) throws(ConfigurationError) -> Int {
        guard value.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(value), number > 0 else {
            throw error(line, "\(key): \"\(value)\" is not a positive whole number")
        }
        return number
    }

    private func quoted(_ key: String, _ value: Substring, _ line: Int) throws(ConfigurationError) -> String {
        guard let (text, rest) = ReplyText.readQuoted(value), rest.trimmingWhitespace().isEmpty else {
            throw error(line, "\(key): expected a quoted string, found \(value)")
        }
        return text
    }

    /// `5M` → 5 × 1024 × 1024; plain numbers are octets.
    static func parseSize(_ text: Substring) -> Int? {
        var digits = text
        var unit = 1
        if let last = text.last?.uppercased() {
            switch last {
            case "K": unit = 1 << 10
            case "M": unit = 1 << 20
            case "G": unit = 1 << 30
            default: break
            }
            if unit != 1 { digits = text.dropLast() }
        }
        guard !digits.isEmpty, digits.count <= 12, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(digits), number > 0 else { return nil }
        return number * unit
    }

    static func behaviour(of content: Substring) -> HostAccessBehaviour? {
        let word = content.prefix(while: { $0.isLetter })
        guard let behaviour = HostAccessBehaviour(rawValue: String(word)) else { return nil }
        let rest = content.dropFirst(word.count).trimmingWhitespace()
        return rest.isEmpty || rest.first == "{" || rest.first == "(" ? behaviour : nil
    }

    static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
    }

    /// The index of the first `}` outside a quoted string.
    static func closingBrace(in text: Substring) -> Substring.Index? {
        var inQuote = false, escaped = false
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if inQuote {
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { inQuote = false }
            } else if character == "\"" {
                inQuote = true
            } else if character == "}" {
                return index
            }
            index = text.index(after: index)
        }
        return nil
    }

    static func splitOutsideQuotes(_ text: Substring) -> [Substring] {
        var parts: [Substring] = []
        var inQuote = false, escaped = false
        var start = text.startIndex
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if inQuote {
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { inQuote = false }
            } else if character == "\"" {
                inQuote = true
            } else if character == "," {
                parts.append(text[start..<index])
                start = text.index(after: index)
            }
            index = text.index(after: index)
        }
        parts.append(text[start...])
        return parts
    }
}
