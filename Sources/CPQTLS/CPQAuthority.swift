import Crypto
import Foundation
import X509

/// Named defaults of the CPQ CA.
public enum CPQDefaults {
    /// Lifetime of the CA certificate: 10 years.
    public static let authorityValidity: TimeInterval = 3_652 * 86_400
    /// Default lifetime of an issued certificate: 5 years (never past the CA's end).
    public static let leafValidity: TimeInterval = 1_826 * 86_400
    /// Issued certificates start this long before "now", for peers whose clocks are behind.
    public static let clockSkewAllowance: TimeInterval = 3_600
    /// The CPQ port.
    public static let port = 7025
}

/// The private certificate authority of one manager and the gateways paired
/// with it. Made on the manager's first start in its directory, loaded on
/// later starts; it issues the certificates both sides present in CPQ TLS.
///
/// Files in `directory` (the directory itself mode 0700):
///
/// | file | what | mode |
/// | --- | --- | --- |
/// | `ca.pem`, `ca.key` | the CA certificate and key | 0644, 0600 |
/// | `manager.pem`, `manager.key` | the manager's own identity (server and client) | 0644, 0600 |
/// | `pairing-tokens.json` | ``PairingTokens`` | 0600 |
/// | `paired-gateways.json` | ``PairedGateways`` | 0600 |
/// | `.lock` | serialises first start, issuing and pairing between processes | 0600 |
public struct CPQAuthority: Sendable, CustomStringConvertible {
    public static let certificateFile = "ca.pem"
    public static let keyFile = "ca.key"
    public static let managerCertificateFile = "manager.pem"
    public static let managerKeyFile = "manager.key"
    public static let pairingTokensFile = "pairing-tokens.json"
    public static let pairedGatewaysFile = "paired-gateways.json"
    static let lockFile = ".lock"

    /// The directory holding the CA's files.
    public let directory: String
    /// The CA certificate: what every peer trusts, and all it trusts.
    public let certificate: Certificate
    private let privateKey: Certificate.PrivateKey
    /// The manager's own certificate and key, issued by this CA.
    public let managerIdentity: CPQIdentity

    /// Loads the CA from `directory`, or creates it there (with the manager's
    /// identity for `managerHostname`, SANs `managerHostname` and 127.0.0.1,
    /// plus `managerAddresses`) when the directory holds no CA yet. A missing
    /// manager identity is issued again; an existing one is kept as it is,
    /// because gateways pin its fingerprint.
    public static func loadOrCreate(directory: String, managerHostname: String = CPQAuthority.localHostname(),
                                    managerAddresses: [String] = [], now: Date = Date()) throws -> CPQAuthority {
        try SecureFile.createPrivateDirectory(directory)
        return try FileLock.withLock(path(directory, lockFile)) {
            let certificatePath = path(directory, certificateFile)
            let keyPath = path(directory, keyFile)
            let certificateBytes = try SecureFile.read(certificatePath)
            let keyBytes = try SecureFile.read(keyPath)

            let certificate: Certificate
            let privateKey: Certificate.PrivateKey
            switch (certificateBytes, keyBytes) {
            case (let certificateBytes?, let keyBytes?):
                (certificate, privateKey) = try loadAuthority(certificate: certificateBytes, key: keyBytes,
                                                              certificatePath: certificatePath, keyPath: keyPath)
            case (.some, nil):
                throw CPQTLSError(.incompleteAuthority,
                    "\(certificatePath) exists but \(keyPath) does not: restore ca.key from a backup, or remove the directory's "
                    + "CA files to create a new CPQ CA (then every gateway must pair again)")
            case (nil, _):
                // No CA yet (a key without its certificate is a first start that
                // stopped half way: nothing was issued with it).
                (certificate, privateKey) = try makeAuthority(now: now)
                try SecureFile.write(privateKey.serializeAsPEM().pemString + "\n", to: keyPath, mode: SecureFile.privateMode)
                try SecureFile.write(certificate.serializeAsPEM().pemString + "\n", to: certificatePath, mode: SecureFile.publicMode)
            }

            let managerCertificatePath = path(directory, managerCertificateFile)
            let managerKeyPath = path(directory, managerKeyFile)
            let manager: CPQIdentity
            if FileManager.default.fileExists(atPath: managerCertificatePath) && FileManager.default.fileExists(atPath: managerKeyPath) {
                manager = try CPQIdentity.load(certificatePath: managerCertificatePath, keyPath: managerKeyPath)
                guard manager.certificate.issuer == certificate.subject,
                      certificate.publicKey.isValidSignature(manager.certificate.signature, for: manager.certificate) else {
                    throw CPQTLSError(.invalidCertificate,
                        "\(managerCertificatePath) was not issued by the CPQ CA in \(certificatePath); remove manager.pem and "
                        + "manager.key to issue a new one (gateways then need to pair again, as they pin it)")
                }
            } else {
                var addresses = ["127.0.0.1"]
                for address in managerAddresses where !addresses.contains(address) { addresses.append(address) }
                manager = try issue(by: certificate, key: privateKey, commonName: managerHostname,
                                    dnsNames: CertificateNames.isHostName(managerHostname) ? [managerHostname] : [],
                                    ipAddresses: addresses, usage: .both,
                                    validity: certificate.notValidAfter.timeIntervalSince(now), now: now)
                try manager.write(certificatePath: managerCertificatePath, keyPath: managerKeyPath)
            }
            return try CPQAuthority(directory: directory, certificate: certificate, privateKey: privateKey, managerIdentity: manager)
        }
    }

