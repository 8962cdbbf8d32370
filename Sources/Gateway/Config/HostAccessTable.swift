import SMTPProtocol

/// One HAT rule: a sender group (or `ALL`) and the policy for it.
public struct HostAccessRule: Hashable, Sendable {
    /// Who the rule matches.
    public enum Selector: Hashable, Sendable {
        /// A named sender group (`RELAYLIST:`) and its members, in file order.
        case senderGroup(name: String, members: [SenderGroupMember])
        /// The `ALL` rule: every connection that reaches it.
        case all
    }

    /// The policy a rule applies.
    public enum PolicyReference: Hashable, Sendable {
        /// `$NAME`, stored without the `$`.
        case named(String)
        /// `BEHAVIOUR {params}` written right under the sender group.
        case inline(HostAccessPolicy)
    }

    public var selector: Selector
    public var policy: PolicyReference
    /// The text in parentheses after the policy, e.g. `Everyone else`.
    public var comment: String?

    public init(selector: Selector, policy: PolicyReference, comment: String? = nil) {
        self.selector = selector
        self.policy = policy
        self.comment = comment
    }

    /// `RELAYLIST`, or `ALL` for the ALL rule.
    public var name: String {
        switch selector {
        case .senderGroup(let name, _): name
        case .all: "ALL"
        }
    }
}

/// The outcome of running a connection through the HAT.
public struct HostAccessDecision: Hashable, Sendable {
    /// The sender group that matched (`RELAYLIST`), `ALL`, or nil when no rule matched.
    public var senderGroup: String?
    /// The policy that decided, without `$` (`RELAYED`); nil for an inline policy or no match.
    public var policyName: String?
    /// What to do: never `.continue`; `.reject` when no rule matched.
    public var behaviour: HostAccessBehaviour
    /// The parameters in force: those of the deciding policy, filled in from
    /// earlier `CONTINUE` matches (earlier matches win, like rules).
    public var parameters: HostAccessParameters
    /// The session limits: `parameters` over `SMTPDefaults`.
    public var sessionPolicy: SMTPSessionPolicy
    /// `max_rcpts_per_hour` for the sending IP, if any (give it to `RateLimiter`).
    public var maxRecipientsPerHour: Int?
    /// `max_conn_per_ip`, if any (give it to `RateLimiter`).
    public var maxConnectionsPerIP: Int?
    /// The comment of the rule that decided.
    public var comment: String?
    /// The sender group member that matched (`127.0.0.0/8`), for mail_logs; nil for ALL.
    public var matchedMember: SenderGroupMember?

    public init(
        senderGroup: String?, policyName: String?, behaviour: HostAccessBehaviour,
        parameters: HostAccessParameters, comment: String?, matchedMember: SenderGroupMember? = nil
    ) {
        self.matchedMember = matchedMember
        self.senderGroup = senderGroup
        self.policyName = policyName
        self.behaviour = behaviour
        self.parameters = parameters
        self.sessionPolicy = parameters.sessionPolicy
        self.maxRecipientsPerHour = parameters.maxRecipientsPerHour
        self.maxConnectionsPerIP = parameters.maxConnectionsPerIP
        self.comment = comment
    }

    /// True for RELAY: recipients are not checked against the RAT.
    public var allowsRelay: Bool { behaviour == .relay }

    /// The reply a REJECT sends: `reject_reply`, or `554 5.7.1 Access denied`.
    public var rejectReply: SMTPReply { parameters.rejectReply ?? HostAccessTable.defaultRejectReply }

    /// The answer for `SMTPServerDelegate.connectionOpened`. `greeting` is
    /// used when the policy sets no `smtp_banner_text`.
    public func connectionDecision(defaultGreeting greeting: String) -> SMTPConnectionDecision {
        switch behaviour {
        case .accept, .relay: .accept(sessionPolicy, greeting: parameters.bannerText ?? greeting)
        case .reject, .continue: .reject(rejectReply)
        case .tcpRefuse: .refuse
        }
    }
}

/// A host access table (HAT) in the text form mail admins know from
/// gateway appliances: named policies, then sender groups in order, each
/// with a policy, and usually a final `ALL`.
///
/// ```
/// $RELAYED
///   RELAY {}
/// $BLOCKED
///   REJECT {}
/// RELAYLIST:
///   10.1.2.3
///   192.168.0.0/16
///     $RELAYED (Only select hosts can relay from this box)
/// ALL
///   $BLOCKED (Everyone else)
/// ```
///
/// The first matching rule wins; `CONTINUE` remembers its parameters and
/// keeps looking; a connection that matches nothing is rejected.
/// See docs/CONFIGURATION.md for the full grammar.
public struct HostAccessTable: Hashable, Sendable {
    /// The named policies in file order.
    public private(set) var policies: [HostAccessPolicy]
    /// The rules in file order.
    public private(set) var rules: [HostAccessRule]

    /// `554 5.7.1 Access denied`, what REJECT sends without `reject_reply`.
    public static let defaultRejectReply = SMTPReply(554, EnhancedStatusCode(5, 7, 1), "Access denied")

