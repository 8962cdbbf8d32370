import Crypto
import X509

/// The SHA-256 of a certificate's DER encoding: what pins the manager's
/// certificate on a gateway and names a paired gateway's certificate on the
/// manager. Written as 64 lowercase hex digits; read also in the
/// colon-separated form `openssl x509 -fingerprint -sha256` prints.
public struct CPQFingerprint: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The 32 bytes of the digest.
    public let bytes: [UInt8]

    /// The fingerprint of a DER-encoded certificate.
    public init(der: some Sequence<UInt8>) {
        bytes = Array(SHA256.hash(data: Array(der)))
    }

    /// The fingerprint of a certificate.
    public init(_ certificate: Certificate) throws {
        self.init(der: try certificate.derBytes)
    }

    /// Parses 64 hex digits, optionally separated by colons, in either case.
    public init?(hex: String) {
        let digits = hex.filter { $0 != ":" }
        guard digits.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var iterator = digits.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            guard let h = high.hexDigitValue, let l = low.hexDigitValue else { return nil }
            bytes.append(UInt8(h << 4 | l))
        }
        self.bytes = bytes
    }

    /// 64 lowercase hex digits.
    public var hex: String { bytes.map { hexByte($0) }.joined() }

    /// `AB:CD:...`, as `openssl x509 -fingerprint -sha256` prints it.
    public var colonSeparated: String { bytes.map { hexByte($0).uppercased() }.joined(separator: ":") }

    public var description: String { hex }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = CPQFingerprint(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "not a SHA-256 fingerprint: \(text)"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
}

func hexByte(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
}
