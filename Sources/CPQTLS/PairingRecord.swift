import Foundation

/// A gateway paired with the manager: who it is, where it joined from, the
/// certificate it was issued, and where its `cpq_listener` is (learnt later,
/// over SSH, when a release is first needed).
public struct PairingRecord: Hashable, Sendable, Codable {
    /// Where a gateway's `cpq_listener` accepts releases.
    public struct Listener: Hashable, Sendable, Codable {
        public var host: String
        public var port: Int

        public init(host: String, port: Int = CPQDefaults.port) {
            self.host = host
            self.port = port
        }
    }

    /// Where the gateway's admin SSH server answers and the host key pinned at pairing
    /// (the manager asks it, over SSH, where its cpq_listener is before releasing).
    public struct SSHEndpoint: Hashable, Sendable, Codable {
        public var host: String
        public var port: Int
        /// The gateway's SSH host key as an OpenSSH public key line, `ssh-ed25519 AAAA...`.
        public var hostKey: String

        public init(host: String, port: Int, hostKey: String) {
            self.host = host
            self.port = port
            self.hostKey = hostKey
        }
    }

    /// The gateway's name: the CN of its certificate.
    public var gatewayName: String
    /// The addresses it joined from.
    public var addresses: [String]
    /// SHA-256 of the DER of the certificate issued to it; nil only between
    /// redeeming the token and issuing the certificate.
    public var certificateFingerprint: CPQFingerprint?
    /// Its `cpq_listener` when set by hand (`lazaret manager pair --cpq-listener`, or a
    /// gateway that joined without SSH); when nil the manager asks the gateway over ``ssh``.
    public var cpqListener: Listener?
    /// Its admin SSH server and pinned host key, when it told them at join.
    public var ssh: SSHEndpoint?
    public var pairedAt: Date

    public init(gatewayName: String, addresses: [String] = [], certificateFingerprint: CPQFingerprint? = nil,
                cpqListener: Listener? = nil, ssh: SSHEndpoint? = nil, pairedAt: Date) {
        self.gatewayName = gatewayName
        self.addresses = addresses
        self.certificateFingerprint = certificateFingerprint
        self.cpqListener = cpqListener
        self.ssh = ssh
        self.pairedAt = pairedAt
    }
}

/// Gateway names: what the token was made for, the CN of the gateway's
/// certificate, the key of the registry.
public enum GatewayName {
    /// 1...64 letters, digits, `.`, `-`, `_`, starting with a letter or digit.
    public static func check(_ name: String) throws {
        let valid = (1...CertificateNames.maximumCommonNameLength).contains(name.utf8.count)
            && name.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                    || c == UInt8(ascii: ".") || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
            }
            && name.first.map { $0.isLetter || $0.isNumber } == true
        guard valid else {
            throw CPQTLSError(.invalidName,
                "\"\(name)\" is not a gateway name: use 1 to 64 letters, digits, dots, hyphens or underscores, starting with a letter or digit")
        }
    }

    /// Names compare without regard to case, as host names do.
    static func same(_ a: String, _ b: String) -> Bool { a.lowercased() == b.lowercased() }
}
