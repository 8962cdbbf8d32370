import Foundation
import X509

/// What a gateway gets when it joins: its certificate and key, the CA
/// certificate to trust, and the manager certificate's fingerprint to pin.
/// Travels as one line of text, `cpq-join-v1:` and base64 of JSON, so it can
/// go in an SMTP reply (split over several reply lines: whitespace is ignored
/// when reading) or an HTTP body.
///
/// It holds a private key: send it only over an encrypted connection, and
/// never log it (``description`` leaves the key out).
public struct CPQJoinBundle: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The version this code writes and reads.
    public static let version = 1
    /// Text before the base64.
    public static let prefix = "cpq-join-v\(version):"
    /// Largest encoded bundle read (a real one is about 3 KB).
    public static let maximumEncodedSize = 64 * 1024

    public var gatewayName: String
    /// The gateway's certificate (client and server), PEM.
    public var certificatePEM: String
    /// The gateway's private key, PEM.
    public var privateKeyPEM: String
    /// The CPQ CA certificate, PEM.
    public var caCertificatePEM: String
    /// SHA-256 of the manager's certificate, for ``CPQTLSConfiguration/makeClientContext(identity:trustRoot:pinnedServerFingerprint:)``.
    public var managerFingerprint: CPQFingerprint
    /// The manager's SSH client key (an OpenSSH public key line), which the gateway's SSH
    /// server lets in as the read-only user `lazaret-manager`; nil from managers without SSH.
    public var managerSSHKey: String?

    public init(gatewayName: String, certificatePEM: String, privateKeyPEM: String, caCertificatePEM: String,
                managerFingerprint: CPQFingerprint, managerSSHKey: String? = nil) {
        self.gatewayName = gatewayName
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
        self.caCertificatePEM = caCertificatePEM
        self.managerFingerprint = managerFingerprint
        self.managerSSHKey = managerSSHKey
    }

    /// The bundle for a gateway identity issued by `authority` (with the manager's SSH
    /// client key when the authority directory holds one).
    public init(gatewayName: String, identity: CPQIdentity, authority: CPQAuthority) throws {
        self.init(gatewayName: gatewayName, certificatePEM: try identity.certificatePEM(),
                  privateKeyPEM: try identity.privateKeyPEM(), caCertificatePEM: try authority.certificatePEM(),
                  managerFingerprint: authority.managerIdentity.fingerprint, managerSSHKey: authority.managerSSHKey)
    }

    /// The file in a gateway's CPQ directory (and the manager's authority directory) that
    /// holds the manager's SSH client key.
    public static let managerSSHKeyFile = "manager-ssh.pub"

    /// `cpq-join-v1:` followed by base64 (no line breaks).
    public func encoded() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = Self.prefix + (try encoder.encode(self)).base64EncodedString()
        guard text.utf8.count <= Self.maximumEncodedSize else {
            throw CPQTLSError(.invalidBundle, "the join bundle would be \(text.utf8.count) bytes, more than \(Self.maximumEncodedSize)")
        }
        return text
    }

    /// Reads an encoded bundle (whitespace anywhere is ignored) and checks it:
    /// the key belongs to the certificate, which the CA in the bundle issued.
    public init(decoding text: String) throws {
        guard text.utf8.count <= Self.maximumEncodedSize * 2 else {
            throw CPQTLSError(.invalidBundle, "the join bundle is \(text.utf8.count) bytes, more than \(Self.maximumEncodedSize) allowed")
        }
        let compact = String(text.unicodeScalars.filter { !$0.properties.isWhitespace })
        guard compact.utf8.count <= Self.maximumEncodedSize else {
            throw CPQTLSError(.invalidBundle, "the join bundle is \(compact.utf8.count) bytes, more than \(Self.maximumEncodedSize) allowed")
        }
        guard compact.hasPrefix("cpq-join-v") else {
            throw CPQTLSError(.invalidBundle, "not a CPQ join bundle: it must start with \(Self.prefix); copy all of it")
        }
        guard compact.hasPrefix(Self.prefix) else {
            let version = compact.dropFirst("cpq-join-v".count).prefix { $0 != ":" }
            throw CPQTLSError(.invalidBundle, "join bundle version \(version) is not one this Lazaret reads (\(Self.version)); run the same version on the gateway and the manager")
        }
        guard let json = Data(base64Encoded: String(compact.dropFirst(Self.prefix.count))) else {
            throw CPQTLSError(.invalidBundle, "the join bundle is damaged (not base64); copy all of it again")
        }
        do {
            self = try JSONDecoder().decode(CPQJoinBundle.self, from: json)
        } catch {
            throw CPQTLSError(.invalidBundle, "the join bundle is damaged (\(error)); copy all of it again")
        }
        try validate()
    }

    /// The gateway's identity.
    public func identity() throws -> CPQIdentity {
        try CPQIdentity(certificatePEM: certificatePEM, privateKeyPEM: privateKeyPEM)
    }

    /// The CA certificate.
    public func caCertificate() throws -> Certificate {
        guard let certificate = try CPQIdentity.certificates(fromPEM: caCertificatePEM).first else {
            throw CPQTLSError(.invalidBundle, "the join bundle has no CA certificate")
        }
        return certificate
    }

    /// Checks that the parts fit together.
    public func validate() throws {
        do {
            let identity = try identity()
            let authority = try caCertificate()
            guard identity.certificate.issuer == authority.subject,
                  authority.publicKey.isValidSignature(identity.certificate.signature, for: identity.certificate) else {
                throw CPQTLSError(.invalidBundle, "the gateway certificate in the join bundle was not issued by its CA")
            }
            guard let name = identity.commonName, GatewayName.same(name, gatewayName) else {
                throw CPQTLSError(.invalidBundle, "the certificate in the join bundle is not for gateway \"\(gatewayName)\"")
            }
        } catch let error as CPQTLSError where error.code != .invalidBundle {
            throw CPQTLSError(.invalidBundle, "the join bundle is damaged: \(error.message)")
        }
    }

    /// Writes the gateway's files into `directory`: `gateway.pem` (0644),
    /// `gateway.key` (0600), `ca.pem` (0644), `manager.sha256` (0644) and, when the
    /// manager has one, `manager-ssh.pub` (0644).
    public func write(to directory: String) throws {
        try SecureFile.createPrivateDirectory(directory)
        try identity().write(certificatePath: CPQAuthority.path(directory, "gateway.pem"),
                             keyPath: CPQAuthority.path(directory, "gateway.key"))
        try SecureFile.write(caCertificatePEM, to: CPQAuthority.path(directory, CPQAuthority.certificateFile), mode: SecureFile.publicMode)
        try SecureFile.write(managerFingerprint.hex + "\n", to: CPQAuthority.path(directory, "manager.sha256"), mode: SecureFile.publicMode)
        if let managerSSHKey { try Self.writeManagerSSHKey(managerSSHKey, to: directory) }
    }

    /// Writes the manager's SSH client key line as `manager-ssh.pub` (0644) in `directory`.
    public static func writeManagerSSHKey(_ line: String, to directory: String) throws {
        try SecureFile.write(line + "\n", to: CPQAuthority.path(directory, managerSSHKeyFile), mode: SecureFile.publicMode)
    }

    /// Reads back what `write(to:)` wrote, and checks it as `init(decoding:)` does.
    /// - Throws: `CPQTLSError` naming the missing or damaged file; a gateway that has not
    ///   joined yet has no such directory (run `lazaret gateway join`).
    public static func read(from directory: String) throws -> CPQJoinBundle {
        func text(_ name: String) throws -> String {
            let path = CPQAuthority.path(directory, name)
            do {
                return try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw CPQTLSError(.invalidBundle, "\(path) cannot be read: this gateway has not joined a manager (run lazaret gateway join)")
            }
        }
        let identity = try CPQIdentity(certificatePEM: try text("gateway.pem"), privateKeyPEM: try text("gateway.key"))
        let pin = try text("manager.sha256").trimmingCharacters(in: .whitespacesAndNewlines)
        guard let fingerprint = CPQFingerprint(hex: pin) else {
            throw CPQTLSError(.invalidBundle, "\(CPQAuthority.path(directory, "manager.sha256")) does not hold a SHA-256 fingerprint")
        }
        let bundle = CPQJoinBundle(gatewayName: identity.commonName ?? "", certificatePEM: try identity.certificatePEM(),
                                   privateKeyPEM: try identity.privateKeyPEM(),
                                   caCertificatePEM: try text(CPQAuthority.certificateFile), managerFingerprint: fingerprint,
                                   managerSSHKey: Self.readManagerSSHKey(directory: directory))
        try bundle.validate()
        return bundle
    }

    /// The manager's SSH client key from `manager-ssh.pub` in `directory`, if any.
    public static func readManagerSSHKey(directory: String) -> String? {
        guard let text = try? String(contentsOfFile: CPQAuthority.path(directory, managerSSHKeyFile), encoding: .utf8) else { return nil }
        let line = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return line.isEmpty ? nil : line
    }

    /// Never shows the key.
    public var description: String {
        "CPQJoinBundle(gateway \(gatewayName), manager sha256 \(managerFingerprint), key redacted)"
    }
}

extension CPQAuthority {
    /// The manager's SSH client key (`manager-ssh.pub` in the authority directory, an
    /// OpenSSH public key line) that join bundles carry to gateways; nil when the manager
    /// has not made one.
    public var managerSSHKey: String? { CPQJoinBundle.readManagerSSHKey(directory: directory) }

    /// Records the manager's SSH client key for the join bundles made from now on.
    public func setManagerSSHKey(_ line: String) throws {
        try CPQJoinBundle.writeManagerSSHKey(line, to: directory)
    }
}
