import NIOSSH

/// An admin who may log in over SSH: by password (a bcrypt hash), by public key, or both.
/// The role decides which commands they may run (`AdminRole`).
public struct SSHUser: Hashable, Sendable {
    public var name: String
    public var role: AdminRole
    /// `$2b$12$...` from `lazaret ssh hash-password`; nil: no password login.
    public var passwordHash: String?
    /// OpenSSH public key lines (`ssh-ed25519 AAAA... comment`; ecdsa-sha2-nistp256/384/521
    /// too), as in an authorized_keys file.
    public var authorizedKeys: [String]

    public init(name: String, role: AdminRole, passwordHash: String? = nil, authorizedKeys: [String] = []) {
        self.name = name
        self.role = role
        self.passwordHash = passwordHash
        self.authorizedKeys = authorizedKeys
    }

    /// The problems of this user, each naming its field under `path` (e.g. `ssh.users[1]`).
    public func problems(at path: String) -> [String] {
        var problems: [String] = []
        if name.isEmpty || name.contains(where: { $0.isWhitespace || $0.isNewline }) {
            problems.append("\(path).name: \"\(name)\" is not a user name (letters, digits, - _ . without spaces)")
        }
        if let passwordHash {
            do { try Bcrypt.validate(passwordHash) } catch {
                problems.append("\(path).password_bcrypt: \(error)")
            }
        }
        for (index, line) in authorizedKeys.enumerated() {
            do { _ = try NIOSSHPublicKey(openSSHPublicKey: line) } catch {
                problems.append("\(path).authorized_keys[\(index)]: not an OpenSSH public key line this server reads "
                    + "(ssh-ed25519 or ecdsa-sha2-nistp256/384/521 followed by base64, as in a .pub file)")
            }
        }
        if passwordHash == nil && authorizedKeys.isEmpty {
            problems.append("\(path): user \"\(name)\" has neither password_bcrypt nor authorized_keys and could never log in")
        }
        return problems
    }
}

extension SSHUser: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, role
        case passwordBcrypt = "password_bcrypt"
        case authorizedKeys = "authorized_keys"
    }

    public init(from decoder: any Decoder) throws {
        try SSHConfiguration.rejectUnknownKeys(decoder, CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let path = SSHConfiguration.render(decoder.codingPath)
        let roleText = try container.decode(String.self, forKey: .role)
        guard let role = AdminRole(rawValue: roleText) else {
            throw SSHError(.configuration, "\(path).role: \"\(roleText)\" is not one of "
                + AdminRole.allCases.map(\.rawValue).joined(separator: ", "))
        }
        self.init(name: try container.decode(String.self, forKey: .name), role: role,
                  passwordHash: try container.decodeIfPresent(String.self, forKey: .passwordBcrypt),
                  authorizedKeys: try container.decodeIfPresent([String].self, forKey: .authorizedKeys) ?? [])
        if let problem = problems(at: path).first { throw SSHError(.configuration, problem) }
    }
}

extension SSHUser: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(role.rawValue, forKey: .role)
        try container.encodeIfPresent(passwordHash, forKey: .passwordBcrypt)
        if !authorizedKeys.isEmpty { try container.encode(authorizedKeys, forKey: .authorizedKeys) }
    }
}
