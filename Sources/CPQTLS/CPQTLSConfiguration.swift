import NIOSSL
import X509

/// The lowest TLS version CPQ accepts.
public enum CPQTLSVersion: String, Hashable, Sendable, Codable, CaseIterable {
    case tls12 = "TLSv1.2"
    case tls13 = "TLSv1.3"

    /// Reads `TLSv1.2` / `TLSv1.3` (also `1.2`, `tls1.3`, any case); throws naming `field`.
    public init(parsing text: String, field: String = "minimumVersion") throws {
        let key = text.lowercased().replacingOccurrences(of: "tlsv", with: "").replacingOccurrences(of: "tls", with: "")
        switch key {
        case "1.2": self = .tls12
        case "1.3": self = .tls13
        default:
            throw CPQTLSError(.invalidConfiguration, "\(field): \"\(text)\" is not a TLS version CPQ accepts; use TLSv1.2 or TLSv1.3")
        }
    }

    var nio: TLSVersion { self == .tls12 ? .tlsv12 : .tlsv13 }
}

/// The TLS settings of CPQ connections (both directions, both roles), and the
/// factory of their TLS contexts. Peers are verified against the CPQ CA only
/// (never the system roots) and must present a certificate; host names are
/// not checked, because CPQ peers are addressed by IP: the CA, the
/// certificate's extendedKeyUsage and the pin (or the paired-gateways
/// registry) are what identify them.
public struct CPQTLSConfiguration: Hashable, Sendable {
    /// OpenSSL-syntax default. BoringSSL knows `HIGH` (every non-deprecated
    /// suite) and skips `MEDIUM` and `aNULL`, having no such suites.
    public static let defaultCipherList = "HIGH:MEDIUM:-aNULL"

    /// TLS 1.2 cipher suites, OpenSSL syntax (see ``CPQCipherList``). TLS 1.3
    /// suites are not configurable.
    public var cipherList: String
    /// The lowest protocol version offered or accepted.
    public var minimumVersion: CPQTLSVersion

    public init(cipherList: String = CPQTLSConfiguration.defaultCipherList, minimumVersion: CPQTLSVersion = .tls12) {
        self.cipherList = cipherList
        self.minimumVersion = minimumVersion
    }

    /// Checks the settings; the error message starts with the field name
    /// (`cipherList: ...`). Returns what the cipher list selects.
    @discardableResult
    public func validate() throws -> CPQCipherList {
        let ciphers = try CPQCipherList.evaluate(cipherList, field: "cipherList")
        if minimumVersion == .tls12 && !ciphers.hasECDSASuite {
            throw CPQTLSError(.invalidConfiguration,
                "cipherList: \"\(cipherList)\" selects no ECDHE-ECDSA suite, which TLS 1.2 needs with the ECDSA certificates "
                + "of the CPQ CA; add ECDHE-ECDSA-AES128-GCM-SHA256, use \(Self.defaultCipherList), or set minimumVersion to TLSv1.3")
        }
        return ciphers
    }

    /// The context of a `cpq_listener`: presents `identity`, requires a client
    /// certificate and verifies it against `authority` (the CPQ CA certificate) only.
    ///
    /// - Parameter acceptClient: a further check of a verified client, e.g. the
    ///   manager's `PairedGateways.isPaired(fingerprint:)`, or a gateway's pin of
    ///   the manager's certificate. A refused client fails the handshake with
    ///   ``CPQVerifyFailure/notPaired(commonName:fingerprint:)``. Applied only by
    ///   handlers from ``CPQServerTLS/makeHandler(verification:)``.
    ///
    /// - Parameter allowNoClientCertificate: a client that shows no certificate gets a
    ///   session anyway (one that shows one must pass every check). The manager's
    ///   cpq_listener allows it so that a gateway can `XCPQ JOIN`; such a session takes
    ///   nothing else (``CPQServerSession``).
    public func makeServerContext(identity: CPQIdentity, authority: Certificate,
                                  acceptClient: (@Sendable (CPQPeerCertificate) -> Bool)? = nil,
                                  allowNoClientCertificate: Bool = false) throws -> CPQServerTLS {
        try validate()
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: try identity.nioCertificateChain(),
                                                          privateKey: try identity.nioPrivateKey())
        try apply(to: &tls, authority: authority)
        if allowNoClientCertificate { tls.certificateVerification = .optionalVerification }
        return CPQServerTLS(sslContext: try makeContext(tls, role: "server"),
                            verifier: CPQCertificateVerifier(authority: authority), acceptClient: acceptClient)
    }

    /// The context for connecting to a peer's `cpq_listener`: presents
    /// `identity` and verifies the server against `trustRoot` (the CPQ CA
    /// certificate) only, and, when given, that the server's certificate has
    /// the SHA-256 fingerprint `pinnedServerFingerprint` (a gateway pins the
    /// manager's certificate it got in its join bundle). The pin is checked by
    /// handlers from ``CPQClientTLS/makeHandler(serverHostname:verification:)``.
    public func makeClientContext(identity: CPQIdentity, trustRoot: Certificate,
                                  pinnedServerFingerprint: CPQFingerprint? = nil) throws -> CPQClientTLS {
        try validate()
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateChain = try identity.nioCertificateChain()
        tls.privateKey = try identity.nioPrivateKey()
        try apply(to: &tls, authority: trustRoot)
        return CPQClientTLS(sslContext: try makeContext(tls, role: "client"),
                            verifier: CPQCertificateVerifier(authority: trustRoot),
                            pinnedServerFingerprint: pinnedServerFingerprint)
    }

    private func apply(to tls: inout TLSConfiguration, authority: Certificate) throws {
        tls.minimumTLSVersion = minimumVersion.nio
        tls.maximumTLSVersion = nil
        tls.cipherSuites = cipherList
        // Require and verify the peer's certificate, without matching host names.
        tls.certificateVerification = .noHostnameVerification
        tls.trustRoots = .certificates([try NIOSSLCertificate(bytes: authority.derBytes, format: .der)])
        tls.additionalTrustRoots = []
        tls.renegotiationSupport = .none
    }

    private func makeContext(_ tls: TLSConfiguration, role: String) throws -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw CPQTLSError(.invalidConfiguration, "cannot make the CPQ TLS \(role) context: \(error)")
        }
    }
}