    private init(directory: String, certificate: Certificate, privateKey: Certificate.PrivateKey, managerIdentity: CPQIdentity) throws {
        self.fingerprint = try CPQFingerprint(certificate)
        self.directory = directory
        self.certificate = certificate
        self.privateKey = privateKey
        self.managerIdentity = managerIdentity
    }

    /// SHA-256 of the CA certificate's DER.
    public let fingerprint: CPQFingerprint

    /// Never shows the key.
    public var description: String {
        "CPQAuthority(\(certificate.commonName ?? "\(certificate.subject)"), sha256 \(fingerprint), \(directory))"
    }

    /// The CA certificate as PEM.
    public func certificatePEM() throws -> String { try certificate.serializeAsPEM().pemString + "\n" }

    /// The verifier of peers against this CA.
    public var verifier: CPQCertificateVerifier { CPQCertificateVerifier(authority: certificate) }

    /// The pairing tokens kept in this directory.
    public var pairingTokens: PairingTokens { PairingTokens(path: Self.path(directory, Self.pairingTokensFile)) }

    /// The registry of paired gateways kept in this directory.
    public var pairedGateways: PairedGateways { PairedGateways(path: Self.path(directory, Self.pairedGatewaysFile)) }

    /// Issues a leaf certificate and a new P-256 key. The certificate ends at
    /// `now + validity` or at the CA's end, whichever comes first.
    ///
    /// - Parameters:
    ///   - commonName: the subject CN (a gateway's name, the manager's host name).
    ///   - dnsNames: `dNSName` SANs.
    ///   - ipAddresses: `iPAddress` SANs (IPv4 or IPv6 literals).
    ///   - usage: extendedKeyUsage: `serverAuth`, `clientAuth` or both.
    public func issue(commonName: String, dnsNames: [String] = [], ipAddresses: [String] = [],
                      usage: CPQCertificateUsage, validity: TimeInterval = CPQDefaults.leafValidity,
                      now: Date = Date()) throws -> CPQIdentity {
        try Self.issue(by: certificate, key: privateKey, commonName: commonName, dnsNames: dnsNames,
                       ipAddresses: ipAddresses, usage: usage, validity: validity, now: now)
    }

    /// Verifies a certificate against this CA for `usage`; nil when it passes.
    public func verify(_ leaf: Certificate, as usage: CPQCertificateUsage) async -> CPQVerifyFailure? {
        if case .failure(let failure) = await verifier.verify(leaf, as: usage) { return failure }
        return nil
    }

    /// This host's name, for the manager's certificate.
    public static func localHostname() -> String {
        let name = ProcessInfo.processInfo.hostName
        return name.isEmpty ? "localhost" : name
    }

