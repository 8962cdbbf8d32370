/// The `ssh:` section of a role's configuration: the admin CLI over SSH.
///
/// ```yaml
/// ssh:
///   enabled: true            # default true
///   listen: 127.0.0.1        # default 127.0.0.1
///   port: 2222               # default: 2222 on the gateway, 2223 on the manager
///   host_key: ssh_host_ed25519_key   # relative to the role's home; made on first start
///   users:
///     - name: alice
///       role: admin          # admin | operator | read-only
///       password_bcrypt: $2b$12$...   # from `lazaret ssh hash-password`
///       authorized_keys:
///         - ssh-ed25519 AAAA... alice@laptop
/// ```
public struct SSHConfiguration: Hashable, Sendable {
    /// The gateway's SSH port unless configured.
    public static let gatewayDefaultPort = 2222
    /// The manager's SSH port unless configured.
    public static let managerDefaultPort = 2223
    /// The host key file unless configured, relative to the role's home.
    public static let defaultHostKey = "ssh_host_ed25519_key"

    public var enabled: Bool
    public var listen: String
    /// nil: the role's default (`gatewayDefaultPort` or `managerDefaultPort`).
    public var port: Int?
    /// The host key file; relative paths are under the role's home.
    public var hostKey: String
    public var users: [SSHUser]

    public init(enabled: Bool = true, listen: String = "127.0.0.1", port: Int? = nil,
                hostKey: String = SSHConfiguration.defaultHostKey, users: [SSHUser] = []) {
        self.enabled = enabled
        self.listen = listen
        self.port = port
        self.hostKey = hostKey
        self.users = users
    }

    /// The port to listen on: the configured one or the role's default.
    public func port(roleDefault: Int) -> Int { port ?? roleDefault }

    /// The host key's path: absolute as configured, or under `home`.
    public func hostKeyPath(home: String) -> String {
        if hostKey.hasPrefix("/") { return hostKey }
        return home.hasSuffix("/") ? home + hostKey : home + "/" + hostKey
    }

    /// The problems of the whole section, each naming its field (`ssh.users[1].role: ...`).
    public func problems() -> [String] {
        var problems: [String] = []
        if listen.isEmpty { problems.append("ssh.listen: is empty; give an address such as 127.0.0.1") }
        if let port, !(0...65535).contains(port) { problems.append("ssh.port: \(port) is not a port (1 to 65535)") }
        if hostKey.isEmpty { problems.append("ssh.host_key: is empty; leave it out for \(Self.defaultHostKey)") }
        var seen: Set<String> = []
        for (index, user) in users.enumerated() {
            problems += user.problems(at: "ssh.users[\(index)]")
            if !seen.insert(user.name).inserted {
                problems.append("ssh.users[\(index)].name: \"\(user.name)\" is listed twice")
            }
        }
        return problems
    }
}

extension SSHConfiguration: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled, listen, port
        case hostKey = "host_key"
        case users
    }

    public init(from decoder: any Decoder) throws {
        try Self.rejectUnknownKeys(decoder, CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(enabled: try container.decodeIfPresent(Bool.self, forKey: .enabled) ?? true,
                  listen: try container.decodeIfPresent(String.self, forKey: .listen) ?? "127.0.0.1",
                  port: try container.decodeIfPresent(Int.self, forKey: .port),
                  hostKey: try container.decodeIfPresent(String.self, forKey: .hostKey) ?? Self.defaultHostKey,
                  users: try container.decodeIfPresent([SSHUser].self, forKey: .users) ?? [])
        if let problem = problems().first { throw SSHError(.configuration, problem) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(enabled, forKey: .enabled)
        try container.encode(listen, forKey: .listen)
        try container.encodeIfPresent(port, forKey: .port)
        try container.encode(hostKey, forKey: .hostKey)
        try container.encode(users, forKey: .users)
    }

    /// A coding path as error messages name fields, always under `ssh`: `ssh.users[1]`.
    static func render(_ path: [any CodingKey]) -> String {
        var out = ""
        for key in path {
            if let index = key.intValue {
                out += "[\(index)]"
            } else {
                out += out.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        if out.isEmpty { return "ssh" }
        return out.hasPrefix("ssh") ? out : "ssh." + out
    }

    static func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_ decoder: any Decoder, _: Keys.Type) throws {
        let container = try decoder.container(keyedBy: SSHAnyKey.self)
        let known = Keys.allCases.map(\.stringValue)
        for key in container.allKeys where !known.contains(key.stringValue) {
            throw SSHError(.configuration, "\(render(decoder.codingPath + [key])): unknown key (known here: \(known.joined(separator: ", ")))")
        }
    }
}

struct SSHAnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { self.stringValue = String(intValue); self.intValue = intValue }
}
