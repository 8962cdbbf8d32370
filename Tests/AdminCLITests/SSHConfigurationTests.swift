import Crypto
import Foundation
import Testing
@testable import AdminCLI

/// The `ssh:` section and the host key file.
@Suite struct SSHConfigurationTests {
    static let hash = "$2b$04$cVWp4XaNU8a4v1uMRum2SO026BWLIoQMD/TXg5uZV.0P.uO8m3YEm"
    static let key = OpenSSHKeyFile.publicKeyLine(Curve25519.Signing.PrivateKey().publicKey, comment: "alice@laptop")

    private func decode(_ json: String) throws -> SSHConfiguration {
        try JSONDecoder().decode(SSHConfiguration.self, from: Data(json.utf8))
    }

    private func problem(_ json: String) -> String {
        do {
            _ = try decode(json)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test("defaults: enabled, 127.0.0.1, the role's port, ssh_host_ed25519_key under home")
    func defaults() throws {
        let configuration = try decode("{}")
        #expect(configuration.enabled && configuration.listen == "127.0.0.1" && configuration.users.isEmpty)
        #expect(configuration.port(roleDefault: SSHConfiguration.gatewayDefaultPort) == 2222)
        #expect(configuration.port(roleDefault: SSHConfiguration.managerDefaultPort) == 2223)
        #expect(configuration.hostKeyPath(home: "/var/lib/lazaret") == "/var/lib/lazaret/ssh_host_ed25519_key")
        #expect(try decode(#"{"host_key": "/etc/k"}"#).hostKeyPath(home: "/h") == "/etc/k")
    }

    @Test("users with passwords and keys decode with snake_case keys")
    func users() throws {
        let configuration = try decode("""
            {"enabled": false, "listen": "0.0.0.0", "port": 2022, "users": [
              {"name": "alice", "role": "admin", "password_bcrypt": "\(Self.hash)", "authorized_keys": ["\(Self.key)"]},
              {"name": "olly", "role": "operator", "password_bcrypt": "\(Self.hash)"},
              {"name": "rita", "role": "read-only", "authorized_keys": ["\(Self.key)"]}]}
            """)
        #expect(!configuration.enabled && configuration.listen == "0.0.0.0" && configuration.port == 2022)
        #expect(configuration.users.map(\.role) == [.admin, .operator, .readOnly])
        #expect(configuration.users[0].passwordHash == Self.hash && configuration.users[0].authorizedKeys == [Self.key])
        let again = try JSONDecoder().decode(SSHConfiguration.self, from: try JSONEncoder().encode(configuration))
        #expect(again == configuration)
    }

    @Test("bad values are refused naming the field")
    func errors() {
        #expect(problem(#"{"users": [{"name": "a", "role": "admin", "password_bcrypt": "\#(Self.hash)"}, {"name": "b", "role": "boss", "password_bcrypt": "\#(Self.hash)"}]}"#)
            == #"ssh.users[1].role: "boss" is not one of admin, operator, read-only"#)
        #expect(problem(#"{"users": [{"name": "a", "role": "admin", "password_bcrypt": "secret"}]}"#)
            .hasPrefix("ssh.users[0].password_bcrypt: not a bcrypt hash"))
        #expect(problem(#"{"users": [{"name": "a", "role": "admin", "authorized_keys": ["ssh-rsa AAAAB3NzaC1yc2E"]}]}"#)
            .hasPrefix("ssh.users[0].authorized_keys[0]: not an OpenSSH public key line"))
        #expect(problem(#"{"users": [{"name": "a", "role": "admin"}]}"#).contains("could never log in"))
        #expect(problem(#"{"users": [{"name": "a b", "role": "admin", "password_bcrypt": "\#(Self.hash)"}]}"#).hasPrefix("ssh.users[0].name:"))
        #expect(problem(#"{"users": [{"name": "a", "role": "admin", "password_bcrypt": "\#(Self.hash)"}, {"name": "a", "role": "operator", "password_bcrypt": "\#(Self.hash)"}]}"#)
            == #"ssh.users[1].name: "a" is listed twice"#)
        #expect(problem(#"{"port": 70000}"#).hasPrefix("ssh.port: 70000"))
        #expect(problem(#"{"users": [{"name": "a", "role": "admin", "password": "x"}]}"#).hasPrefix("ssh.users[0].password: unknown key"))
        #expect(problem(#"{"hostkey": "x"}"#).hasPrefix("ssh.hostkey: unknown key"))
    }

    @Test("the host key is made on first start (0600, OpenSSH format) and the same key is loaded later; ssh-keygen agrees on the fingerprint")
    func hostKeyPersists() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/state/ssh_host_ed25519_key"
            let first = try SSHHostKey.loadOrCreate(path: path)
            let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
            #expect(mode == 0o600)
            let second = try SSHHostKey.loadOrCreate(path: path)
            #expect(second.fingerprint == first.fingerprint && second.publicKeyLine == first.publicKeyLine)
            #expect(first.fingerprint.hasPrefix("SHA256:") && !first.fingerprint.hasSuffix("="))
            #expect(first.publicKeyLine.hasPrefix("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA"))
            // OpenSSH reads our file: same public key, same fingerprint.
            let publicLine = try await runTool(["ssh-keygen", "-y", "-f", path])
            #expect(publicLine.status == 0, "\(publicLine.stderr)")
            #expect(publicLine.stdout.hasPrefix(first.publicKeyLine))
            let listed = try await runTool(["ssh-keygen", "-l", "-f", path])
            #expect(listed.stdout.contains(first.fingerprint), "\(listed.stdout) \(listed.stderr)")
            #expect(try PinnedHostKey(first.publicKeyLine).fingerprint == first.fingerprint)
            #expect(try PinnedHostKey(first.fingerprint).fingerprint == first.fingerprint)
        }
    }

    @Test("a key made by ssh-keygen loads; damaged, RSA and passphrase-protected ones are refused with a reason")
    func foreignKeys() async throws {
        try await withTemporaryDirectory { directory in
            let made = try await runTool(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", directory + "/ed"])
            #expect(made.status == 0, "\(made.stderr)")
            let key = try SSHHostKey.load(path: directory + "/ed")
            let publicLine = try String(contentsOfFile: directory + "/ed.pub", encoding: .utf8)
            #expect(publicLine.hasPrefix(key.publicKeyLine))
            _ = try await runTool(["ssh-keygen", "-q", "-t", "ed25519", "-N", "sesame", "-f", directory + "/locked"])
            #expect(throws: SSHError.self) { try SSHHostKey.load(path: directory + "/locked") }
            do { _ = try SSHHostKey.load(path: directory + "/locked") } catch { #expect("\(error)".contains("passphrase")) }
            _ = try await runTool(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", directory + "/ec"])
            do { _ = try SSHHostKey.load(path: directory + "/ec") } catch { #expect("\(error)".contains("ecdsa")) }
            try "garbage".write(toFile: directory + "/bad", atomically: true, encoding: .utf8)
            do { _ = try SSHHostKey.load(path: directory + "/bad") } catch { #expect("\(error)".contains("not an OpenSSH private key")) }
            #expect(throws: SSHError.self) { try PinnedHostKey("ssh-ed25519 !!!") }
        }
    }
}
