import CPQ
import CPQTLS
import Foundation
import MailLog
import Manager
import NIOCore
import NIOPosix
import QuarantineStore
import SMTPProtocol
import Testing

/// Flow 1 from the gateway's side: the real `lazaret gateway` quarantines a message and
/// its `the.cpq.host` queue transfers it over CPQ (mutual TLS with the CPQ CA, the
/// manager pinned) to a cpq_listener that stores it in a real `QuarantineStore`: the
/// manager's own backend, in the test process, so that the store can be read directly.
@Suite(.serialized)
struct CPQTransferTests {
    @Test("a quarantined message reaches the quarantine store over CPQ with its holds, once")
    func quarantinedMessageIsTransferred() async throws {
        let managerHome = try Harness.makeTempDirectory("manager")
        defer { try? FileManager.default.removeItem(atPath: managerHome) }
        let authority = try CPQAuthority.loadOrCreate(directory: managerHome + "/cpq", managerHostname: "manager.test",
                                                      managerAddresses: ["127.0.0.1"])
        let token = try authority.pairingTokens.create(gatewayName: "gw1")
        let bundle = try authority.pair(token: token, presentedName: "gw1", from: ["127.0.0.1"])
        let store = try QuarantineStore.open(directory: managerHome + "/quarantine")
        // The gateway's filter names Legal: the manager defines it (else it would be held in Unclassified).
        try await store.addQuarantine(QuarantineDefinition(name: "Legal"), by: "admin")
        let log = MailLog(inMemoryKeeping: 100)

        let paired = authority.pairedGateways
        let serverTLS = try CPQTLSConfiguration().makeServerContext(
            identity: authority.managerIdentity, authority: authority.certificate,
            acceptClient: { paired.isPaired(fingerprint: $0.fingerprint) })
        let cpq = CPQServerConfiguration(requireTLS: true)
        var smtp = cpq.smtpConfiguration(SMTPServerConfiguration(listenerName: "cpq_listener", hostname: "manager.test",
                                                                 tlsContext: serverTLS.sslContext))
        smtp.makeTLSHandler = { _ in serverTLS.makeHandler() }
        let listener = try await SMTPServer.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton,
                                                 configuration: smtp) {
            CPQServerDelegate(backend: .manager(QuarantineBackend(store: store, paired: paired, log: log, icid: 1,
                                                                  interfaceName: "Management")), configuration: cpq)
        }.get()
        let cpqPort = try #require(listener.localAddress?.port)

