import Crypto
import Foundation

/// The proofs of `XCPQ JOIN` (docs/CPQ.md, "Join"). Both sides key an HMAC-SHA256 with the
/// SHA-256 of the pairing token — the gateway from the token the admin typed, the manager
/// from what its token file keeps (it never stores the token) — so the token itself never
/// crosses the wire:
///
/// - the gateway proves it holds the token, bound to the manager certificate it saw in
///   this TLS session (a man in the middle, who shows another certificate, gets a proof
///   the real manager refuses);
/// - the manager proves it too, over the join bundle it answers with (a fake manager
///   cannot hand the gateway a CA of its own).
public enum CPQJoinProof {
    /// The key for a token as typed (`ABCD-EFGH-...`); nil when it is not a token's form.
    public static func key(token: String) -> SymmetricKey? {
        PairingTokens.parse(token).map { SymmetricKey(data: Array(SHA256.hash(data: $0))) }
    }

    /// The key from a token file entry (its SHA-256, hex).
    static func key(sha256Hex: String) -> SymmetricKey? {
        guard let bytes = hexBytes(sha256Hex), bytes.count == 32 else { return nil }
        return SymmetricKey(data: bytes)
    }

    /// The gateway's proof: over `cpq-join-v1 gateway <name> <manager certificate sha256 hex>`.
    public static func gatewayProof(key: SymmetricKey, gatewayName: String, managerFingerprint: CPQFingerprint) -> String {
        hex(HMAC<SHA256>.authenticationCode(for: Data("cpq-join-v1 gateway \(gatewayName.lowercased()) \(managerFingerprint.hex)".utf8), using: key))
    }

    /// The manager's proof over the bundle it answers with.
    public static func managerProof(key: SymmetricKey, bundle: String) -> String {
        hex(HMAC<SHA256>.authenticationCode(for: Data("cpq-join-v1 manager \(bundle)".utf8), using: key))
    }

    /// Compares two proofs in constant time (for equal lengths).
    public static func matches(_ a: String, _ b: String) -> Bool {
        let x = Array(a.lowercased().utf8), y = Array(b.lowercased().utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for (p, q) in zip(x, y) { difference |= p ^ q }
        return difference == 0
    }

    private static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        bytes.map { hexByte($0) }.joined()
    }

    private static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }
}
