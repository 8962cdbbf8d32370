import Crypto

/// The certificate the peer presented in the TLS handshake: its DER bytes and
/// the SHA-256 fingerprint by which paired peers are recognised.
public struct SMTPPeerCertificate: Sendable, Hashable, CustomStringConvertible {
    /// The certificate, DER encoded (RFC 5280).
    public let der: [UInt8]
    /// SHA-256 over ``der``.
    public let sha256: [UInt8]

    /// Wraps a DER certificate and computes its fingerprint.
    public init(der: [UInt8]) {
        self.der = der
        self.sha256 = Array(SHA256.hash(data: der))
    }

    /// The fingerprint as lower-case hex without separators (64 characters).
    public var fingerprint: String {
        sha256.map { Self.hex[Int($0 >> 4)] + Self.hex[Int($0 & 0x0F)] }.joined()
    }

    /// The fingerprint as `openssl x509 -fingerprint -sha256` prints it:
    /// upper-case hex pairs separated by colons.
    public var opensslFingerprint: String {
        sha256.map { (Self.hex[Int($0 >> 4)] + Self.hex[Int($0 & 0x0F)]).uppercased() }.joined(separator: ":")
    }

    public var description: String { "SHA256 \(opensslFingerprint)" }

    private static let hex = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
}

/// What a TLS handshake negotiated, as the server reports it to its delegate
/// and the client keeps it.
public struct SMTPTLSInfo: Sendable, Hashable {
    /// `TLSv1.3`, as mail_logs and OpenSSL print it.
    public var protocolVersion: String
    /// The cipher as OpenSSL names it, or `unknown` when the TLS stack does not say.
    public var cipher: String
    /// The peer's certificate (the leaf), when it sent one.
    public var peerCertificate: SMTPPeerCertificate?

    public init(protocolVersion: String, cipher: String, peerCertificate: SMTPPeerCertificate? = nil) {
        self.protocolVersion = protocolVersion
        self.cipher = cipher
        self.peerCertificate = peerCertificate
    }
}
