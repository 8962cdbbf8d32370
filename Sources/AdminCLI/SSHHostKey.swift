import Crypto
import Foundation
import NIOSSH

/// The Ed25519 key a role's SSH server proves itself with. Generated on the first start and
/// kept in an OpenSSH private key file (mode 0600; `ssh-keygen -lf FILE` prints its
/// fingerprint), so clients that pinned it keep trusting the role across restarts.
public struct SSHHostKey: Sendable {
    /// The 32-byte Ed25519 private key (Curve25519 keys are not Sendable).
    private let seed: [UInt8]
    /// Where it was loaded from or written to, if anywhere.
    public let path: String?
    /// For NIOSSH.
    public let nioKey: NIOSSHPrivateKey
    /// `ssh-ed25519 AAAA...`: what a client pins (a known_hosts entry without the host).
    public let publicKeyLine: String
    /// `SHA256:...` as `ssh-keygen -lf` and `ssh` print it.
    public let fingerprint: String

    public init(_ privateKey: Curve25519.Signing.PrivateKey, path: String? = nil) {
        self.seed = Array(privateKey.rawRepresentation)
        self.path = path
        self.nioKey = NIOSSHPrivateKey(ed25519Key: privateKey)
        self.publicKeyLine = OpenSSHKeyFile.publicKeyLine(privateKey.publicKey)
        self.fingerprint = OpenSSHKeyFile.fingerprint(blob: OpenSSHKeyFile.publicKeyBlob(privateKey.publicKey))
    }

    /// The Ed25519 private key (for `SSHCommandClient`).
    public func privateKey() throws -> Curve25519.Signing.PrivateKey {
        try Curve25519.Signing.PrivateKey(rawRepresentation: seed)
    }

    /// The key at `path`, or a new one written there (directories created, mode 0600).
    /// Refuses a file others can read or write, and one that is not an Ed25519 key.
    public static func loadOrCreate(path: String) throws -> SSHHostKey {
        if FileManager.default.fileExists(atPath: path) { return try load(path: path) }
        let key = SSHHostKey(Curve25519.Signing.PrivateKey(), path: path)
        try key.write(to: path)
        return key
    }

    /// Reads an unencrypted OpenSSH Ed25519 private key file.
    public static func load(path: String) throws -> SSHHostKey {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SSHError(.keyFile, "cannot read the SSH key \(path): \(error.localizedDescription)")
        }
        do {
            return SSHHostKey(try OpenSSHKeyFile.privateKey(fromFile: text), path: path)
        } catch let error as OpenSSHKeyFile.FormatError {
            throw SSHError(.keyFile, "SSH key \(path): \(error.reason)")
        }
    }

    /// Writes the key as an OpenSSH private key file, readable by the owner only; never
    /// replaces an existing file.
    public func write(to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let text = OpenSSHKeyFile.privateKeyFile(try privateKey(), comment: "lazaret")
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            throw SSHError(.keyFile, "cannot create the SSH key \(path): \(String(cString: strerror(errno))); check the directory's permissions")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        try handle.write(contentsOf: Data(text.utf8))
        try handle.synchronize()
    }
}

/// A host key a client trusts: an OpenSSH public key line or a `SHA256:` fingerprint.
public struct PinnedHostKey: Hashable, Sendable, CustomStringConvertible {
    /// The fingerprint the server must present.
    public let fingerprint: String

    /// `ssh-ed25519 AAAA...` (a comment may follow) or `SHA256:...`.
    public init(_ text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("SHA256:") {
            guard trimmed.count > 7, !trimmed.contains(where: \.isWhitespace) else {
                throw SSHError(.configuration, "pinned host key \"\(trimmed)\" is not a fingerprint like SHA256:abc... (see `ssh-keygen -lf`)")
            }
            fingerprint = trimmed
        } else {
            do {
                fingerprint = OpenSSHKeyFile.fingerprint(blob: try OpenSSHKeyFile.publicKeyBlob(fromLine: trimmed))
            } catch let error as OpenSSHKeyFile.FormatError {
                throw SSHError(.configuration, "pinned host key: \(error.reason), or a SHA256: fingerprint")
            }
        }
    }

    public var description: String { fingerprint }

    /// The fingerprint of a key NIOSSH presents.
    static func fingerprint(of key: NIOSSHPublicKey) -> String {
        let line = String(openSSHPublicKey: key)
        return (try? OpenSSHKeyFile.publicKeyBlob(fromLine: line)).map(OpenSSHKeyFile.fingerprint(blob:)) ?? line
    }
}
