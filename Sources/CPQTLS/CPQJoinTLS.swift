import NIOConcurrencyHelpers
import NIOSSL
import X509

/// The TLS of `lazaret gateway join`: the gateway has no certificate and no CA yet, so it
/// shows none and cannot verify the manager; it records the manager's chain, proves the
/// token over that certificate (``CPQJoinProof``), and checks the chain against the CA in
/// the bundle it receives (``checkManager(against:)``). Cipher list and minimum version as
/// configured.
public final class CPQJoinTLS: Sendable {
    public let sslContext: NIOSSLContext
    private let chain = NIOLockedValueBox<[[UInt8]]>([])

    public init(configuration: CPQTLSConfiguration) throws {
        _ = try configuration.validate()
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = configuration.minimumVersion.nio
        tls.cipherSuites = configuration.cipherList
        tls.renegotiationSupport = .none
        // Checked by the callback below and after the answer, not by BoringSSL.
        tls.certificateVerification = .noHostnameVerification
        sslContext = try NIOSSLContext(configuration: tls)
    }

    /// A handler that records the manager's chain and lets the handshake go on.
    public func makeHandler(serverHostname: String?) throws -> NIOSSLClientHandler {
        let sni = serverHostname.flatMap { CertificateNames.isHostName($0) ? $0 : nil }
        let chain = self.chain
        return try NIOSSLClientHandler(context: sslContext, serverHostname: sni, customVerificationCallback: { certificates, promise in
            chain.withLockedValue { $0 = certificates.compactMap { try? $0.toDERBytes() } }
            promise.succeed(.certificateVerified)
        })
    }

    /// SHA-256 of the manager's certificate seen in the handshake; nil before it.
    public var managerFingerprint: CPQFingerprint? {
        chain.withLockedValue { $0.first }.map { CPQFingerprint(der: $0) }
    }

    /// Checks the recorded chain against the CA of the bundle, as a server certificate.
    public func checkManager(against authority: Certificate) async -> CPQVerifyFailure? {
        let der = chain.withLockedValue { $0 }.map { Optional($0) }
        if case .failure(let failure) = await CPQCertificateVerifier(authority: authority).verify(der: der, as: .server) {
            return failure
        }
        return nil
    }
}
