import Crypto
import Foundation
import NIOConcurrencyHelpers
import Testing
@testable import AdminCLI

/// Log lines a server wrote, for checking.
final class LogLines: Sendable {
    private let lines = NIOLockedValueBox<[String]>([])
    func append(_ line: String) { lines.withLockedValue { $0.append(line) } }
    var all: [String] { lines.withLockedValue { $0 } }
}

/// An SSHAdminServer on 127.0.0.1 with an ephemeral port, a test command table, users with
/// keys made by ssh-keygen and by Lazaret, and a known_hosts file pinning its key.
struct SSHFixture {
    static let password = "correct horse"
    static let table = CommandTable([
        ControlCommand(["status"], summary: "Show whether the listeners are Online.") { _ in .success("Listeners: Online") },
        ControlCommand(["echo"], arguments: "WORDS...", summary: "Print the words, one per line.") { args in .success(args.joined(separator: "\n")) },
        ControlCommand(["broken"], summary: "Always fails.") { _ in .failure("broken: the queue is unavailable; try again") },
        ControlCommand(["whoami"], summary: "Who runs it.") { _, context in
            .success("\(context.user ?? "-") \(context.role.rawValue) interactive=\(context.interactive)")
        },
        ControlCommand(["deleterecipients"], arguments: "--host HOST", summary: "Delete queued recipients.",
                       permission: .admin, confirmation: "Delete all recipients for the host?") { args in
            .success("deleted 3 recipients " + args.joined(separator: " "))
        },
    ])

    let directory: String
    let server: SSHAdminServer
    let log: LogLines
    let knownHosts: String
    /// Private key files: alice's by ssh-keygen, rita's by Lazaret, mallory's unknown to the server.
    let aliceKey: String
    let ritaKey: String
    let malloryKey: String
    let askpass: String

    static func start(in directory: String, hostKeyPath: String? = nil) async throws -> SSHFixture {
        for name in ["alice", "mallory"] {
            let made = try await runTool(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", directory + "/" + name])
            #expect(made.status == 0, "ssh-keygen (openssh-client, installed by scripts/test): \(made.stderr)")
        }
        let rita = try SSHHostKey.loadOrCreate(path: directory + "/rita")
        let alicePublic = try String(contentsOfFile: directory + "/alice.pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let hash = try Bcrypt.hash(password, cost: 4)
        let users = [
            SSHUser(name: "alice", role: .admin, passwordHash: hash, authorizedKeys: [alicePublic]),
            SSHUser(name: "olly", role: .operator, passwordHash: hash),
            SSHUser(name: "rita", role: .readOnly, authorizedKeys: [rita.publicKeyLine]),
        ]
        let hostKey = try SSHHostKey.loadOrCreate(path: hostKeyPath ?? directory + "/ssh_host_ed25519_key")
        let log = LogLines()
        let server = try await SSHAdminServer.start(host: "127.0.0.1", port: 0, hostKey: hostKey, users: users,
                                                    roleName: "gateway", commands: table) { log.append($0) }
        let knownHosts = directory + "/known_hosts"
        try "[127.0.0.1]:\(server.port) \(hostKey.publicKeyLine)\n".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let askpass = directory + "/askpass.sh"
        try "#!/bin/sh\nprintf '%s\\n' \"$LAZARET_TEST_PASSWORD\"\n".write(toFile: askpass, atomically: true, encoding: .utf8)
        chmod(askpass, 0o700)
        return SSHFixture(directory: directory, server: server, log: log, knownHosts: knownHosts,
                          aliceKey: directory + "/alice", ritaKey: directory + "/rita", malloryKey: directory + "/mallory", askpass: askpass)
    }

    private var common: [String] {
        ["ssh", "-F", "/dev/null", "-p", "\(server.port)", "-e", "none",
         "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=\(knownHosts)", "-o", "GlobalKnownHostsFile=/dev/null",
         "-o", "ConnectTimeout=60", "-o", "IdentityAgent=none", "-o", "LogLevel=ERROR"]
    }

    /// `ssh -i KEY user@127.0.0.1 [command]` with key authentication only.
    func ssh(key: String, user: String, _ command: [String], options: [String] = [], input: String? = nil) async throws -> ToolResult {
        try await runTool(common + options + ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "PasswordAuthentication=no",
                                             "-o", "KbdInteractiveAuthentication=no", "-i", key, "\(user)@127.0.0.1"] + command,
                          input: input)
    }

    /// `ssh user@127.0.0.1 command` with password authentication only, the password given by SSH_ASKPASS.
    func ssh(password: String, user: String, _ command: [String]) async throws -> ToolResult {
        try await runTool(common + ["-o", "BatchMode=no", "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no",
                                    "-o", "NumberOfPasswordPrompts=1", "\(user)@127.0.0.1"] + command,
                          environment: ["SSH_ASKPASS": askpass, "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0",
                                        "LAZARET_TEST_PASSWORD": password])
    }
}

/// The SSH server with a real OpenSSH client (`ssh` from openssh-client, installed by scripts/test).
@Suite struct SSHAdminServerTests {
    private func withFixture(_ body: (SSHFixture) async throws -> Void) async throws {
        try await withTemporaryDirectory { directory in
            let fixture = try await SSHFixture.start(in: directory)
            do {
                try await body(fixture)
            } catch {
                await fixture.server.close()
                throw error
            }
            await fixture.server.close()
        }
    }

