import SMTPProtocol

/// What a HAT policy does with a connection.
public enum HostAccessBehaviour: String, Hashable, Sendable, CaseIterable {
    /// Take mail for local recipients (the RAT decides which).
    case accept = "ACCEPT"
    /// Take mail for any recipient: the client may relay through this listener.
    case relay = "RELAY"
    /// Answer with a 5xx reply instead of the greeting (`554 5.7.1 Access denied`).
    case reject = "REJECT"
    /// Close the TCP connection without a word.
    case tcpRefuse = "TCPREFUSE"
    /// Remember this policy's parameters and keep looking for a match.
    case `continue` = "CONTINUE"
}

/// The parameters a HAT policy sets in braces. Every field is optional:
/// an unset field falls back to an earlier `CONTINUE` match, then to the
/// listener defaults (`SMTPDefaults`).
public struct HostAccessParameters: Hashable, Sendable {
    /// `max_msg_size`, in octets (the text accepts `K`, `M`, `G` suffixes, powers of 1024).
    public var maxMessageSize: Int?
    /// `max_rcpts_per_msg`
    public var maxRecipientsPerMessage: Int?
    /// `max_msgs_per_session`
    public var maxMessagesPerSession: Int?
    /// `max_rcpts_per_hour`: recipients one sending IP may give in a sliding hour.
    public var maxRecipientsPerHour: Int?
    /// `max_conn_per_ip`: concurrent connections from one IP.
    public var maxConnectionsPerIP: Int?
    /// `tls`: off, preferred or required.
    public var tls: SMTPTLSMode?
    /// `smtp_banner_text`: the text of the 220 greeting.
    public var bannerText: String?
    /// `reject_reply`: the reply a REJECT policy sends, e.g. `554 5.7.1 Access denied`.
    public var rejectReply: SMTPReply?

    public init(
        maxMessageSize: Int? = nil,
        maxRecipientsPerMessage: Int? = nil,
        maxMessagesPerSession: Int? = nil,
        maxRecipientsPerHour: Int? = nil,
        maxConnectionsPerIP: Int? = nil,
        tls: SMTPTLSMode? = nil,
        bannerText: String? = nil,
        rejectReply: SMTPReply? = nil
    ) {
        self.maxMessageSize = maxMessageSize
        self.maxRecipientsPerMessage = maxRecipientsPerMessage
        self.maxMessagesPerSession = maxMessagesPerSession
        self.maxRecipientsPerHour = maxRecipientsPerHour
        self.maxConnectionsPerIP = maxConnectionsPerIP
        self.tls = tls
        self.bannerText = bannerText
        self.rejectReply = rejectReply
    }

    /// True when no parameter is set (`{}`).
    public var isEmpty: Bool { self == HostAccessParameters() }

    /// Fields set here win; unset fields are taken from `fallback`.
    public func filling(from fallback: HostAccessParameters) -> HostAccessParameters {
        HostAccessParameters(
            maxMessageSize: maxMessageSize ?? fallback.maxMessageSize,
            maxRecipientsPerMessage: maxRecipientsPerMessage ?? fallback.maxRecipientsPerMessage,
            maxMessagesPerSession: maxMessagesPerSession ?? fallback.maxMessagesPerSession,
            maxRecipientsPerHour: maxRecipientsPerHour ?? fallback.maxRecipientsPerHour,
            maxConnectionsPerIP: maxConnectionsPerIP ?? fallback.maxConnectionsPerIP,
            tls: tls ?? fallback.tls,
            bannerText: bannerText ?? fallback.bannerText,
            rejectReply: rejectReply ?? fallback.rejectReply
        )
    }

    /// The session limits, with `SMTPSessionPolicy` defaults where unset.
    public var sessionPolicy: SMTPSessionPolicy {
        var policy = SMTPSessionPolicy()
        if let maxMessageSize { policy.maxMessageSize = maxMessageSize }
        if let maxRecipientsPerMessage { policy.maxRecipientsPerMessage = maxRecipientsPerMessage }
        if let maxMessagesPerSession { policy.maxMessagesPerSession = maxMessagesPerSession }
        if let tls { policy.tls = tls }
        return policy
    }
}

