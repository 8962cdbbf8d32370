import Crypto
import Foundation

/// Ed25519 keys in the files OpenSSH uses: the unencrypted `-----BEGIN OPENSSH PRIVATE
/// KEY-----` private key (what `ssh-keygen -t ed25519 -N ''` writes, and what `ssh -i`,
/// `ssh-keygen -y` and `ssh-keygen -lf` read) and the one-line public key
/// `ssh-ed25519 AAAA... comment`. Only Ed25519 and only unencrypted: a key protected by a
/// passphrase is refused with a message saying how to remove it.
public enum OpenSSHKeyFile {
    static let magic = Array("openssh-key-v1\0".utf8)
    static let begin = "-----BEGIN OPENSSH PRIVATE KEY-----"
    static let end = "-----END OPENSSH PRIVATE KEY-----"
    static let keyType = "ssh-ed25519"

    /// A key file that cannot be read; `reason` says why and what to do.
    public struct FormatError: Error, Hashable, Sendable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// The public key blob: string "ssh-ed25519", string key (RFC 8709 section 4).
    public static func publicKeyBlob(_ key: Curve25519.Signing.PublicKey) -> [UInt8] {
        var writer = SSHWireWriter()
        writer.string(Array(keyType.utf8))
        writer.string(Array(key.rawRepresentation))
        return writer.bytes
    }

    /// `ssh-ed25519 AAAA...` (with ` comment` when one is given).
    public static func publicKeyLine(_ key: Curve25519.Signing.PublicKey, comment: String = "") -> String {
        let line = keyType + " " + Data(publicKeyBlob(key)).base64EncodedString()
        return comment.isEmpty ? line : line + " " + comment
    }

    /// `SHA256:` and the unpadded base64 of the SHA-256 of the public key blob, as
    /// `ssh-keygen -lf` prints it.
    public static func fingerprint(blob: [UInt8]) -> String {
        let digest = Data(SHA256.hash(data: blob)).base64EncodedString()
        return "SHA256:" + digest.replacingOccurrences(of: "=", with: "")
    }

    /// The private key file's text, with the base64 wrapped at 70 columns like ssh-keygen.
    public static func privateKeyFile(_ key: Curve25519.Signing.PrivateKey, comment: String = "") -> String {
        let publicBlob = publicKeyBlob(key.publicKey)
        var secret = SSHWireWriter()
        let check = UInt32.random(in: 0...UInt32.max)
        secret.uint32(check)
        secret.uint32(check)
        secret.string(Array(keyType.utf8))
        secret.string(Array(key.publicKey.rawRepresentation))
        secret.string(Array(key.rawRepresentation) + Array(key.publicKey.rawRepresentation))
        secret.string(Array(comment.utf8))
        var pad: UInt8 = 1
        while secret.bytes.count % 8 != 0 {
            secret.bytes.append(pad)
            pad += 1
        }
        var file = SSHWireWriter()
        file.bytes = magic
        file.string(Array("none".utf8))
        file.string(Array("none".utf8))
        file.string([])
        file.uint32(1)
        file.string(publicBlob)
        file.string(secret.bytes)
        let base64 = Data(file.bytes).base64EncodedString()
        var lines = [begin]
        var rest = Substring(base64)
        while !rest.isEmpty {
            lines.append(String(rest.prefix(70)))
            rest = rest.dropFirst(70)
        }
        lines.append(end)
        return lines.joined(separator: "\n") + "\n"
    }

    /// Reads an unencrypted OpenSSH Ed25519 private key file's text.
    public static func privateKey(fromFile text: String) throws -> Curve25519.Signing.PrivateKey {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = lines.firstIndex(of: begin), let last = lines.firstIndex(of: end), first < last else {
            throw FormatError(reason: "not an OpenSSH private key (no \(begin) line); make one with `ssh-keygen -t ed25519 -N ''` or `lazaret ssh keygen`")
        }
        guard let data = Data(base64Encoded: lines[(first + 1)..<last].joined()) else {
            throw FormatError(reason: "the OpenSSH private key's base64 is damaged")
        }
        var reader = SSHWireReader(Array(data))
        guard reader.take(magic.count) == magic else {
            throw FormatError(reason: "not an openssh-key-v1 private key")
        }
        let cipher = try reader.string()
        let kdf = try reader.string()
        _ = try reader.string()
        guard cipher == Array("none".utf8), kdf == Array("none".utf8) else {
            throw FormatError(reason: "the private key is protected by a passphrase; remove it with `ssh-keygen -p -N '' -f FILE`")
        }
        guard try reader.uint32() == 1 else { throw FormatError(reason: "the key file holds more than one key") }
        _ = try reader.string()
        var secret = SSHWireReader(try reader.string())
        guard try secret.uint32() == secret.uint32() else {
            throw FormatError(reason: "the private key's check words differ: the file is damaged")
        }
        let type = String(decoding: try secret.string(), as: UTF8.self)
        guard type == keyType else {
            throw FormatError(reason: "the key is \(type); Lazaret uses ssh-ed25519 keys (`ssh-keygen -t ed25519`)")
        }
        _ = try secret.string()
        let pair = try secret.string()
        guard pair.count == 64 else { throw FormatError(reason: "the Ed25519 private key has \(pair.count) bytes, not 64") }
        do {
            return try Curve25519.Signing.PrivateKey(rawRepresentation: pair.prefix(32))
        } catch {
            throw FormatError(reason: "the Ed25519 private key is not valid: \(error)")
        }
    }

    /// Reads `ssh-ed25519 AAAA... [comment]` and answers the key blob.
    public static func publicKeyBlob(fromLine line: String) throws -> [UInt8] {
        let fields = line.split(whereSeparator: \.isWhitespace)
        guard fields.count >= 2, let data = Data(base64Encoded: String(fields[1])) else {
            throw FormatError(reason: "not an OpenSSH public key line (\"TYPE BASE64 [comment]\", e.g. ssh-ed25519 AAAA...)")
        }
        var reader = SSHWireReader(Array(data))
        let type = String(decoding: try reader.string(), as: UTF8.self)
        guard type == String(fields[0]) else {
            throw FormatError(reason: "the public key line says \(fields[0]) but holds a \(type) key")
        }
        return Array(data)
    }
}

/// SSH's wire encoding (RFC 4251 section 5): big-endian uint32 and length-prefixed strings.
struct SSHWireWriter {
    var bytes: [UInt8] = []

    mutating func uint32(_ value: UInt32) {
        bytes += [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
    }

    mutating func string(_ value: [UInt8]) {
        uint32(UInt32(value.count))
        bytes += value
    }
}

struct SSHWireReader {
    private var bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func take(_ count: Int) -> [UInt8]? {
        guard count >= 0, bytes.count - position >= count else { return nil }
        defer { position += count }
        return Array(bytes[position..<(position + count)])
    }

    mutating func uint32() throws -> UInt32 {
        guard let four = take(4) else { throw OpenSSHKeyFile.FormatError(reason: "the key is truncated") }
        return four.reduce(0) { ($0 << 8) | UInt32($1) }
    }

    mutating func string() throws -> [UInt8] {
        let count = try uint32()
        guard count <= 1 << 20, let value = take(Int(count)) else {
            throw OpenSSHKeyFile.FormatError(reason: "the key is truncated")
        }
        return value
    }
}
