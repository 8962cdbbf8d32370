import Foundation
import NIOSSL
import X509

/// A certificate chain with its private key: what a gateway or the manager
/// presents in a CPQ TLS handshake. The chain starts with the leaf; a CPQ CA
/// issues leaves directly, so it usually holds only the leaf.
public struct CPQIdentity: Hashable, Sendable, CustomStringConvertible {
    /// Leaf first.
    public let certificateChain: [Certificate]
    public let privateKey: Certificate.PrivateKey

    /// Pairs a chain with its key; throws when the key is not the leaf's.
    public init(certificateChain: [Certificate], privateKey: Certificate.PrivateKey) throws {
        guard let leaf = certificateChain.first else {
            throw CPQTLSError(.invalidCertificate, "an identity needs at least one certificate")
        }
        guard leaf.publicKey == privateKey.publicKey else {
            throw CPQTLSError(.invalidPrivateKey, "the private key does not belong to the certificate for \(leaf.subject); use the key file written with it")
        }
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.fingerprint = try CPQFingerprint(leaf)
    }

    /// Reads PEM text: one or more certificates (leaf first) and a private key
    /// (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`).
    public init(certificatePEM: String, privateKeyPEM: String) throws {
        let chain = try CPQIdentity.certificates(fromPEM: certificatePEM)
        let key: Certificate.PrivateKey
        do {
            key = try Certificate.PrivateKey(pemEncoded: privateKeyPEM)
        } catch {
            throw CPQTLSError(.invalidPrivateKey, "cannot read the private key: \(error)")
        }
        try self.init(certificateChain: chain, privateKey: key)
    }

    /// Reads an identity from a certificate file and a key file.
    public static func load(certificatePath: String, keyPath: String) throws -> CPQIdentity {
        guard let certificateBytes = try SecureFile.read(certificatePath) else {
            throw CPQTLSError(.fileSystem, "\(certificatePath) does not exist")
        }
        guard let keyBytes = try SecureFile.read(keyPath) else {
            throw CPQTLSError(.fileSystem, "\(keyPath) does not exist")
        }
        do {
            return try CPQIdentity(certificatePEM: String(decoding: certificateBytes, as: UTF8.self),
                                   privateKeyPEM: String(decoding: keyBytes, as: UTF8.self))
        } catch let error as CPQTLSError {
            throw CPQTLSError(error.code, "\(certificatePath), \(keyPath): \(error.message)")
        }
    }

    /// The leaf certificate.
    public var certificate: Certificate { certificateChain[0] }

    /// SHA-256 of the leaf's DER encoding.
    public let fingerprint: CPQFingerprint

    /// The leaf's subject common name.
    public var commonName: String? { certificate.commonName }

    /// The chain as PEM, leaf first.
    public func certificatePEM() throws -> String {
        try certificateChain.map { try $0.serializeAsPEM().pemString + "\n" }.joined()
    }

    /// The private key as PEM (PKCS#8 for P-256 keys).
    public func privateKeyPEM() throws -> String {
        try privateKey.serializeAsPEM().pemString + "\n"
    }

    /// Writes the chain (mode 0644) and the key (mode 0600), each atomically.
    public func write(certificatePath: String, keyPath: String) throws {
        try SecureFile.write(privateKeyPEM(), to: keyPath, mode: SecureFile.privateMode)
        try SecureFile.write(certificatePEM(), to: certificatePath, mode: SecureFile.publicMode)
    }

    /// Never shows the key.
    public var description: String {
        "CPQIdentity(\(commonName ?? "\(certificate.subject)"), sha256 \(fingerprint), key redacted)"
    }

    // MARK: - NIOSSL

    func nioCertificateChain() throws -> [NIOSSLCertificateSource] {
        try certificateChain.map { .certificate(try NIOSSLCertificate(bytes: $0.derBytes, format: .der)) }
    }

    func nioPrivateKey() throws -> NIOSSLPrivateKeySource {
        .privateKey(try NIOSSLPrivateKey(bytes: Array(privateKeyPEM().utf8), format: .pem))
    }

    /// Every certificate in `pem`, in order; throws when there is none or one is unreadable.
    public static func certificates(fromPEM pem: String) throws -> [Certificate] {
        var certificates: [Certificate] = []
        let begin = "-----BEGIN CERTIFICATE-----"
        let end = "-----END CERTIFICATE-----"
        var rest = Substring(pem)
        while let start = rest.range(of: begin) {
            guard let stop = rest.range(of: end, range: start.upperBound..<rest.endIndex) else {
                throw CPQTLSError(.invalidCertificate, "a PEM certificate is cut off (no \(end))")
            }
            let block = String(rest[start.lowerBound..<stop.upperBound])
            do {
                certificates.append(try Certificate(pemEncoded: block))
            } catch {
                throw CPQTLSError(.invalidCertificate, "cannot read certificate \(certificates.count + 1): \(error)")
            }
            rest = rest[stop.upperBound...]
        }
        guard !certificates.isEmpty else {
            throw CPQTLSError(.invalidCertificate, "no PEM certificate (-----BEGIN CERTIFICATE-----) found")
        }
        return certificates
    }
}