/// A HAT policy: a behaviour and its parameters. Named policies are
/// defined as `$NAME` followed by an indented `BEHAVIOUR {params}`; inline
/// policies follow a sender group directly and have no name.
public struct HostAccessPolicy: Hashable, Sendable {
    /// The name without `$` (`RELAYED`), nil for an inline policy.
    public var name: String?
    public var behaviour: HostAccessBehaviour
    public var parameters: HostAccessParameters

    public init(name: String? = nil, behaviour: HostAccessBehaviour, parameters: HostAccessParameters = HostAccessParameters()) {
        self.name = name
        self.behaviour = behaviour
        self.parameters = parameters
    }
}

/// Who a sender group entry matches.
public enum SenderGroupMember: Hashable, Sendable, CustomStringConvertible {
    /// One address, `10.1.2.3` or `2001:db8::1`.
    case address(IPAddress)
    /// An address block, `192.168.0.0/16`.
    case network(IPNetwork)
    /// A partial IPv4 address ending in a dot, `203.0.113.`: the leading octets.
    case partialIPv4([UInt8])
    /// A host name matched exactly against a verified reverse DNS name (lower case, no trailing dot).
    case hostname(String)
    /// `.x.example`: any subdomain of `x.example` (not `x.example` itself),
    /// matched against a verified reverse DNS name. Stored without the leading dot.
    case domainSuffix(String)

    /// Parses one entry of a sender group; nil when it is none of the forms.
    public init?(parsing token: some StringProtocol) {
        let text = String(token)
        if text.contains("/") {
            guard let network = IPNetwork(text) else { return nil }
            self = .network(network)
        } else if text.contains(":") {
            guard let address = IPAddress(text) else { return nil }
            self = .address(address)
        } else if text.allSatisfy({ $0 == "." || ($0.isASCII && $0.isNumber) }) {
            if text.hasSuffix(".") {
                let octets = text.dropLast().split(separator: ".", omittingEmptySubsequences: false)
                guard (1...3).contains(octets.count) else { return nil }
                var values: [UInt8] = []
                for octet in octets {
                    guard let value = IPAddress.parseOctet(octet) else { return nil }
                    values.append(value)
                }
                self = .partialIPv4(values)
            } else {
                guard let address = IPAddress(text) else { return nil }
                self = .address(address)
            }
        } else if text.hasPrefix(".") {
            let domain = String(text.dropFirst()).lowercased()
            guard SenderGroupMember.isHostname(domain) else { return nil }
            self = .domainSuffix(domain)
        } else {
            let host = text.lowercased()
            guard SenderGroupMember.isHostname(host) else { return nil }
            self = .hostname(host)
        }
    }

    /// True for `address` (already parsed) or `reverseDNS` when it is verified.
    public func matches(address: IPAddress?, reverseDNS: String?, verified: Bool) -> Bool {
        switch self {
        case .address(let own):
            guard let address else { return false }
            return own.unmapped == address.unmapped
        case .network(let network):
            guard let address else { return false }
            return network.contains(address)
        case .partialIPv4(let octets):
            guard case .v4(let value) = address?.unmapped else { return false }
            for (index, octet) in octets.enumerated() where UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32(index))) != octet {
                return false
            }
            return true
        case .hostname(let host):
            guard verified, let name = SenderGroupMember.normalised(reverseDNS) else { return false }
            return name == host
        case .domainSuffix(let domain):
            guard verified, let name = SenderGroupMember.normalised(reverseDNS) else { return false }
            return name.hasSuffix("." + domain)
        }
    }

    /// The text form, as it parses back.
    public var description: String {
        switch self {
        case .address(let address): address.description
        case .network(let network): network.description
        case .partialIPv4(let octets): octets.map { "\($0)." }.joined()
        case .hostname(let host): host
        case .domainSuffix(let domain): "." + domain
        }
    }

    static func normalised(_ name: String?) -> String? {
        guard var name = name?.lowercased(), !name.isEmpty else { return nil }
        if name.hasSuffix(".") { name.removeLast() }
        return name
    }

    /// Letters, digits, `-` and `_` in dot-separated labels of 1...63
    /// characters; the last label is not all digits.
    static func isHostname(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            guard (1...63).contains(label.count),
                  label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }),
                  label.first != "-", label.last != "-"
            else { return false }
        }
        return !(labels.last?.allSatisfy(\.isNumber) ?? true)
    }
}