    // MARK: - Making and reading

    static func path(_ directory: String, _ file: String) -> String {
        (directory as NSString).appendingPathComponent(file)
    }

    static func makeAuthority(now: Date) throws -> (Certificate, Certificate.PrivateKey) {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let suffix = (0..<4).map { _ in hexByte(UInt8.random(in: 0 ... 255)) }.joined()
        let name = try DistinguishedName {
            CommonName("Lazaret CPQ CA \(suffix)")
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-CPQDefaults.clockSkewAllowance),
            notValidAfter: now.addingTimeInterval(CPQDefaults.authorityValidity),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: key.publicKey)
            },
            issuerPrivateKey: key)
        return (certificate, key)
    }

    static func issue(by authority: Certificate, key authorityKey: Certificate.PrivateKey, commonName: String,
                      dnsNames: [String], ipAddresses: [String], usage: CPQCertificateUsage,
                      validity: TimeInterval, now: Date) throws -> CPQIdentity {
        try CertificateNames.checkCommonName(commonName)
        let alternativeNames = try CertificateNames.generalNames(dnsNames: dnsNames, ipAddresses: ipAddresses)
        guard validity > 0 else {
            throw CPQTLSError(.invalidConfiguration, "a certificate's validity must be positive (got \(validity) seconds)")
        }
        let notValidAfter = min(now.addingTimeInterval(validity), authority.notValidAfter)
        guard notValidAfter > now else {
            throw CPQTLSError(.invalidCertificate,
                "the CPQ CA certificate expired on \(CPQVerifyFailure.format(authority.notValidAfter)); it cannot issue certificates")
        }
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let subject = try DistinguishedName {
            CommonName(commonName)
        }
        let authorityKeyID = try? authority.extensions.subjectKeyIdentifier
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: key.publicKey,
            notValidBefore: max(now.addingTimeInterval(-CPQDefaults.clockSkewAllowance), authority.notValidBefore),
            notValidAfter: notValidAfter,
            issuer: authority.subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage(usage.extendedKeyUsages)
                if !alternativeNames.isEmpty {
                    SubjectAlternativeNames(alternativeNames)
                }
                SubjectKeyIdentifier(hash: key.publicKey)
                if let keyIdentifier = authorityKeyID?.keyIdentifier {
                    AuthorityKeyIdentifier(keyIdentifier: keyIdentifier)
                }
            },
            issuerPrivateKey: authorityKey)
        return try CPQIdentity(certificateChain: [certificate], privateKey: key)
    }

    static func loadAuthority(certificate certificateBytes: [UInt8], key keyBytes: [UInt8],
                              certificatePath: String, keyPath: String) throws -> (Certificate, Certificate.PrivateKey) {
        let certificate: Certificate
        do {
            certificate = try Certificate(pemEncoded: String(decoding: certificateBytes, as: UTF8.self))
        } catch {
            throw CPQTLSError(.invalidCertificate, "cannot read the CPQ CA certificate \(certificatePath): \(error)")
        }
        let key: Certificate.PrivateKey
        do {
            key = try Certificate.PrivateKey(pemEncoded: String(decoding: keyBytes, as: UTF8.self))
        } catch {
            throw CPQTLSError(.invalidPrivateKey, "cannot read the CPQ CA key \(keyPath): \(error)")
        }
        guard key.publicKey == certificate.publicKey else {
            throw CPQTLSError(.invalidPrivateKey, "\(keyPath) is not the key of \(certificatePath); restore the pair from the same backup")
        }
        guard let constraints = try? certificate.extensions.basicConstraints,
              case .isCertificateAuthority = constraints else {
            throw CPQTLSError(.invalidCertificate, "\(certificatePath) is not a CA certificate (basicConstraints CA:TRUE)")
        }
        if let mode = SecureFile.mode(of: keyPath), mode & 0o077 != 0 {
            throw CPQTLSError(.fileSystem,
                "\(keyPath) can be read by other users (mode \(String(mode, radix: 8))); run chmod 600 \(keyPath)")
        }
        return (certificate, key)
    }
}