    @Test("exec with a key runs the command: its output on stdout, exit status 0, logged")
    func execByKey() async throws {
        try await withFixture { fixture in
            let result = try await fixture.ssh(key: fixture.aliceKey, user: "alice", ["status"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "Listeners: Online\n")
            #expect(result.stderr.isEmpty, "\(result.stderr)")
            let quoted = try await fixture.ssh(key: fixture.aliceKey, user: "alice", ["echo", "'two words'", "\"and more\""])
            #expect(quoted.stdout == "two words\nand more\n")
            let who = try await fixture.ssh(key: fixture.aliceKey, user: "alice", ["whoami"])
            #expect(who.stdout == "alice admin interactive=false\n")
            let log = fixture.log.all
            #expect(log.contains { $0.hasPrefix("SSH login: user \"alice\" (admin) from 127.0.0.1 by publickey") }, "\(log)")
            #expect(log.contains("SSH command by \"alice\" (admin): status: ok"), "\(log)")
        }
    }

    @Test("a failing command: its error on stderr, exit status 1, logged as failed")
    func execFailure() async throws {
        try await withFixture { fixture in
            let result = try await fixture.ssh(key: fixture.aliceKey, user: "alice", ["broken"])
            #expect(result.status == 1)
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.contains("broken: the queue is unavailable; try again"), "\(result.stderr)")
            let unknown = try await fixture.ssh(key: fixture.aliceKey, user: "alice", ["nosuchcommand"])
            #expect(unknown.status == 1 && unknown.stderr.contains("unknown command \"nosuchcommand\""))
            let unclosed = try await fixture.ssh(key: fixture.aliceKey, user: "alice", ["echo", "'open"])
            #expect(unclosed.status == 1 && unclosed.stderr.contains("unclosed"), "\(unclosed.stderr)")
            // Confirmations need --yes without a terminal.
            let unconfirmed = try await fixture.ssh(key: fixture.aliceKey, user: "alice", ["deleterecipients", "--host", "x"])
            #expect(unconfirmed.status == 1 && unconfirmed.stderr.contains("add --yes"), "\(unconfirmed.stderr)")
            let confirmed = try await fixture.ssh(key: fixture.aliceKey, user: "alice", ["deleterecipients", "--host", "x", "--yes"])
            #expect(confirmed.status == 0 && confirmed.stdout == "deleted 3 recipients --host x\n", "\(confirmed.stderr)")
            #expect(fixture.log.all.contains("SSH command by \"alice\" (admin): broken: failed"))
        }
    }

    @Test("a read-only user (key made by Lazaret) runs status but is refused an admin command")
    func readOnlyRefused() async throws {
        try await withFixture { fixture in
            let status = try await fixture.ssh(key: fixture.ritaKey, user: "rita", ["status"])
            #expect(status.status == 0 && status.stdout == "Listeners: Online\n", "\(status.stderr)")
            let refused = try await fixture.ssh(key: fixture.ritaKey, user: "rita", ["deleterecipients", "--yes"])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("permission denied: the read-only role cannot run it"), "\(refused.stderr)")
            #expect(fixture.log.all.contains("SSH command by \"rita\" (read-only): deleterecipients --yes: failed"))
        }
    }

