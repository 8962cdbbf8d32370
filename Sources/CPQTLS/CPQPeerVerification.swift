import NIOConcurrencyHelpers
import NIOSSL

/// What the CPQ verification of one connection found: the peer's certificate
/// when it passed, or why it was refused. Make one per connection, hand it to
/// `makeHandler(...)`, and read it after the handshake (for the
/// `verified yes/no` of a mail_logs line, or ``failure(for:)`` after an error).
public final class CPQPeerVerification: Sendable {
    /// Our side of the connection.
    public let role: CPQTLSRole
    private let state = NIOLockedValueBox<Result<CPQPeerCertificate, CPQVerifyFailure>?>(nil)

    public init(role: CPQTLSRole) {
        self.role = role
    }

    /// The verified peer certificate, once the handshake verified it.
    public var peer: CPQPeerCertificate? {
        if case .success(let peer) = state.withLockedValue({ $0 }) { return peer }
        return nil
    }

    /// Why the peer's certificate was refused, when it was.
    public var refusal: CPQVerifyFailure? {
        if case .failure(let failure) = state.withLockedValue({ $0 }) { return failure }
        return nil
    }

    /// The text for `TLS failed: ...` for an error from this connection's TLS
    /// handler, using what the verification recorded.
    public func failure(for error: any Error) -> CPQTLSFailure {
        CPQTLSFailure(error: error, role: role, verification: self)
    }

    func record(_ outcome: Result<CPQPeerCertificate, CPQVerifyFailure>) {
        state.withLockedValue { $0 = outcome }
    }

    static func result(_ outcome: Result<CPQPeerCertificate, CPQVerifyFailure>) -> NIOSSLVerificationResult {
        if case .success = outcome { return .certificateVerified }
        return .failed
    }

    /// The NIOSSL verification callback that runs `check` on the peer's chain (DER,
    /// leaf first) and records its outcome in `verification`, for either role.
    static func callback(
        _ check: @escaping @Sendable ([[UInt8]?]) async -> Result<CPQPeerCertificate, CPQVerifyFailure>,
        recordingIn verification: CPQPeerVerification?
    ) -> NIOSSLCustomVerificationCallback {
        { certificates, promise in
            let der = certificates.map { try? $0.toDERBytes() }
            promise.completeWithTask {
                let outcome = await check(der)
                verification?.record(outcome)
                return result(outcome)
            }
        }
    }
}
