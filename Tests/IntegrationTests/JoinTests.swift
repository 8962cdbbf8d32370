import CPQTLS
import Foundation
import Testing

/// `lazaret gateway join` over the network, with real processes: a token from
/// `lazaret manager pair`, the join over the manager's cpq_listener (TLS without a
/// client certificate, `XCPQ JOIN` with the gateway's SSH server and host key), then the
/// whole loop with what it wrote: quarantine, release to the cpq_listener the gateway
/// tells over SSH, delivery.
@Suite(.serialized)
struct JoinTests {
    @Test("lazaret gateway join pairs a gateway over the network; a used, wrong or misnamed token is refused")
    func joinOverTheNetwork() async throws {
        let managerHome = try Harness.makeTempDirectory("manager")
        defer { try? FileManager.default.removeItem(atPath: managerHome) }
        let cpqPort = Harness.freePort()
        let webPort = Harness.freePort()
        try (ManagerConfigurationText.yaml(port: cpqPort, webPort: webPort) + "release_queue: {retry_initial_s: 1, retry_max_s: 2, rescan_s: 1}\n")
            .write(toFile: managerHome + "/manager.yaml", atomically: true, encoding: .utf8)
        let lazaret = try Harness.lazaretBinary
        let manager = try Background(lazaret, ["manager", "--config", managerHome + "/manager.yaml"], logPath: managerHome + "/stdout.log")
        defer { manager.stop() }
        try Harness.waitUntil("the manager's cpq_listener (output: \(manager.output))", seconds: 90) {
            if !manager.process.isRunning { throw Harness.Failure("lazaret manager exited: \(manager.output)") }
            return Harness.isListening(cpqPort) && Harness.isListening(webPort)
        }
        let managerLogs = { (try? String(contentsOfFile: managerHome + "/logs/mail_logs", encoding: .utf8)) ?? "" }
        func token(_ name: String) throws -> String {
            let (status, output) = try Harness.run(lazaret, ["manager", "pair", "--config", managerHome + "/manager.yaml", "--name", name])
            guard status == 0, let first = output.split(separator: "\n").first else { throw Harness.Failure("pair failed: \(output)") }
            return String(first)
        }

        let sink = try SMTPSink()
        let gatewayCPQPort = Harness.freePort()
        let gateway = try GatewayInstance(smarthostPort: sink.port, cpqPort: cpqPort, cpqTLS: "required", scanning: #"""
            antivirus: {enabled: off}
            message_filters: |
              hold_it: if (subject == '^hold me') { quarantine("Policy"); }
            cpq: {directory: cpq, listener_port: \#(gatewayCPQPort), report_retry_s: 1}
            """#)
        defer { gateway.stop(); sink.stop() }

        // Wrong token, wrong name: refused with the reason, nothing written.
        let good = try token("gw3")
        let (badStatus, bad) = try Harness.run(lazaret, ["gateway", "join", "--manager", "127.0.0.1:\(cpqPort)", "--token", try token("other"),
                                                         "--name", "gw3", "--config", gateway.configPath])
        #expect(badStatus != 0 && bad.contains("550 5.7.1 XCPQ JOIN: no pairing token for gateway \"gw3\" matches"), "\(bad)")
        let (typoStatus, typo) = try Harness.run(lazaret, ["gateway", "join", "--manager", "127.0.0.1:\(cpqPort)", "--token", "not-a-token",
                                                           "--name", "gw3", "--config", gateway.configPath])
        #expect(typoStatus != 0 && typo.contains("--token: not a pairing token"), "\(typo)")
        #expect(!FileManager.default.fileExists(atPath: gateway.home + "/cpq/gateway.pem"))

        // The good token: the files are written, the manager records where releases go.
        let (status, output) = try Harness.run(lazaret, ["gateway", "join", "--manager", "127.0.0.1:\(cpqPort)", "--token", good,
                                                         "--name", "gw3", "--config", gateway.configPath])
        #expect(status == 0, "\(output)")
        #expect(output.contains("joined the manager at 127.0.0.1 port \(cpqPort) as gateway gw3"), "\(output)")
        let bundle = try CPQJoinBundle.read(from: gateway.home + "/cpq")
        #expect(bundle.gatewayName == "gw3")
        #expect(managerLogs().contains("gateway gw3 joined from 127.0.0.1: certificate sha256 "), "\(managerLogs())")
        // The gateway's SSH server and host key are pinned; the manager's SSH key came back in the bundle.
        let (printed, fingerprint) = try Harness.run(lazaret, ["ssh", "fingerprint", gateway.home + "/ssh_host_ed25519_key"])
        let pin = try #require(fingerprint.split(separator: "\n").first { $0.hasPrefix("SHA256:") }, "\(printed): \(fingerprint)")
        #expect(managerLogs().contains("SSH 127.0.0.1 port \(gateway.sshPort) host key pinned (\(pin)); releases go where it says its cpq_listener is"),
                "\(managerLogs())")
        #expect(bundle.managerSSHKey?.hasPrefix("ssh-ed25519 ") == true)
        #expect(FileManager.default.fileExists(atPath: gateway.home + "/cpq/manager-ssh.pub"))
        let (_, gateways) = try Harness.run(lazaret, ["manager", "gateways", "--config", managerHome + "/manager.yaml"])
        #expect(gateways.contains("gw3\tcpq_listener asked over SSH\tssh 127.0.0.1:\(gateway.sshPort) host key \(pin)"), "\(gateways)")
        // The same token again: used.
        let (againStatus, again) = try Harness.run(lazaret, ["gateway", "join", "--manager", "127.0.0.1:\(cpqPort)", "--token", good,
                                                             "--name", "gw3", "--cpq-directory", managerHome + "/again"])
        #expect(againStatus != 0 && again.contains("pairing token already used"), "\(again)")

        // The loop with the joined credentials.
        try gateway.start()
        try Harness.waitUntil("the gateway's cpq_listener") { Harness.isListening(gatewayCPQPort) }
        let (sent, swaks) = try Harness.run(try Harness.tool("swaks"), [
            "--server", "127.0.0.1:\(gateway.port)", "--from", "alice@sender.example", "--to", "bob@rcpt.example",
            "--header", "Subject: hold me", "--header", "Message-ID: <joined-1@sender.example>"])
        #expect(sent == 0, "\(swaks)")
        try Harness.waitUntil("the transfer stored on the manager") { managerLogs().contains(" stored from gw3 ") }
        let qid = try #require(managerLogs().firstMatch(of: #/QID (Q[A-Z2-7]{16}) stored from gw3 /#).map { String($0.1) })
        // Released with the CLI over the manager's API, as an operator.
        let config = managerHome + "/manager.yaml"
        let (added, addOutput) = try Harness.run(lazaret, ["manager", "user", "add", "olivia", "--role", "operator", "--config", config])
        #expect(added == 0, "\(addOutput)")
        let (created, apiToken) = try Harness.run(lazaret, ["manager", "token", "create", "olivia", "--config", config])
        #expect(created == 0, "\(apiToken)")
        let (released, releaseOutput) = try Harness.run(lazaret, ["quarantine", "release", qid, "--config", config],
                                                        environment: ["LAZARET_TOKEN": apiToken.trimmingCharacters(in: .whitespacesAndNewlines)])
        #expect(released == 0, "\(releaseOutput)")
        try Harness.waitUntil("the released message at smtp-sink and its report", seconds: 120) {
            sink.messages.contains { $0.contains("joined-1@sender.example") } && managerLogs().contains("to <bob@rcpt.example>: delivered")
        }
        #expect(sink.messages.filter { $0.contains("joined-1@sender.example") }.count == 1)
        // Where to deliver it, the manager asked the gateway over SSH, as lazaret-manager.
        #expect(managerLogs().contains("Gateway gw3 told over SSH that its cpq_listener is 127.0.0.1 port \(gatewayCPQPort)"), "\(managerLogs())")
        #expect(gateway.mailLogs.contains("SSH command by \"lazaret-manager\" (read-only): interfaceconfig --json: ok"))
    }
}