    @Test("password login with the right password; an operator cannot deleterecipients")
    func passwordLogin() async throws {
        try await withFixture { fixture in
            let result = try await fixture.ssh(password: SSHFixture.password, user: "olly", ["whoami"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "olly operator interactive=false\n")
            let refused = try await fixture.ssh(password: SSHFixture.password, user: "olly", ["deleterecipients", "--yes"])
            #expect(refused.status == 1 && refused.stderr.contains("the operator role cannot run it"), "\(refused.stderr)")
            #expect(fixture.log.all.contains { $0.hasPrefix("SSH login: user \"olly\" (operator) from 127.0.0.1 by password") })
        }
    }

    @Test("a bad password, an unknown user and an unknown key are refused alike, and logged with the reason")
    func refusals() async throws {
        try await withFixture { fixture in
            let wrong = try await fixture.ssh(password: "wrong horse", user: "olly", ["status"])
            #expect(wrong.status == 255 && wrong.stdout.isEmpty)
            #expect(wrong.stderr.contains("Permission denied"), "\(wrong.stderr)")
            let unknown = try await fixture.ssh(password: SSHFixture.password, user: "eve", ["status"])
            #expect(unknown.status == 255 && unknown.stdout.isEmpty && unknown.stderr.contains("Permission denied"))
            let badKey = try await fixture.ssh(key: fixture.malloryKey, user: "alice", ["status"])
            #expect(badKey.status == 255 && badKey.stdout.isEmpty && badKey.stderr.contains("Permission denied"), "\(badKey.stderr)")
            // rita's key is not alice's.
            let otherKey = try await fixture.ssh(key: fixture.ritaKey, user: "alice", ["status"])
            #expect(otherKey.status == 255 && otherKey.stdout.isEmpty)
            let log = fixture.log.all
            #expect(log.contains("SSH login failed: user \"olly\" from 127.0.0.1 by password: wrong password"), "\(log)")
            #expect(log.contains("SSH login failed: user \"eve\" from 127.0.0.1 by password: unknown user"), "\(log)")
            #expect(log.contains { $0.hasPrefix("SSH login failed: user \"alice\" from 127.0.0.1 by publickey: key SHA256:") }, "\(log)")
            #expect(!log.contains { $0.hasPrefix("SSH login:") || $0.hasPrefix("SSH command") }, "\(log)")
        }
    }

    @Test("the host key persists across restarts: the same fingerprint, and ssh with the pinned key still connects")
    func hostKeyPersists() async throws {
        try await withTemporaryDirectory { directory in
            let keyPath = directory + "/home/ssh_host_ed25519_key"
            let first = try await SSHFixture.start(in: directory, hostKeyPath: keyPath)
            let fingerprint = first.server.hostKey.fingerprint
            await first.server.close()
            try await withTemporaryDirectory { other in
                let second = try await SSHFixture.start(in: other, hostKeyPath: keyPath)
                #expect(second.server.hostKey.fingerprint == fingerprint)
                // known_hosts pinning the first server's key works against the second.
                try "[127.0.0.1]:\(second.server.port) \(first.server.hostKey.publicKeyLine)\n"
                    .write(toFile: second.knownHosts, atomically: true, encoding: .utf8)
                let result = try await second.ssh(key: second.aliceKey, user: "alice", ["status"])
                #expect(result.status == 0, "\(result.stderr)")
                await second.server.close()
            }
        }
    }

    @Test("ssh refuses a server whose key is not the pinned one")
    func sshRefusesOtherHostKey() async throws {
        try await withFixture { fixture in
            let other = SSHHostKey(Curve25519.Signing.PrivateKey())
            try "[127.0.0.1]:\(fixture.server.port) \(other.publicKeyLine)\n".write(toFile: fixture.knownHosts, atomically: true, encoding: .utf8)
            let result = try await fixture.ssh(key: fixture.aliceKey, user: "alice", ["status"])
            #expect(result.status == 255 && result.stdout.isEmpty)
            #expect(result.stderr.contains("HOST IDENTIFICATION HAS CHANGED") || result.stderr.contains("Host key verification failed"), "\(result.stderr)")
            #expect(!fixture.log.all.contains { $0.hasPrefix("SSH command") })
        }
    }

    @Test("interactive session with ssh -tt: prompt, help, a confirmation answered y, exit")
    func interactive() async throws {
        try await withFixture { fixture in
            let input = "help\nwhoami\ndeleterecipients --host the.cpq.host\ny\nbroken\nexit\n"
            let result = try await fixture.ssh(key: fixture.aliceKey, user: "alice", [], options: ["-tt"], input: input)
            let output = result.stdout.replacingOccurrences(of: "\r\n", with: "\n")
            #expect(result.status == 0, "\(result.stderr) \(output)")
            #expect(output.contains("Lazaret admin CLI: alice (admin)"), "\(output)")
            #expect(output.contains("lazaret gateway> help\ncommands:\n  status\n      Show whether the listeners are Online."), "\(output)")
            #expect(output.contains("alice admin interactive=true\n"), "\(output)")
            #expect(output.contains("Delete all recipients for the host? [y/N] y\ndeleted 3 recipients --host the.cpq.host\n"), "\(output)")
            #expect(output.contains("error: broken: the queue is unavailable; try again\n"), "\(output)")
            #expect(output.hasSuffix("lazaret gateway> exit\n") || output.contains("lazaret gateway> exit\n"), "\(output)")
            let log = fixture.log.all
            #expect(log.contains("SSH command by \"alice\" (admin): deleterecipients --host the.cpq.host: ok"), "\(log)")
        }
    }

    @Test("interactive: a confirmation answered n changes nothing; ^D ends the session")
    func interactiveRefusal() async throws {
        try await withFixture { fixture in
            let input = "deleterecipients\nn\n\u{04}"
            let result = try await fixture.ssh(key: fixture.aliceKey, user: "alice", [], options: ["-tt"], input: input)
            let output = result.stdout.replacingOccurrences(of: "\r\n", with: "\n")
            #expect(result.status == 0, "\(result.stderr) \(output)")
            #expect(output.contains("[y/N] n\nerror: deleterecipients: not confirmed; nothing was changed\n"), "\(output)")
            #expect(fixture.log.all.contains("SSH command by \"alice\" (admin): deleterecipients: failed"))
        }
    }
}
