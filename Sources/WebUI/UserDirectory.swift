import CPQTLS
import Crypto
import Foundation

/// The API's users, each with a role, and their bearer tokens: `users.json` in the
/// manager's home (mode 0600). Only the SHA-256 of a token is kept; the token itself is
/// shown once, when it is made. The file is shared between the running manager and the
/// CLI (`lazaret manager user add`, `lazaret manager token create`): the manager reads it
/// again whenever it changed.
public struct UserDirectory: Sendable {
    struct User: Codable, Sendable, Hashable {
        var name: String
        var role: APIRole
        var createdAt: Date
    }

    struct Token: Codable, Sendable, Hashable {
        var sha256: String
        var user: String
        var label: String
        var createdAt: Date
    }

    struct File: Codable, Sendable {
        var version = 1
        var users: [User] = []
        var tokens: [Token] = []
    }

    private let store: JSONFileStore<File>

    public init(path: String) {
        store = JSONFileStore(path: path, empty: { File() })
    }

    public var path: String { store.path }

    /// 1–64 letters, digits, `.`, `_`, `-`, `@`; starting with a letter or digit.
    public static func checkName(_ name: String) throws {
        let valid = (1...64).contains(name.utf8.count)
            && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || ".-_@".unicodeScalars.contains($0)) }
            && name.first.map { $0.isLetter || $0.isNumber } == true
        guard valid else {
            throw UserDirectoryError("\"\(name)\" is not a user name: use 1 to 64 letters, digits, dots, hyphens, underscores or @, starting with a letter or digit")
        }
    }

    /// Adds a user (or changes an existing user's role).
    public func addUser(_ name: String, role: APIRole, now: Date = Date()) throws {
        try Self.checkName(name)
        try store.update { file in
            if let index = file.users.firstIndex(where: { $0.name.lowercased() == name.lowercased() }) {
                file.users[index].role = role
            } else {
                file.users.append(User(name: name, role: role, createdAt: now))
            }
        }
    }

    /// Removes a user and every token of theirs; false when there was none.
    @discardableResult
    public func removeUser(_ name: String) throws -> Bool {
        try store.update { file in
            let before = file.users.count
            file.users.removeAll { $0.name.lowercased() == name.lowercased() }
            file.tokens.removeAll { $0.user.lowercased() == name.lowercased() }
            return file.users.count != before
        }
    }

    /// Users and their roles, by name.
    public func users() throws -> [(name: String, role: APIRole)] {
        try store.read().users.sorted { $0.name < $1.name }.map { ($0.name, $0.role) }
    }

    /// Makes a new token for `user` and returns it (the only time it is seen): `lzt_` and
    /// 32 base32 characters (160 random bits).
    public func createToken(for user: String, label: String = "", now: Date = Date()) throws -> String {
        var bytes = [UInt8](repeating: 0, count: 20)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255, using: &generator) }
        let token = "lzt_" + Self.base32(bytes)
        try store.update { file in
            guard let known = file.users.first(where: { $0.name.lowercased() == user.lowercased() }) else {
                throw UserDirectoryError("no user \"\(user)\": add one first (lazaret manager user add \(user) --role ROLE)")
            }
            file.tokens.append(Token(sha256: Self.digest(token), user: known.name, label: label, createdAt: now))
        }
        return token
    }

    /// Withdraws every token of `user`; returns how many.
    @discardableResult
    public func revokeTokens(of user: String) throws -> Int {
        try store.update { file in
            let before = file.tokens.count
            file.tokens.removeAll { $0.user.lowercased() == user.lowercased() }
            return before - file.tokens.count
        }
    }

    /// The user a bearer token belongs to, or nil.
    public func user(forToken token: String) throws -> APIUser? {
        guard token.hasPrefix("lzt_"), token.utf8.count < 100 else { return nil }
        let digest = Self.digest(token)
        let file = try store.read()
        guard let entry = file.tokens.first(where: { constantTimeEqual($0.sha256, digest) }),
              let user = file.users.first(where: { $0.name == entry.user }) else { return nil }
        return APIUser(name: user.name, role: user.role)
    }

    static func digest(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func base32(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var out = ""
        var buffer = 0, bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return out
    }
}

private func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    guard x.count == y.count else { return false }
    return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
}

/// A user directory problem, with a message that says what to do.
public struct UserDirectoryError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
