import Foundation
import Testing

/// OpenSSH's `ssh` (openssh-client, installed by scripts/test) against the admin CLI of a
/// real gateway and a real manager: the commands by exec, the users and their roles, and
/// the manager asking the gateway over SSH before it releases.
struct SSHLogins {
    let directory: String
    /// `ada`, an admin, logs in with a key made by ssh-keygen.
    let adminKey: String
    /// A key nobody authorized.
    let strangerKey: String
    /// `otto`, an operator, logs in with this password.
    let password = "operator's long passphrase"
    let askpass: String
    /// `ssh.users` for both roles, as a YAML flow list.
    let users: String

    init() throws {
        directory = try Harness.makeTempDirectory("ssh-logins")
        adminKey = directory + "/ada"
        strangerKey = directory + "/stranger"
        let keygen = try Harness.tool("ssh-keygen")
        for key in [adminKey, strangerKey] {
            let (status, output) = try Harness.run(keygen, ["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", key])
            guard status == 0 else { throw Harness.Failure("ssh-keygen: \(output)") }
        }
        let adminLine = try String(contentsOfFile: adminKey + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let (hashed, hash) = try Harness.run(try Harness.lazaretBinary, ["ssh", "hash-password", "--cost", "4"], input: password + "\n")
        guard hashed == 0 else { throw Harness.Failure("lazaret ssh hash-password: \(hash)") }
        users = "[{name: ada, role: admin, authorized_keys: ['\(adminLine)']}, "
            + "{name: otto, role: operator, password_bcrypt: '\(hash.trimmingCharacters(in: .whitespacesAndNewlines))'}]"
        askpass = directory + "/askpass.sh"
        try "#!/bin/sh\nprintf '%s\\n' \"$LAZARET_TEST_PASSWORD\"\n".write(toFile: askpass, atomically: true, encoding: .utf8)
        chmod(askpass, 0o700)
    }

    private func common(port: Int) -> [String] {
        ["-F", "/dev/null", "-p", "\(port)", "-e", "none", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=60", "-o", "IdentityAgent=none", "-o", "LogLevel=ERROR"]
    }

    /// Runs OpenSSH's ssh through a shell that waits for it: ssh closes every inherited
    /// descriptor at start, including the one Foundation watches to learn that a child
    /// ended, and Foundation would block in waitpid(ssh) meanwhile, holding up the exits of
    /// every other process of the test run.
    private func runSSH(_ arguments: [String], environment: [String: String?] = [:]) throws -> (Int32, String) {
        try Harness.run("/bin/sh", ["-c", "\"$@\"; exit $?", "sh", try Harness.tool("ssh")] + arguments, environment: environment)
    }

    /// `ssh -i KEY user@127.0.0.1 -p PORT command...`: (exit status, stdout and stderr).
    func ssh(port: Int, key: String? = nil, user: String = "ada", _ command: String...) throws -> (status: Int32, output: String) {
        try runSSH(common(port: port) + [
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no",
            "-i", key ?? adminKey, "\(user)@127.0.0.1"] + command)
    }

    /// The same with a password (given by SSH_ASKPASS), no keys.
    func ssh(port: Int, user: String, password: String, _ command: String...) throws -> (status: Int32, output: String) {
        try runSSH(common(port: port) + [
            "-o", "BatchMode=no", "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no",
            "-o", "NumberOfPasswordPrompts=1", "\(user)@127.0.0.1"] + command,
            environment: ["SSH_ASKPASS": askpass, "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0", "LAZARET_TEST_PASSWORD": password])
    }

    /// `ssh ... command` as ada; fails the test unless it exits 0.
    func run(port: Int, _ command: String...) throws -> String {
        let (status, output) = try runSSH(common(port: port) + [
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", adminKey, "ada@127.0.0.1"] + command)
        guard status == 0 else { throw Harness.Failure("ssh -p \(port) \(command.joined(separator: " ")) exited \(status): \(output)") }
        return output
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

@Suite(.serialized) struct AdminSSHTests {
    static let holdFilter = #"hold_it: if (subject == '^hold') { quarantine("Policy"); }"#

    @Test("every command by SSH exec on the gateway and the manager; a bad key, a bad password and an operator's deleterecipients are refused")
    func commandsOverSSHOnBothRoles() throws {
        let logins = try SSHLogins()
        defer { logins.remove() }
        let setup = try ReleaseSetup(filters: Self.holdFilter, sshUsers: logins.users)
        defer { setup.stop() }
        let gateway = setup.gateway.sshPort, manager = setup.managerSSHPort
        try Harness.waitUntil("both SSH servers") { Harness.isListening(gateway) && Harness.isListening(manager) }

        // The gateway: each command, its output checked.
        #expect(try logins.run(port: gateway, "version").contains("Role: gateway"))
        #expect(try logins.run(port: gateway, "status").contains("System status:                 Online"))
        let tophosts = try logins.run(port: gateway, "tophosts", "active_rcpts")
        #expect(tophosts.contains("the.cpq.host") && tophosts.contains("smarthost"), "\(tophosts)")
        #expect(try logins.run(port: gateway, "hoststatus", "the.cpq.host").contains("Host mail status for: 'the.cpq.host'"))
        let unknown = try logins.ssh(port: gateway, "hoststatus", "nowhere.example")
        #expect(unknown.status == 1 && unknown.output.contains("No record of host: nowhere.example"))
        #expect(try logins.run(port: gateway, "showrecipients", "all").contains("No recipients"))
        #expect(try logins.run(port: gateway, "listenerconfig").contains("IncomingMail"))
        let interfaces = try logins.run(port: gateway, "interfaceconfig", "--json")
        #expect(interfaces.contains("\"kind\" : \"cpq\"") && interfaces.contains("\"port\" : \(setup.gatewayCPQPort)"), "\(interfaces)")
        #expect(try logins.run(port: gateway, "delivernow", "all").contains("smarthost"))
        #expect(try logins.run(port: gateway, "grep", "'SSH login'", "mail_logs").contains("user \"ada\" (admin)"))
        #expect(try logins.run(port: gateway, "tail", "mail_logs", "2").split(separator: "\n").count == 2)

        // suspend over SSH: a real SMTP client is refused and status says Offline; resume: accepted, Online.
        #expect(try logins.run(port: gateway, "suspend").contains("Offline"))
        #expect(try logins.run(port: gateway, "status").contains("System status:                 Offline"))
        let (refusedStatus, refused) = try AdminCommandsTests.swaks(setup.gateway, subject: "while suspended")
        #expect(refusedStatus != 0 && refused.contains("421 4.3.2"), "swaks: \(refused)")
        #expect(try logins.run(port: gateway, "resume").contains("Online"))
        #expect(try logins.run(port: gateway, "status").contains("System status:                 Online"))
        try setup.send(subject: "after resume over ssh", messageID: "after-resume-ssh@test")
        try Harness.waitUntil("the message sent after resume at the smarthost") {
            setup.sink.messages.contains { $0.contains("after resume over ssh") }
        }

        // The manager: the same command set over its release queue, and quarantineconfig.
        #expect(try logins.run(port: manager, "version").contains("Role: manager"))
        #expect(try logins.run(port: manager, "status").contains("System status:                 Online"))
        #expect(try logins.run(port: manager, "tophosts").contains("the.cpq.release.host"))
        #expect(try logins.run(port: manager, "showrecipients", "all").contains("No recipients"))
        #expect(try logins.run(port: manager, "quarantineconfig").contains("Policy"))
        #expect(try logins.run(port: manager, "listenerconfig").contains("cpq_listener"))
        #expect(try logins.ssh(port: manager, "audit", "verify").status == 0)

        // Logins: a key nobody authorized and a wrong password are refused by the SSH server itself.
        let stranger = try logins.ssh(port: gateway, key: logins.strangerKey, "status")
        #expect(stranger.status == 255 && stranger.output.contains("Permission denied"), "\(stranger.output)")
        let wrong = try logins.ssh(port: manager, user: "otto", password: "not the password", "status")
        #expect(wrong.status == 255 && wrong.output.contains("Permission denied"), "\(wrong.output)")
        // The operator logs in with the password, may suspend and resume, may not delete.
        let otto = try logins.ssh(port: gateway, user: "otto", password: logins.password, "status")
        #expect(otto.status == 0 && otto.output.contains("Online"), "\(otto.output)")
        let denied = try logins.ssh(port: gateway, user: "otto", password: logins.password, "deleterecipients", "all", "--yes")
        #expect(denied.status == 1 && denied.output.contains("permission denied: the operator role"), "\(denied.output)")
        // An admin without a terminal must confirm with --yes.
        let unconfirmed = try logins.ssh(port: gateway, "deleterecipients", "all")
        #expect(unconfirmed.status == 1 && unconfirmed.output.contains("add --yes"))
        try Harness.waitUntil("the stranger's refusal in the gateway's mail_logs") {
            let logs = setup.gateway.mailLogs
            return logs.contains("SSH login failed: user \"ada\" from 127.0.0.1 by publickey")
        }
    }

    @Test("a release waits in the.cpq.release.host while the gateway's SSH is down, and goes out once it answers")
    func releaseWaitsForTheGatewaysSSH() throws {
        let logins = try SSHLogins()
        defer { logins.remove() }
        let setup = try ReleaseSetup(filters: Self.holdFilter, sshUsers: logins.users, pairOverSSH: true, gatewaySSH: false)
        defer { setup.stop() }
        let mid = try setup.send(subject: "hold for ssh", messageID: "hold-for-ssh@test")
        try Harness.waitUntil("the message stored on the manager") { setup.storedCount() == 1 }
        let qid = try #require(setup.qids().first)
        try setup.cli(["release", qid])

        // The gateway runs without SSH: the manager cannot learn its cpq_listener.
        let sshPort = setup.gateway.sshPort
        try Harness.waitUntil("the SSH failure in the manager's mail_logs") {
            setup.managerLogs.contains("Releases for gateway gw1: cannot learn its cpq_listener over SSH at 127.0.0.1 port \(sshPort)")
        }
        let waiting = try logins.run(port: setup.managerSSHPort, "showrecipients", "all")
        #expect(waiting.contains("bob@rcpt.example") && waiting.contains(qid), "\(waiting)")
        let row = try logins.run(port: setup.managerSSHPort, "tophosts").split(separator: "\n").first { $0.contains("the.cpq.release.host") }
        #expect(row?.contains("gateway gw1") == true, "tophosts: \(String(describing: row))")
        #expect(setup.sinkCount("hold for ssh") == 0)
        #expect(!setup.managerLogs.contains("accepted by gateway gw1"))

        // The gateway comes back with SSH: the release goes out, once.
        setup.gateway.stop()
        let config = try String(contentsOfFile: setup.gateway.configPath, encoding: .utf8)
        try config.replacingOccurrences(of: "ssh: {enabled: false,", with: "ssh: {enabled: true,")
            .write(toFile: setup.gateway.configPath, atomically: true, encoding: .utf8)
        try setup.gateway.start()
        try Harness.waitUntil("the gateway's SSH server") { Harness.isListening(sshPort) }
        _ = try logins.run(port: setup.managerSSHPort, "delivernow", "all")
        try Harness.waitUntil("the released message at smtp-sink", seconds: 120) { setup.sinkCount("hold for ssh") >= 1 }
        #expect(setup.managerLogs.contains("Gateway gw1 answers over SSH again: its cpq_listener is 127.0.0.1 port \(setup.gatewayCPQPort)"))
        #expect(setup.gateway.mailLogs.contains("SSH command by \"lazaret-manager\" (read-only): interfaceconfig --json: ok"))
        try Harness.waitUntil("the release accepted") { setup.managerLogs.contains("accepted by gateway gw1") }
        #expect(setup.sinkCount("hold for ssh") == 1)
        _ = mid
    }
}
