import NIOCore
import NIOSSL

/// Why a CPQ TLS handshake failed, as mail_logs says it after `TLS failed: `:
/// `DCID 123456 TLS failed: verify error: no certificate from server`,
/// `ICID 5 TLS failed: verify error: certificate not signed by the CPQ CA`.
public struct CPQTLSFailure: Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable {
        /// We refused the peer's certificate.
        case verify(CPQVerifyFailure)
        /// We refused the peer's certificate; the reason was not recorded
        /// (a handler made without a ``CPQPeerVerification``).
        case verificationFailed
        /// The peer refused our certificate, with this TLS alert.
        case refusedByPeer(alert: String)
        /// The server wants a client certificate and we sent none.
        case certificateRequired
        /// The peer ended the handshake with this TLS alert.
        case peerAlert(String)
        case noSharedCipher
        case noSharedProtocolVersion
        /// The peer answered with something that is not TLS.
        case notTLS
        /// The connection closed before the handshake finished.
        case closed
        /// Anything else, as the TLS library names it.
        case other(String)
    }

    /// Our side of the connection.
    public var role: CPQTLSRole
    public var reason: Reason

    public init(role: CPQTLSRole, reason: Reason) {
        self.role = role
        self.reason = reason
    }

    /// Classifies an error from a NIOSSL handler (or the channel) of a CPQ
    /// connection. With the connection's `verification`, a refused certificate
    /// is named precisely; without it, only as a verification failure.
    public init(error: any Error, role: CPQTLSRole, verification: CPQPeerVerification? = nil) {
        self.role = role
        if let refusal = verification?.refusal {
            reason = .verify(refusal)
            return
        }
        reason = Self.classify(error)
    }

    /// The text after `TLS failed: `.
    public var description: String {
        switch reason {
        case .verify(let failure):
            return "verify error: \(failure.text(peer: role.peer))"
        case .verificationFailed:
            return "verify error: certificate of the \(role.peer) refused"
        case .refusedByPeer(let alert):
            return "\(role.peer) refused our certificate (\(alert))"
        case .certificateRequired:
            return "\(role.peer) requires a client certificate"
        case .peerAlert(let alert):
            return "\(role.peer) ended the handshake (\(alert))"
        case .noSharedCipher:
            return "no shared cipher"
        case .noSharedProtocolVersion:
            return "no shared TLS protocol version"
        case .notTLS:
            return "\(role.peer) does not speak TLS"
        case .closed:
            return "connection closed during the TLS handshake"
        case .other(let text):
            return text
        }
    }

    /// BoringSSL reason names (as in `error:...:OPENSSL_internal:NAME`) and what they mean here.
    static let reasons: [(String, Reason)] = [
        ("PEER_DID_NOT_RETURN_A_CERTIFICATE", .verify(.noCertificate)),
        ("CERTIFICATE_VERIFY_FAILED", .verificationFailed),
        ("TLSV13_ALERT_CERTIFICATE_REQUIRED", .certificateRequired),
        ("TLSV1_ALERT_UNKNOWN_CA", .refusedByPeer(alert: "unknown CA")),
        ("SSLV3_ALERT_BAD_CERTIFICATE", .refusedByPeer(alert: "bad certificate")),
        ("SSLV3_ALERT_CERTIFICATE_UNKNOWN", .refusedByPeer(alert: "certificate unknown")),
        ("SSLV3_ALERT_CERTIFICATE_EXPIRED", .refusedByPeer(alert: "certificate expired")),
        ("SSLV3_ALERT_CERTIFICATE_REVOKED", .refusedByPeer(alert: "certificate revoked")),
        ("SSLV3_ALERT_UNSUPPORTED_CERTIFICATE", .refusedByPeer(alert: "unsupported certificate")),
        ("TLSV1_ALERT_ACCESS_DENIED", .refusedByPeer(alert: "access denied")),
        ("NO_SHARED_CIPHER", .noSharedCipher),
        ("NO_CIPHER_MATCH", .noSharedCipher),
        ("TLSV1_ALERT_INSUFFICIENT_SECURITY", .noSharedCipher),
        ("UNSUPPORTED_PROTOCOL", .noSharedProtocolVersion),
        ("TLSV1_ALERT_PROTOCOL_VERSION", .noSharedProtocolVersion),
        ("SSLV3_ALERT_HANDSHAKE_FAILURE", .peerAlert("handshake failure")),
        ("WRONG_VERSION_NUMBER", .notTLS),
        ("HTTP_REQUEST", .notTLS),
        ("HTTPS_PROXY_REQUEST", .notTLS),
        ("EOF during handshake", .closed),
    ]

    static func classify(_ error: any Error) -> Reason {
        if let ssl = error as? NIOSSLError {
            switch ssl {
            case .uncleanShutdown: return .closed
            case .handshakeFailed, .shutdownFailed: break
            default: return .other("\(ssl)")
            }
        }
        if let channel = error as? ChannelError {
            switch channel {
            case .eof, .ioOnClosedChannel, .alreadyClosed, .outputClosed: return .closed
            default: return .other("\(channel)")
            }
        }
        let text = String(describing: error)
        for (name, reason) in reasons where text.contains(name) {
            return reason
        }
        if let range = text.range(of: "OPENSSL_internal:") {
            let name = text[range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            if !name.isEmpty { return .other(name.lowercased().replacingOccurrences(of: "_", with: " ")) }
        }
        return .other(text)
    }
}