        let sink = try SMTPSink()
        let gateway = try GatewayInstance(smarthostPort: sink.port, cpqPort: cpqPort, cpqTLS: "required", scanning: #"""
            antivirus: {enabled: off}
            message_filters: |
              hold_it: if (subject == '^hold me') { quarantine("Policy"); }
              legal: if (subject == 'contract') { quarantine("Legal"); }
            quarantines: [Legal]
            """#)
        try bundle.write(to: gateway.home + "/cpq")
        try gateway.start()
        defer { gateway.stop(); sink.stop() }

        let (status, output) = try Harness.run(try Harness.tool("swaks"), [
            "--server", "127.0.0.1:\(gateway.port)", "--from", "alice@sender.example", "--to", "bob@rcpt.example",
            "--header", "Subject: hold me, a contract", "--body", "the original body",
        ])
        #expect(status == 0, "\(output)")
        let mid = try #require(output.range(of: #"queued as MID \d+"#, options: .regularExpression)
            .flatMap { Int(output[$0].split(separator: " ").last!) })

        var stored: QuarantinedMessage?
        for _ in 0..<600 where stored == nil {
            stored = try await store.list(limit: 10).items.first
            if stored == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let message = try #require(stored, "nothing reached the quarantine store: \(gateway.mailLogs)")
        #expect(message.gateway == "gw1")
        #expect(message.gatewayMID == UInt64(mid))
        #expect(message.transferID == "t-gw1-\(mid)")
        #expect(message.mailFrom == "alice@sender.example")
        #expect(message.recipients == ["bob@rcpt.example"])
        #expect(message.subject == "hold me, a contract")
        #expect(message.heldIn.sorted() == ["Legal", "Policy"])
        #expect(message.resumeAt == .antivirus)
        let body = String(decoding: try await store.body(message.qid), as: UTF8.self)
        #expect(body.contains("the original body"))

        try Harness.waitUntil("the delivery log lines") { gateway.mailLogs.contains("(centralized policy quarantine)") }
        let logs = gateway.mailLogs
        #expect(logs.range(of: #"Delivery start DCID \d+ MID \#(mid) to RID \[0\] to Centralized Policy Quarantine"#,
                           options: .regularExpression) != nil, "\(logs)")
        #expect(logs.range(of: #"DCID \d+ TLS success protocol TLSv1\.\d"#, options: .regularExpression) != nil, "\(logs)")
        #expect(try await store.list(limit: 10).items.count == 1)
        #expect(sink.messages.isEmpty, "a quarantined message was delivered")
        try await listener.close()
        try store.close()
    }
}

/// A manager whose certificate is not from the gateway's CPQ CA: refused by the
/// gateway with the admin's words, and the mail stays in the.cpq.host.
@Suite(.serialized)
struct CPQWrongManagerTests {
    @Test("a manager from another CPQ CA is refused and quarantined mail waits")
    func wrongCA() throws {
        let managerHome = try Harness.makeTempDirectory("manager")
        let otherHome = try Harness.makeTempDirectory("other-ca")
        defer {
            try? FileManager.default.removeItem(atPath: managerHome)
            try? FileManager.default.removeItem(atPath: otherHome)
        }
        let cpqPort = Harness.freePort()
        try ManagerConfigurationText.yaml(port: cpqPort).write(toFile: managerHome + "/manager.yaml", atomically: true, encoding: .utf8)
        // The gateway joined another manager (another CA).
        let other = try CPQAuthority.loadOrCreate(directory: otherHome + "/cpq", managerHostname: "other.test")
        let bundle = try other.pair(token: try other.pairingTokens.create(gatewayName: "gw9"), presentedName: "gw9")
        let manager = try Background(try Harness.lazaretBinary, ["manager", "--config", managerHome + "/manager.yaml"],
                                     logPath: managerHome + "/stdout.log")
        defer { manager.stop() }
        try Harness.waitUntil("the manager's cpq_listener (output: \(manager.output))", seconds: 90) { Harness.isListening(cpqPort) }

        let sink = try SMTPSink()
        let gateway = try GatewayInstance(smarthostPort: sink.port, cpqPort: cpqPort, cpqTLS: "required", scanning: #"""
            antivirus: {enabled: off}
            message_filters: |
              hold_it: if (true) { quarantine("Policy"); }
            """#)
        try bundle.write(to: gateway.home + "/cpq")
        try gateway.start()
        defer { gateway.stop(); sink.stop() }
        let (status, output) = try Harness.run(try Harness.tool("swaks"), [
            "--server", "127.0.0.1:\(gateway.port)", "--from", "alice@sender.example", "--to", "bob@rcpt.example"])
        #expect(status == 0, "\(output)")
        try Harness.waitUntil("the refused TLS") { gateway.mailLogs.contains("TLS was required but could not be successfully negotiated") }
        let logs = gateway.mailLogs
        #expect(logs.range(of: #"DCID \d+ TLS failed: verify error: certificate not signed by the CPQ CA"#,
                           options: .regularExpression) != nil, "\(logs)")
        #expect(!logs.contains("quarantined as QID"))
        #expect(!logs.contains("Message finished"), "the message must stay queued")
    }
}

/// The same flow with two real processes: `lazaret manager` and `lazaret gateway`, the
/// gateway paired with a token from `lazaret manager pair`.
@Suite(.serialized)
struct ManagerProcessTests {
    @Test("lazaret gateway transfers quarantined mail to lazaret manager over CPQ")
    func twoProcesses() async throws {
        let managerHome = try Harness.makeTempDirectory("manager")
        defer { try? FileManager.default.removeItem(atPath: managerHome) }
        let cpqPort = Harness.freePort()
        let managerConfig = ManagerConfigurationText.yaml(port: cpqPort)
        try managerConfig.write(toFile: managerHome + "/manager.yaml", atomically: true, encoding: .utf8)

        // A token from the CLI; the gateway's credentials from redeeming it.
        let (status, token) = try Harness.run(try Harness.lazaretBinary, ["manager", "pair", "--config", managerHome + "/manager.yaml", "--name", "gw7"])
        #expect(status == 0, "\(token)")
        let authority = try CPQAuthority.loadOrCreate(directory: managerHome + "/cpq", managerHostname: "manager.lazaret.local",
                                                      managerAddresses: ["127.0.0.1"])
        // The token is the first line; the second says how to join with it.
        let tokenLine = String(token.split(separator: "\n").first ?? "")
        #expect(token.contains("lazaret gateway join --manager 127.0.0.1:\(cpqPort) --token \(tokenLine) --name gw7"), "\(token)")
        let bundle = try authority.pair(token: tokenLine.trimmingCharacters(in: .whitespacesAndNewlines), presentedName: "gw7")

        let manager = try Background(try Harness.lazaretBinary, ["manager", "--config", managerHome + "/manager.yaml"],
                                     logPath: managerHome + "/stdout.log")
        defer { manager.stop() }
        try Harness.waitUntil("the manager's cpq_listener (output: \(manager.output))", seconds: 90) {
            if !manager.process.isRunning { throw Harness.Failure("lazaret manager exited: \(manager.output)") }
            return Harness.isListening(cpqPort)
        }

        let sink = try SMTPSink()
        let gateway = try GatewayInstance(smarthostPort: sink.port, cpqPort: cpqPort, cpqTLS: "required", scanning: #"""
            antivirus: {enabled: off}
            message_filters: |
              hold_it: if (subject == '^hold me') { quarantine("Policy"); }
            """#)
        try bundle.write(to: gateway.home + "/cpq")
        try gateway.start()
        defer { gateway.stop(); sink.stop() }

        let (sent, output) = try Harness.run(try Harness.tool("swaks"), [
            "--server", "127.0.0.1:\(gateway.port)", "--from", "alice@sender.example", "--to", "bob@rcpt.example",
            "--header", "Subject: hold me please",
        ])
        #expect(sent == 0, "\(output)")
        let managerLogs = { (try? String(contentsOfFile: managerHome + "/logs/mail_logs", encoding: .utf8)) ?? "" }
        try Harness.waitUntil("the transfer stored on the manager") { managerLogs().contains("stored from gw7 MID") }
        let logs = managerLogs()
        #expect(logs.range(of: #"Info: New CPQ ICID \d+ interface Management \(127\.0\.0\.1\) address 127\.0\.0\.1"#,
                           options: .regularExpression) != nil, "\(logs)")
        #expect(logs.contains(#"in "Policy" (message filter:hold_it)"#), "\(logs)")
        try Harness.waitUntil("the gateway's 250 from the manager") { gateway.mailLogs.contains("Ok: quarantined as QID") }
        #expect(sink.messages.isEmpty)

        // What an admin checks: the banner and the certificate chain with openssl s_client.
        let (_, sClient) = try Harness.run(try Harness.tool("openssl"), [
            "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:\(cpqPort)", "-showcerts",
            "-CAfile", managerHome + "/cpq/ca.pem", "-cert", gateway.home + "/cpq/gateway.pem", "-key", gateway.home + "/cpq/gateway.key",
        ], input: "QUIT\r\n", timeout: 60)
        #expect(sClient.contains("Lazaret CPQ CA"), "\(sClient)")
        #expect(sClient.contains("Verify return code: 0 (ok)"), "\(sClient)")
        #expect(sClient.contains("250") || sClient.contains("221"), "no SMTP answer through TLS: \(sClient)")

        // A plaintext client gets nothing but the STARTTLS demand; a TLS client without a
        // certificate may only join (XCPQ JOIN), so its MAIL is refused.
        let (_, plaintext) = try Harness.run(try Harness.tool("swaks"), [
            "--server", "127.0.0.1:\(cpqPort)", "--from", "x@example.org", "--to", "y@example.org"])
        #expect(plaintext.contains("530 5.7.0 Must issue a STARTTLS command first"), "\(plaintext)")
        let (anonymousStatus, anonymous) = try Harness.run(try Harness.tool("swaks"), [
            "--server", "127.0.0.1:\(cpqPort)", "--tls", "--from", "x@example.org", "--to", "y@example.org"])
        #expect(anonymousStatus != 0 && !anonymous.contains("250 2.1.0"), "\(anonymous)")
        #expect(anonymous.contains("530 5.7.1 No client certificate: only XCPQ JOIN is taken without one"), "\(anonymous)")
        try Harness.waitUntil("the session without a certificate in the manager's mail_logs") {
            managerLogs().range(of: #"ICID \d+ TLS success protocol TLSv1\.\d cipher \S+ no client certificate \(only XCPQ JOIN is taken\)"#,
                                options: .regularExpression) != nil
        }
        // Only anonymous ciphers offered: no suite in common, no session.
        let (anonStatus, anonOutput) = try Harness.run(try Harness.tool("openssl"), [
            "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:\(cpqPort)", "-tls1_2", "-cipher", "aNULL:@SECLEVEL=0",
        ], input: "QUIT\r\n", timeout: 60)
        #expect(anonStatus != 0 && anonOutput.contains("alert handshake failure") && anonOutput.contains("Cipher is (NONE)"), "\(anonOutput)")
        // A certificate from another CA gets no session at all (the client trusts our CA, so
        // that it is the manager who refuses).
        let other = try CPQAuthority.loadOrCreate(directory: managerHome + "/other-ca", managerHostname: "other.test")
        let stranger = try other.pair(token: try other.pairingTokens.create(gatewayName: "gw7"), presentedName: "gw7")
        let strangerTLS = try CPQTLSConfiguration().makeClientContext(identity: try stranger.identity(), trustRoot: authority.certificate)
        var options = SMTPClientOptions(localHostname: "stranger.test", tlsContext: strangerTLS.sslContext, tlsRequired: true)
        options.makeTLSHandler = { _, name in try strangerTLS.makeHandler(serverHostname: name) }
        await #expect(throws: (any Error).self) {
            let connection = try await SMTPClientConnection.connect(host: "127.0.0.1", port: cpqPort,
                                                                    group: MultiThreadedEventLoopGroup.singleton, options: options)
            await connection.quit()
        }
        try Harness.waitUntil("the refused certificate in the manager's mail_logs: \(managerLogs())") {
            managerLogs().range(of: #"ICID \d+ close \(TLS failed: verify error: certificate not signed by the CPQ CA"#,
                                options: .regularExpression) != nil
        }
        #expect(stored(managerLogs()) == 1)
    }

    private func stored(_ logs: String) -> Int { logs.components(separatedBy: " stored from ").count - 1 }
}

enum ManagerConfigurationText {
    /// `webPort` 0: the API on a free port nobody needs to know; `sshPort` 0 likewise for the
    /// admin CLI over SSH.
    static func yaml(port: Int, webPort: Int = 0, sshPort: Int = 0, sshUsers: String = "[]") -> String {
        """
        hostname: manager.lazaret.local
        cpq_listener: {address: 127.0.0.1, port: \(port), max_connections: 20}
        web: {address: 127.0.0.1, port: \(webPort)}
        ssh: {port: \(sshPort), users: \(sshUsers)}
        cpq: {directory: cpq}
        store: {directory: quarantine}
        logs: {mail_logs: logs/mail_logs}

        """
    }
}

/// Exactly once across a crash of the manager: kill -9 while transfers flow, start it
/// again; every quarantined message is in the store once.
@Suite(.serialized)
struct ManagerCrashTests {
    @Test("kill -9 of the manager during transfers: each quarantined message stored exactly once")
    func killNineManager() async throws {
        let managerHome = try Harness.makeTempDirectory("manager")
        defer { try? FileManager.default.removeItem(atPath: managerHome) }
        let cpqPort = Harness.freePort()
        try ManagerConfigurationText.yaml(port: cpqPort).write(toFile: managerHome + "/manager.yaml", atomically: true, encoding: .utf8)
        // Paired by the CLI, which writes the gateway's CPQ files.
        let gatewayFiles = managerHome + "/gw8-cpq"
        let (paired, pairOutput) = try Harness.run(try Harness.lazaretBinary, [
            "manager", "pair", "--config", managerHome + "/manager.yaml", "--name", "gw8", "--write-gateway-files", gatewayFiles])
        #expect(paired == 0 && pairOutput.contains("gateway gw8 paired"), "\(pairOutput)")
        let bundle = try CPQJoinBundle.read(from: gatewayFiles)

        func startManager(_ n: Int) throws -> Background {
            let manager = try Background(try Harness.lazaretBinary, ["manager", "--config", managerHome + "/manager.yaml"],
                                         logPath: managerHome + "/stdout-\(n).log")
            try Harness.waitUntil("the manager's cpq_listener (output: \(manager.output))", seconds: 90) {
                if !manager.process.isRunning { throw Harness.Failure("lazaret manager exited: \(manager.output)") }
                return Harness.isListening(cpqPort)
            }
            return manager
        }
        var manager = try startManager(1)
        let sink = try SMTPSink()
        let gateway = try GatewayInstance(smarthostPort: sink.port, cpqPort: cpqPort, cpqTLS: "required", scanning: #"""
            antivirus: {enabled: off}
            message_filters: |
              hold_all: if (true) { quarantine("Policy"); }
            """#)
        try bundle.write(to: gateway.home + "/cpq")
        try gateway.start()
        defer { gateway.stop(); sink.stop(); manager.stop() }

        let total = 300
        let source = try Background(try Harness.tool("smtp-source"), [
            "-s", "10", "-m", "\(total)", "-l", "2048", "-f", "load@sender.example", "-t", "held@rcpt.example",
            "127.0.0.1:\(gateway.port)"], logPath: gateway.home + "/smtp-source.log")
        defer { source.stop() }
        let managerLogs = { (try? String(contentsOfFile: managerHome + "/logs/mail_logs", encoding: .utf8)) ?? "" }
        try Harness.waitUntil("the first transfers stored") { managerLogs().components(separatedBy: "stored from gw8").count > 5 }
        manager.kill9()
        let storedAtCrash = managerLogs().components(separatedBy: "stored from gw8").count - 1
        #expect(storedAtCrash < total, "the crash came after every transfer; it tested nothing")
        manager = try startManager(2)
        try Harness.waitUntil("smtp-source to finish", seconds: 240) { !source.process.isRunning }

        let quarantinedAtGateway = { gateway.mailLogs.components(separatedBy: "Ok: quarantined as QID").count - 1
            + gateway.mailLogs.components(separatedBy: "Ok: already stored as QID").count - 1 }
        try Harness.waitUntil("every message transferred", seconds: 240) { quarantinedAtGateway() >= total }
        manager.stop()

        let store = try QuarantineStore.open(directory: managerHome + "/quarantine")
        var mids: [UInt64] = []
        var cursor: String?
        repeat {
            let page = try await store.list(limit: 100, after: cursor)
            mids += page.items.map(\.gatewayMID)
            cursor = page.next
        } while cursor != nil
        try store.close()
        #expect(mids.count == total, "stored \(mids.count) messages for \(total) quarantined")
        #expect(Set(mids).count == mids.count, "a transfer was stored twice")
        #expect(sink.messages.isEmpty)
    }
}
