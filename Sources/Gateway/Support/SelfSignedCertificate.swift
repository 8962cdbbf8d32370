import CPQTLS
import Crypto
import Foundation
import X509

/// A certificate and key for a listener's STARTTLS, made on first start when
/// the configuration names files that do not exist yet. Mail servers talking
/// to a gateway do opportunistic TLS and accept a self-signed certificate;
/// replace the files with a certificate from your CA to be verifiable.
public enum SelfSignedCertificate {
    /// Writes `certificatePath` and `keyPath` (PEM, key mode 0600) unless both exist.
    /// Returns true when new files were written.
    @discardableResult
    public static func ensure(certificatePath: String, keyPath: String, hostname: String) throws -> Bool {
        let fm = FileManager.default
        if fm.fileExists(atPath: certificatePath) && fm.fileExists(atPath: keyPath) { return false }
        for path in [certificatePath, keyPath] {
            try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        }
        let key = P256.Signing.PrivateKey()
        let privateKey = Certificate.PrivateKey(key)
        let name = try DistinguishedName {
            CommonName(hostname)
            OrganizationName("Lazaret gateway (self-signed)")
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: privateKey.publicKey,
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(3 * 365 * 86400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                KeyUsage(digitalSignature: true)
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([.dnsName(hostname), .dnsName("localhost")])
            },
            issuerPrivateKey: privateKey)
        // The key file is created with mode 0600 (never readable by others,
        // not even while it is written) and both files are replaced atomically.
        do {
            try SecureFile.write(key.pemRepresentation, to: keyPath, mode: SecureFile.privateMode)
            try SecureFile.write(certificate.serializeAsPEM().pemString + "\n", to: certificatePath, mode: SecureFile.publicMode)
        } catch let error as CPQTLSError {
            throw GatewayError("cannot write the TLS certificate and key: \(error.message)")
        }
        return true
    }
}
