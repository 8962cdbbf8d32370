import AdminCLI
import ArgumentParser
import Foundation

/// `lazaret ssh ...`: what an admin needs to set up the admin CLI over SSH.
struct SSHCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssh", abstract: "Set up the admin CLI over SSH: password hashes and host keys.",
        subcommands: [HashPassword.self, Keygen.self, Fingerprint.self])

    /// `lazaret ssh hash-password [--cost N]`: the bcrypt hash for `password_bcrypt`.
    struct HashPassword: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hash-password",
            abstract: "Read a password from stdin (first line) and print its bcrypt hash for ssh.users[].password_bcrypt.",
            discussion: "Example: printf '%s\\n' 'correct horse' | lazaret ssh hash-password")

        @Option(help: "bcrypt cost: 2^cost rounds (4 to 31; each step doubles the time a guess takes).")
        var cost: Int = Bcrypt.defaultCost

        func run() throws {
            guard Bcrypt.costs.contains(cost) else {
                throw ValidationError("--cost \(cost) is out of range: use \(Bcrypt.costs.lowerBound) to \(Bcrypt.costs.upperBound) (\(Bcrypt.defaultCost) is usual)")
            }
            guard let line = readLine(strippingNewline: true) else {
                throw ValidationError("no password on stdin: pipe it in, e.g. printf '%s\\n' 'PASSWORD' | lazaret ssh hash-password")
            }
            let password = line.hasSuffix("\r") ? String(line.dropLast()) : line
            guard !password.isEmpty else { throw ValidationError("the password on stdin is empty") }
            if password.utf8.count > 72 {
                FileHandle.standardError.write(Data("lazaret: warning: bcrypt uses only the first 72 bytes of the password\n".utf8))
            }
            print(try Bcrypt.hash(password, cost: cost))
        }
    }

    /// `lazaret ssh keygen --out FILE`: an Ed25519 key (host key or a manager's client key).
    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new Ed25519 private key (OpenSSH format, mode 0600) and print its public key line and fingerprint.")

        @Option(help: "Where to write the private key; an existing file is never replaced.")
        var out: String

        func run() throws {
            let path = absolutePath(out)
            guard !FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("\(path) exists; choose another --out or remove it first")
            }
            let key = try SSHHostKey.loadOrCreate(path: path)
            print(key.publicKeyLine)
            print(key.fingerprint)
        }
    }

    /// `lazaret ssh fingerprint FILE`: what to pin for a host key.
    struct Fingerprint: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the public key line and SHA256 fingerprint of an Ed25519 private key file (e.g. HOME/ssh_host_ed25519_key) or of a public key line file.")

        @Argument(help: "An OpenSSH private key file, or a file whose first line is a public key (ssh-ed25519 AAAA...).")
        var file: String

        func run() throws {
            let path = absolutePath(file)
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("cannot read \(path)")
            }
            if text.contains("OPENSSH PRIVATE KEY") {
                let key = try SSHHostKey.load(path: path)
                print(key.publicKeyLine)
                print(key.fingerprint)
            } else {
                let line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
                print(try PinnedHostKey(line).fingerprint)
            }
        }
    }
}
