import Crypto
import Foundation

/// Why a pairing token was not accepted. Compared by ``code``.
public struct PairingError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// Not the form of a pairing token (a typo, or not a token at all).
        case malformedToken
        /// No such token was ever made here (or it was cleaned up long ago).
        case unknownToken
        /// The token's time ran out before it was used.
        case expiredToken
        /// The token was already used: each pairs one gateway once.
        case usedToken
        /// The gateway presented a name other than the one the token is for.
        case nameMismatch
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}

/// One-time tokens that let a gateway join the manager's CPQ CA. An admin
/// makes one for a gateway name (`create(gatewayName:ttl:)`) and types it on
/// the gateway; the gateway presents it with its name; the manager redeems it
/// (`redeem(token:presentedName:)`) and issues the gateway's certificate.
///
/// The token is 160 random bits written as 32 base32 characters in groups of
/// four (`ABCD-EFGH-...`; case and dashes do not matter when typed). The file
/// keeps only its SHA-256, the gateway name, the expiry, and when and from
/// where it was used; used and expired tokens are kept for
/// ``PairingTokens/retention`` so that a late attempt gets "used" or "expired"
/// rather than "unknown".
public struct PairingTokens: Sendable {
    /// Default time a token stays valid: one day.
    public static let defaultTTL: TimeInterval = 86_400
    /// Longest time a token may stay valid: 30 days.
    public static let maximumTTL: TimeInterval = 30 * 86_400
    /// How long used and expired tokens are remembered.
    public static let retention: TimeInterval = 30 * 86_400
    /// Random bytes in a token.
    public static let tokenBytes = 20

    struct Stored: Codable, Sendable {
        var sha256: String
        var gatewayName: String
        var createdAt: Date
        var expiresAt: Date
        var usedAt: Date?
        var usedFrom: [String]?
    }

    struct File: Codable, Sendable {
        var version = 1
        var tokens: [Stored] = []
    }

    /// A token as listed for an admin (never the token itself).
    public struct Summary: Hashable, Sendable {
        public var gatewayName: String
        public var createdAt: Date
        public var expiresAt: Date
        public var usedAt: Date?
    }

    private let store: JSONFileStore<File>

    /// The token file at `path` (created on first use).
    public init(path: String) {
        store = JSONFileStore(path: path, empty: { File() })
    }

