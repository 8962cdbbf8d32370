/// An error from the CPQ certificate authority, its files, the TLS settings or
/// a join bundle. Compared by ``code``; ``message`` says what went wrong and
/// what to do about it.
public struct CPQTLSError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// A file or directory could not be read, written or created.
        case fileSystem
        /// The CA directory holds only part of a CA (a certificate without its key).
        case incompleteAuthority
        /// A certificate could not be read, or is not what it must be.
        case invalidCertificate
        /// A private key could not be read, or does not belong to its certificate.
        case invalidPrivateKey
        /// A name or address given for a certificate is not usable.
        case invalidName
        /// A TLS setting (``CPQTLSConfiguration``) is not usable.
        case invalidConfiguration
        /// A join bundle is not one this version can read.
        case invalidBundle
        /// A stored JSON file (pairing tokens, paired gateways) cannot be read.
        case invalidStore
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
