import Foundation
import X509

/// Our side of a CPQ TLS connection.
public enum CPQTLSRole: String, Hashable, Sendable {
    /// We connected (a DCID in mail_logs): the peer is the server.
    case client
    /// We accepted (an ICID in mail_logs): the peer is the client.
    case server

    /// What the peer is, for messages: "server" or "client".
    public var peer: String { self == .client ? "server" : "client" }
}

/// A peer certificate that passed verification.
public struct CPQPeerCertificate: Hashable, Sendable {
    public var certificate: Certificate
    public var fingerprint: CPQFingerprint
    /// The subject common name: the gateway name for a gateway, the host name for the manager.
    public var commonName: String?
    public var dnsNames: [String]
    public var ipAddresses: [String]
    public var usage: CPQCertificateUsage?

    public init(_ certificate: Certificate) throws {
        self.certificate = certificate
        fingerprint = try CPQFingerprint(certificate)
        commonName = certificate.commonName
        (dnsNames, ipAddresses) = certificate.alternativeNames
        usage = CPQCertificateUsage(certificate)
    }
}

/// Why a peer certificate was refused.
public enum CPQVerifyFailure: Error, Hashable, Sendable, CustomStringConvertible {
    /// The peer sent no certificate.
    case noCertificate
    /// The peer's certificate could not be parsed.
    case unreadableCertificate
    /// The certificate was not issued by this CPQ CA (another CA, or self-signed).
    case notSignedByAuthority
    case expired(notValidAfter: Date)
    case notYetValid(notValidBefore: Date)
    /// A CA certificate was presented as the peer's own.
    case authorityCertificate
    /// The certificate's extendedKeyUsage does not allow this role.
    case wrongUsage(required: CPQCertificateUsage)
    /// The certificate is from the CPQ CA but not the one pinned.
    case fingerprintMismatch(pinned: CPQFingerprint, presented: CPQFingerprint)
    /// The certificate is from the CPQ CA but its holder is not (or no longer) paired.
    case notPaired(commonName: String?, fingerprint: CPQFingerprint)
    /// Any other reason the certificate path validation gave.
    case rejected(String)

    /// The phrase after `verify error: `, with `peer` being "server" or "client".
    public func text(peer: String) -> String {
        switch self {
        case .noCertificate:
            return "no certificate from \(peer)"
        case .unreadableCertificate:
            return "unreadable certificate from \(peer)"
        case .notSignedByAuthority:
            return "certificate not signed by the CPQ CA"
        case .expired(let date):
            return "certificate expired on \(Self.format(date))"
        case .notYetValid(let date):
            return "certificate not valid before \(Self.format(date))"
        case .authorityCertificate:
            return "\(peer) presented a CA certificate, not its own"
        case .wrongUsage(let usage):
            return "certificate not issued for a TLS \(usage == .client ? "client" : "server")"
        case .fingerprintMismatch(let pinned, let presented):
            return "certificate does not match the pinned fingerprint (pinned sha256 \(pinned.hex.prefix(16))..., presented \(presented.hex.prefix(16))...)"
        case .notPaired(let name, let fingerprint):
            return "certificate \(name.map { "CN=\($0) " } ?? "")(sha256 \(fingerprint.hex.prefix(16))...) is not paired with this host"
        case .rejected(let reason):
            return reason
        }
    }

    public var description: String { text(peer: "peer") }

    static func format(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}

/// Verifies peer certificates against one CPQ CA and nothing else (no system
/// roots): RFC 5280 path validation by swift-certificates' `Verifier`, then
/// the extendedKeyUsage the role needs.
public struct CPQCertificateVerifier: Hashable, Sendable {
    /// The CPQ CA certificate.
    public let authority: Certificate

    public init(authority: Certificate) {
        self.authority = authority
    }

    /// Verifies `chain` (leaf first, as the peer sent it) for a peer acting as
    /// `usage` (`.server` when we are the client, `.client` when we are the server).
    public func verify(chain: [Certificate], as usage: CPQCertificateUsage) async -> Result<CPQPeerCertificate, CPQVerifyFailure> {
        guard let leaf = chain.first else { return .failure(.noCertificate) }
        if let constraints = try? leaf.extensions.basicConstraints, case .isCertificateAuthority = constraints {
            return .failure(.authorityCertificate)
        }
        var verifier = Verifier(rootCertificates: CertificateStore([authority])) { RFC5280Policy() }
        let result = await verifier.validate(leaf: leaf, intermediates: CertificateStore(Array(chain.dropFirst())))
        switch result {
        case .couldNotValidate(let failures):
            return .failure(diagnose(leaf, policyFailures: failures.map { "\($0.policyFailureReason)" }))
        case .validCertificate:
            break
        }
        guard let granted = CPQCertificateUsage(leaf), granted.allows(usage) else {
            return .failure(.wrongUsage(required: usage))
        }
        do {
            return .success(try CPQPeerCertificate(leaf))
        } catch {
            return .failure(.unreadableCertificate)
        }
    }

    /// Verifies a single certificate; see ``verify(chain:as:)``.
    public func verify(_ certificate: Certificate, as usage: CPQCertificateUsage) async -> Result<CPQPeerCertificate, CPQVerifyFailure> {
        await verify(chain: [certificate], as: usage)
    }

    /// Verifies DER-encoded certificates as a TLS library hands them over.
    func verify(der chain: [[UInt8]?], as usage: CPQCertificateUsage) async -> Result<CPQPeerCertificate, CPQVerifyFailure> {
        guard !chain.isEmpty else { return .failure(.noCertificate) }
        var certificates: [Certificate] = []
        for der in chain {
            guard let der, let certificate = try? Certificate(derEncoded: der) else {
                return .failure(.unreadableCertificate)
            }
            certificates.append(certificate)
        }
        return await verify(chain: certificates, as: usage)
    }

    /// Why path validation failed, in the terms an admin acts on.
    func diagnose(_ leaf: Certificate, policyFailures: [String], now: Date = Date()) -> CPQVerifyFailure {
        guard leaf.issuer == authority.subject,
              authority.publicKey.isValidSignature(leaf.signature, for: leaf) else {
            return .notSignedByAuthority
        }
        if now > leaf.notValidAfter { return .expired(notValidAfter: leaf.notValidAfter) }
        if now < leaf.notValidBefore { return .notYetValid(notValidBefore: leaf.notValidBefore) }
        if now > authority.notValidAfter {
            return .rejected("the CPQ CA certificate expired on \(CPQVerifyFailure.format(authority.notValidAfter))")
        }
        return .rejected(policyFailures.first ?? "certificate path validation failed")
    }
}
