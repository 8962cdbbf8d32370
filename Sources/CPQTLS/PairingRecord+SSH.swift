import Crypto
import Foundation

extension PairingRecord.SSHEndpoint {
    /// `ssh-ed25519 BLOB` for an OpenSSH public key line (`ssh-ed25519 BLOB [comment]`) or
    /// a bare base64 key blob of an Ed25519 key — the only host key type Lazaret's SSH
    /// servers use; nil for anything else.
    public static func hostKeyLine(_ text: String) -> String? {
        let words = text.split(separator: " ", omittingEmptySubsequences: true)
        let blob: Substring
        if words.count == 1 {
            blob = words[0]
        } else if (2...3).contains(words.count), words[0] == "ssh-ed25519" {
            blob = words[1]
        } else {
            return nil
        }
        guard let data = Data(base64Encoded: String(blob)), data.count == 51,
              data.prefix(15) == Data([0, 0, 0, 11] + Array("ssh-ed25519".utf8)),
              data[15..<19] == Data([0, 0, 0, 32]) else { return nil }
        return "ssh-ed25519 " + blob
    }

    /// The pinned host key's fingerprint as OpenSSH prints it: `SHA256:` and base64 without padding.
    public var hostKeyFingerprint: String {
        let parts = hostKey.split(separator: " ")
        guard parts.count >= 2, let blob = Data(base64Encoded: String(parts[1])) else { return "unreadable key" }
        return "SHA256:" + Data(SHA256.hash(data: blob)).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }
}
