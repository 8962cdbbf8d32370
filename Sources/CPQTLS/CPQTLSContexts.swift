import NIOCore
import NIOSSL

/// A `cpq_listener`'s TLS: the NIOSSL context and the CPQ verification that
/// its handlers run.
///
/// Use ``makeHandler(verification:)`` for each accepted connection (after the
/// `220` to STARTTLS): it verifies the client against the CPQ CA, checks its
/// extendedKeyUsage and `acceptClient`, and records why a client was refused.
/// ``sslContext`` alone, given to code that makes a plain
/// `NIOSSLServerHandler(context:)`, still requires a client certificate from
/// the CPQ CA (BoringSSL's own verification) but applies no `acceptClient`
/// and records no reasons.
public struct CPQServerTLS: Sendable {
    public let sslContext: NIOSSLContext
    public let verifier: CPQCertificateVerifier
    public let acceptClient: (@Sendable (CPQPeerCertificate) -> Bool)?

    /// A server TLS handler for one connection. Pass a fresh `verification`
    /// to learn the client's certificate or why it was refused.
    public func makeHandler(verification: CPQPeerVerification? = nil) -> NIOSSLServerHandler {
        NIOSSLServerHandler(context: sslContext,
                            customVerificationCallback: CPQPeerVerification.callback(verifyClient, recordingIn: verification))
    }

    /// The whole check of a client's chain (DER, leaf first).
    @Sendable
    func verifyClient(_ der: [[UInt8]?]) async -> Result<CPQPeerCertificate, CPQVerifyFailure> {
        let result = await verifier.verify(der: der, as: .client)
        guard case .success(let peer) = result, let acceptClient else { return result }
        return acceptClient(peer) ? result : .failure(.notPaired(commonName: peer.commonName, fingerprint: peer.fingerprint))
    }
}

/// The TLS for connecting to a `cpq_listener`: the NIOSSL context and the CPQ
/// verification (CA, extendedKeyUsage, pin) that its handlers run.
///
/// ``sslContext`` alone, given to code that makes a plain
/// `NIOSSLClientHandler(context:serverHostname:)`, still verifies the server
/// against the CPQ CA (BoringSSL's own verification) but does not check the pin.
public struct CPQClientTLS: Sendable {
    public let sslContext: NIOSSLContext
    public let verifier: CPQCertificateVerifier
    public let pinnedServerFingerprint: CPQFingerprint?

    /// A client TLS handler for one connection. `serverHostname` is sent as SNI
    /// when it is a host name (IP addresses are never sent; nothing checks
    /// either). Pass a fresh `verification` to learn the server's certificate
    /// or why it was refused.
    public func makeHandler(serverHostname: String? = nil, verification: CPQPeerVerification? = nil) throws -> NIOSSLClientHandler {
        let sni = serverHostname.flatMap { CertificateNames.isHostName($0) ? $0 : nil }
        return try NIOSSLClientHandler(context: sslContext, serverHostname: sni,
                                       customVerificationCallback: CPQPeerVerification.callback(verifyServer, recordingIn: verification))
    }

    /// The whole check of a server's chain (DER, leaf first).
    @Sendable
    func verifyServer(_ der: [[UInt8]?]) async -> Result<CPQPeerCertificate, CPQVerifyFailure> {
        let result = await verifier.verify(der: der, as: .server)
        guard case .success(let peer) = result, let pinned = pinnedServerFingerprint else { return result }
        return peer.fingerprint == pinned ? result : .failure(.fingerprintMismatch(pinned: pinned, presented: peer.fingerprint))
    }
}