    /// Builds a table from values; every `.named` reference must name a policy
    /// and every named policy must have a unique name.
    public init(policies: [HostAccessPolicy], rules: [HostAccessRule]) throws(ConfigurationError) {
        var names = Set<String>()
        for policy in policies {
            guard let name = policy.name else { throw ConfigurationError("HAT: a named policy has no name") }
            guard names.insert(name).inserted else { throw ConfigurationError("HAT: policy \"$\(name)\" is defined twice") }
        }
        for rule in rules {
            if case .named(let name) = rule.policy, !names.contains(name) {
                throw ConfigurationError("HAT: unknown policy \"$\(name)\" (defined: \(HostAccessTable.list(policies)))")
            }
        }
        self.policies = policies
        self.rules = rules
    }

    /// Parses the text form. Errors name the line: `HAT line 7: unknown policy "$RELAYD" (defined: $RELAYED, $BLOCKED)`.
    public init(parsing text: String) throws(ConfigurationError) {
        var parser = HostAccessTableParser()
        let (policies, rules) = try parser.parse(text)
        self.policies = policies
        self.rules = rules
    }

    /// Runs a connection through the rules.
    /// - Parameters:
    ///   - address: the client's IP address as text (IPv4, IPv6, IPv4-mapped IPv6).
    ///   - reverseDNS: the PTR name of the address, if any.
    ///   - verified: true when the PTR name resolves back to `address`
    ///     (host name and `.domain` members match only verified names).
    public func evaluate(address: String, reverseDNS: String?, verified: Bool) -> HostAccessDecision {
        let ip = IPAddress(address)?.unmapped
        var remembered = HostAccessParameters()
        let named = Dictionary(policies.compactMap { policy in policy.name.map { ($0, policy) } }, uniquingKeysWith: { first, _ in first })
        for rule in rules {
            var matched: SenderGroupMember?
            switch rule.selector {
            case .all:
                break
            case .senderGroup(_, let members):
                guard let member = members.first(where: { $0.matches(address: ip, reverseDNS: reverseDNS, verified: verified) }) else { continue }
                matched = member
            }
            let policy: HostAccessPolicy
            switch rule.policy {
            case .named(let name):
                guard let found = named[name] else { continue }
                policy = found
            case .inline(let inline):
                policy = inline
            }
            remembered = remembered.filling(from: policy.parameters)
            if policy.behaviour == .continue { continue }
            return HostAccessDecision(
                senderGroup: rule.name, policyName: policy.name, behaviour: policy.behaviour,
                parameters: remembered, comment: rule.comment, matchedMember: matched
            )
        }
        return HostAccessDecision(senderGroup: nil, policyName: nil, behaviour: .reject, parameters: remembered, comment: nil)
    }

    /// The text form; parsing it gives back an equal table (comment lines
    /// and layout of the original are not kept).
    public var text: String {
        var out = ""
        for policy in policies {
            out += "$\(policy.name ?? "")\n  \(HostAccessTable.format(policy))\n"
        }
        for rule in rules {
            switch rule.selector {
            case .senderGroup(let name, let members):
                out += "\(name):\n"
                for member in members { out += "  \(member)\n" }
                out += "    "
            case .all:
                out += "ALL\n  "
            }
            switch rule.policy {
            case .named(let name): out += "$\(name)"
            case .inline(let policy): out += HostAccessTable.format(policy)
            }
            if let comment = rule.comment { out += " (\(comment))" }
            out += "\n"
        }
        return out
    }

    static func list(_ policies: [HostAccessPolicy]) -> String {
        policies.isEmpty ? "none" : policies.compactMap { $0.name.map { "$" + $0 } }.joined(separator: ", ")
    }

    static func format(_ policy: HostAccessPolicy) -> String {
        "\(policy.behaviour.rawValue) {\(format(policy.parameters))}"
    }

    static func format(_ parameters: HostAccessParameters) -> String {
        var items: [String] = []
        if let value = parameters.maxMessageSize { items.append("max_msg_size = \(formatSize(value))") }
        if let value = parameters.maxRecipientsPerMessage { items.append("max_rcpts_per_msg = \(value)") }
        if let value = parameters.maxMessagesPerSession { items.append("max_msgs_per_session = \(value)") }
        if let value = parameters.maxRecipientsPerHour { items.append("max_rcpts_per_hour = \(value)") }
        if let value = parameters.maxConnectionsPerIP { items.append("max_conn_per_ip = \(value)") }
        if let value = parameters.tls { items.append("tls = \(value.rawValue)") }
        if let value = parameters.bannerText { items.append("smtp_banner_text = \(ReplyText.quoted(value))") }
        if let value = parameters.rejectReply { items.append("reject_reply = \(ReplyText.quoted(value.description))") }
        return items.joined(separator: ", ")
    }

    static func formatSize(_ value: Int) -> String {
        for (suffix, unit) in [("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)] where value >= unit && value % unit == 0 {
            return "\(value / unit)\(suffix)"
        }
        return String(value)
    }
}