    /// Makes a token for `gatewayName`, valid for `ttl` seconds. The returned
    /// string is shown once and stored nowhere.
    public func create(gatewayName: String, ttl: TimeInterval = PairingTokens.defaultTTL, now: Date = Date()) throws -> String {
        try GatewayName.check(gatewayName)
        guard ttl > 0, ttl <= Self.maximumTTL else {
            throw CPQTLSError(.invalidConfiguration, "ttl: a pairing token lives more than 0 seconds and at most \(Int(Self.maximumTTL / 86_400)) days")
        }
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<Self.tokenBytes).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
        let entry = Stored(sha256: Self.digest(secret), gatewayName: gatewayName, createdAt: now,
                           expiresAt: now.addingTimeInterval(ttl), usedAt: nil, usedFrom: nil)
        try store.update { file in
            Self.prune(&file, now: now)
            file.tokens.append(entry)
        }
        return Self.format(secret)
    }

    /// Uses a token: checks it, marks it used (it never works again) and
    /// returns the start of the gateway's ``PairingRecord`` (without its
    /// certificate fingerprint, which the caller fills in after issuing).
    ///
    /// A `presentedName` other than the token's gateway name is refused
    /// without using the token up.
    public func redeem(token: String, presentedName: String, from addresses: [String] = [], now: Date = Date()) throws -> PairingRecord {
        guard let secret = Self.parse(token) else {
            throw PairingError(.malformedToken, "not a pairing token: expected 32 letters and digits (2-7), as printed when it was made")
        }
        let hash = Self.digest(secret)
        return try store.update { file in
            guard let index = file.tokens.firstIndex(where: { $0.sha256 == hash }) else {
                throw PairingError(.unknownToken, "unknown pairing token: check it for typos, or make a new one on the manager")
            }
            let entry = file.tokens[index]
            if let usedAt = entry.usedAt {
                throw PairingError(.usedToken,
                    "pairing token already used at \(CPQVerifyFailure.format(usedAt)); each token pairs one gateway once: make a new one on the manager")
            }
            guard now < entry.expiresAt else {
                throw PairingError(.expiredToken,
                    "pairing token expired at \(CPQVerifyFailure.format(entry.expiresAt)); make a new one on the manager")
            }
            guard GatewayName.same(entry.gatewayName, presentedName) else {
                throw PairingError(.nameMismatch,
                    "this pairing token is for gateway \"\(entry.gatewayName)\", not \"\(presentedName)\"; join with that name, or make a token for \"\(presentedName)\"")
            }
            file.tokens[index].usedAt = now
            file.tokens[index].usedFrom = addresses
            Self.prune(&file, now: now)
            return PairingRecord(gatewayName: entry.gatewayName, addresses: addresses, pairedAt: now)
        }
    }

    /// Uses the token that `proof` was made with (``CPQJoinProof/gatewayProof(key:gatewayName:managerFingerprint:)``,
    /// over `managerFingerprint`, the certificate this manager showed): checks it against
    /// every pending token for `presentedName`, marks the one that matches used, and
    /// returns the record and that token's proof key (for the manager's answer). A proof
    /// that matches nothing uses nothing up.
    public func redeem(proof: String, presentedName: String, managerFingerprint: CPQFingerprint, from addresses: [String] = [],
                       now: Date = Date()) throws -> (record: PairingRecord, key: SymmetricKey) {
        try store.update { file in
            let candidates = file.tokens.indices.filter { GatewayName.same(file.tokens[$0].gatewayName, presentedName) }
            for index in candidates {
                let entry = file.tokens[index]
                guard let key = CPQJoinProof.key(sha256Hex: entry.sha256),
                      CPQJoinProof.matches(CPQJoinProof.gatewayProof(key: key, gatewayName: presentedName, managerFingerprint: managerFingerprint), proof)
                else { continue }
                if let usedAt = entry.usedAt {
                    throw PairingError(.usedToken,
                        "pairing token already used at \(CPQVerifyFailure.format(usedAt)); each token pairs one gateway once: make a new one on the manager")
                }
                guard now < entry.expiresAt else {
                    throw PairingError(.expiredToken,
                        "pairing token expired at \(CPQVerifyFailure.format(entry.expiresAt)); make a new one on the manager")
                }
                file.tokens[index].usedAt = now
                file.tokens[index].usedFrom = addresses
                Self.prune(&file, now: now)
                return (PairingRecord(gatewayName: entry.gatewayName, addresses: addresses, pairedAt: now), key)
            }
            throw PairingError(.unknownToken,
                "no pairing token for gateway \"\(presentedName)\" matches: check the token and the name (lazaret manager pair --name \(presentedName)), and that you reach this manager directly (a proof made through another TLS endpoint never matches)")
        }
    }

    /// Tokens not yet used nor expired.
    public func pending(now: Date = Date()) throws -> [Summary] {
        try store.read().tokens.filter { $0.usedAt == nil && $0.expiresAt > now }.map {
            Summary(gatewayName: $0.gatewayName, createdAt: $0.createdAt, expiresAt: $0.expiresAt, usedAt: $0.usedAt)
        }
    }

    /// Withdraws the unused tokens of `gatewayName`; returns how many.
    @discardableResult
    public func revoke(gatewayName: String, now: Date = Date()) throws -> Int {
        try store.update { file in
            let before = file.tokens.count
            file.tokens.removeAll { $0.usedAt == nil && GatewayName.same($0.gatewayName, gatewayName) }
            return before - file.tokens.count
        }
    }

    // MARK: - Token text

    static func format(_ secret: [UInt8]) -> String {
        let text = Array(Base32.encode(secret))
        return stride(from: 0, to: text.count, by: 4).map { String(text[$0..<min($0 + 4, text.count)]) }.joined(separator: "-")
    }

    static func parse(_ token: String) -> [UInt8]? {
        let compact = token.filter { $0 != "-" && !$0.isWhitespace }
        guard compact.count == (tokenBytes * 8 + 4) / 5, let secret = Base32.decode(compact), secret.count == tokenBytes else {
            return nil
        }
        return secret
    }

    static func digest(_ secret: [UInt8]) -> String {
        SHA256.hash(data: secret).map { hexByte($0) }.joined()
    }

    static func prune(_ file: inout File, now: Date) {
        file.tokens.removeAll { entry in
            let end = entry.usedAt ?? entry.expiresAt
            return now.timeIntervalSince(max(end, entry.expiresAt)) > retention
        }
    }
}
