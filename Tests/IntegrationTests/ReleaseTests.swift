import CPQ
import CPQTLS
import Foundation
import NIOCore
import NIOPosix
import QuarantineStore
import SMTPProtocol
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Flow 2 with real processes: `lazaret manager` and `lazaret gateway` paired by the CLI,
/// mail quarantined on the gateway and stored on the manager, released there, sent back
/// over CPQ by `the.cpq.release.host` to the gateway's cpq_listener, and delivered by the
/// gateway to smtp-sink — once, with its original content; the outcome is reported back
/// to the manager over CPQ.
struct ReleaseSetup {
    let managerHome: String
    let cpqPort: Int
    let gatewayCPQPort: Int
    /// The manager's web/API port.
    let webPort: Int
    let sinkPort: Int
    /// The manager's admin SSH port (the gateway's is `gateway.sshPort`).
    let managerSSHPort: Int
    let sinkArguments: [String]
    let gateway: GatewayInstance
    let clamd: Clamd?
    let files: String
    private let managerBox = Box()

    final class Box { var manager: Background?; var starts = 0; var sink: SMTPSink?; var tokens: [String: String] = [:] }

    var managerConfig: String { managerHome + "/manager.yaml" }
    var managerLogs: String { (try? String(contentsOfFile: managerHome + "/logs/mail_logs", encoding: .utf8)) ?? "" }

    /// `startSink: false`: nothing listens on the smarthost port until `startSink()`.
    /// `sshUsers`: `ssh.users` of both roles (a YAML flow list). `pairOverSSH`: the manager
    /// learns the gateway's cpq_listener over SSH (host key pinned with `manager set-ssh`)
    /// instead of from `--cpq-listener`; `gatewaySSH: false` starts the gateway without SSH.
    init(filters: String, sinkArguments: [String] = [], antivirus: Bool = false, startSink: Bool = true, extraYAML: String = "",
         sshUsers: String = "[]", pairOverSSH: Bool = false, gatewaySSH: Bool = true) throws {
        managerHome = try Harness.makeTempDirectory("manager")
        cpqPort = Harness.freePort()
        gatewayCPQPort = Harness.freePort()
        webPort = Harness.freePort()
        managerSSHPort = Harness.freePort()
        try (ManagerConfigurationText.yaml(port: cpqPort, webPort: webPort, sshPort: managerSSHPort, sshUsers: sshUsers) + """
            release_queue: {max_connections: 2, retry_initial_s: 1, retry_max_s: 2, rescan_s: 1}

            """).write(toFile: managerHome + "/manager.yaml", atomically: true, encoding: .utf8)
        let gatewayFiles = managerHome + "/gw1-cpq"
        let (paired, pairOutput) = try Harness.run(try Harness.lazaretBinary, [
            "manager", "pair", "--config", managerHome + "/manager.yaml", "--name", "gw1", "--write-gateway-files", gatewayFiles,
            "--cpq-listener", "127.0.0.1:\(gatewayCPQPort)"])
        guard paired == 0 else { throw Harness.Failure("lazaret manager pair failed: \(pairOutput)") }
        let bundle = try CPQJoinBundle.read(from: gatewayFiles)

        sinkPort = Harness.freePort()
        self.sinkArguments = sinkArguments
        if startSink { managerBox.sink = try SMTPSink(port: sinkPort, extraArguments: sinkArguments) }
        clamd = antivirus ? try Clamd() : nil
        let indented = filters.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n")
        let antivirusYAML = clamd.map { "antivirus:\n  enabled: on\n  clamd: \($0.socketPath)\n  retry_s: 1" } ?? "antivirus: {enabled: off}"
        gateway = try GatewayInstance(smarthostPort: sinkPort, cpqPort: cpqPort, cpqTLS: "required", scanning: """
            message_filters: |
            \(indented)
            \(antivirusYAML)
            cpq: {directory: cpq, listener_port: \(gatewayCPQPort), report_retry_s: 1}
            \(extraYAML)
            """, sshUsers: sshUsers, sshEnabled: gatewaySSH)
        try bundle.write(to: gateway.home + "/cpq")
        if pairOverSSH {
            // The gateway's host key, made before its first start, pinned on the manager.
            let lazaret = try Harness.lazaretBinary
            let (made, keyOutput) = try Harness.run(lazaret, ["ssh", "keygen", "--out", gateway.home + "/ssh_host_ed25519_key"])
            guard made == 0, let line = keyOutput.split(separator: "\n").first(where: { $0.hasPrefix("ssh-ed25519 ") }) else {
                throw Harness.Failure("lazaret ssh keygen: \(keyOutput)")
            }
            let (set, setOutput) = try Harness.run(lazaret, ["manager", "set-ssh", "--config", managerHome + "/manager.yaml", "--name", "gw1",
                                                             "127.0.0.1:\(gateway.sshPort)", "--host-key", String(line)])
            guard set == 0 else { throw Harness.Failure("lazaret manager set-ssh: \(setOutput)") }
        }
        files = try Harness.makeTempDirectory("attachments")
        try startManager()
        try gateway.start()
        try Harness.waitUntil("the gateway's cpq_listener on port \(gatewayCPQPort)") { Harness.isListening(gatewayCPQPort) }
    }

    var manager: Background? { managerBox.manager }
    /// The next hop (smtp-sink); started later when the setup says so.
    var sink: SMTPSink { managerBox.sink! }

    func startSink() throws {
        managerBox.sink = try SMTPSink(port: sinkPort, extraArguments: sinkArguments)
    }

    /// `lazaret quarantine ...` against the running manager's API as `user` (an admin
    /// made on first use, or one `token(for:role:)` made); fails the test when it exits non-zero.
    @discardableResult
    func cli(_ args: [String], as user: String = "admin") throws -> String {
        let token = try self.token(for: user)
        let (status, output) = try Harness.run(try Harness.lazaretBinary, ["quarantine"] + args + ["--config", managerConfig, "--token", token])
        guard status == 0 else { throw Harness.Failure("lazaret quarantine \(args.joined(separator: " ")) exited \(status): \(output)") }
        return output
    }

    /// The API token of `user`, who is made (with `role`) on first use.
    func token(for user: String, role: String = "admin") throws -> String {
        if let token = managerBox.tokens[user] { return token }
        let lazaret = try Harness.lazaretBinary
        let (added, addOutput) = try Harness.run(lazaret, ["manager", "user", "add", user, "--role", role, "--config", managerConfig])
        guard added == 0 else { throw Harness.Failure("lazaret manager user add \(user): \(addOutput)") }
        let (created, output) = try Harness.run(lazaret, ["manager", "token", "create", user, "--config", managerConfig])
        guard created == 0 else { throw Harness.Failure("lazaret manager token create \(user): \(output)") }
        let token = output.trimmingCharacters(in: .whitespacesAndNewlines)
        managerBox.tokens[user] = token
        return token
    }

    /// QIDs of the messages stored so far, from the manager's mail_logs, in order.
    func qids() -> [String] {
        let logs = managerLogs
        return logs.matches(of: #/QID (Q[A-Z2-7]{16}) stored from gw1 /#).map { String($0.1) }
    }

    func startManager() throws {
        managerBox.starts += 1
        let manager = try Background(try Harness.lazaretBinary, ["manager", "--config", managerConfig],
                                     logPath: managerHome + "/stdout-\(managerBox.starts).log")
        managerBox.manager = manager
        let port = cpqPort, web = webPort
        try Harness.waitUntil("the manager's cpq_listener and API (output: \(manager.output))", seconds: 90) {
            if !manager.process.isRunning { throw Harness.Failure("lazaret manager exited: \(manager.output)") }
            return Harness.isListening(port) && Harness.isListening(web)
        }
    }

    func stopManager() {
        managerBox.manager?.stop()
        managerBox.manager = nil
    }

    func stop() {
        gateway.stop()
        stopManager()
        managerBox.sink?.stop()
        clamd?.stop()
        try? FileManager.default.removeItem(atPath: managerHome)
        try? FileManager.default.removeItem(atPath: files)
    }

    func attachment(_ name: String, _ content: String) throws -> String {
        let path = files + "/" + name
        try content.write(toFile: path, atomically: true, encoding: .utf8)
        return "@" + path
    }

    /// swaks through the gateway; returns the MID it gave.
    @discardableResult
    func send(to: String = "bob@rcpt.example", subject: String, messageID: String, attach: String? = nil) throws -> Int {
        var arguments = ["--server", "127.0.0.1:\(gateway.port)", "--from", "alice@sender.example", "--to", to,
                         "--header", "Subject: \(subject)", "--header", "Message-ID: <\(messageID)>",
                         "--body", "original body of \(subject)"]
        if let attach { arguments += ["--attach", attach] }
        let (status, output) = try Harness.run(try Harness.tool("swaks"), arguments)
        guard status == 0, let range = output.range(of: #"queued as MID \d+"#, options: .regularExpression),
              let mid = Int(output[range].split(separator: " ").last!) else {
            throw Harness.Failure("swaks failed: \(output)")
        }
        return mid
    }

    func storedCount() -> Int { managerLogs.components(separatedBy: " stored from gw1 ").count - 1 }

    /// With the manager stopped: runs `body` on its store.
    func withStore<T>(_ body: (QuarantineStore) async throws -> T) async throws -> T {
        let store = try QuarantineStore.open(directory: managerHome + "/quarantine")
        do {
            let result = try await body(store)
            try store.close()
            return result
        } catch {
            try? store.close()
            throw error
        }
    }

    /// Every message in the store.
    static func all(_ store: QuarantineStore) async throws -> [QuarantinedMessage] {
        var items: [QuarantinedMessage] = []
        var cursor: String?
        repeat {
            let page = try await store.list(limit: 200, after: cursor)
            items += page.items
            cursor = page.next
        } while cursor != nil
        return items
    }

    /// Releases every held message: the manager is stopped, each is released in its store
    /// (recorded as `requested`), and the manager started again queues them from the store.
    func releaseAllWhileManagerIsDown() async throws -> [QuarantinedMessage] {
        stopManager()
        let messages = try await withStore { store in
            let items = try await ReleaseSetup.all(store)
            for item in items { _ = try await store.release(item.qid, from: nil, by: "test-operator") }
            return items
        }
        try startManager()
        return messages
    }

    /// Files in the sink holding `needle`.
    func sinkCount(_ needle: String) -> Int { (managerBox.sink?.messages ?? []).filter { $0.contains(needle) }.count }
}

@Suite(.serialized)
struct ReleaseTests {
    @Test("a policy hit and an EICAR attachment are released and arrive at smtp-sink once, as they were")
    func policyAndVirusReleased() async throws {
        let setup = try ReleaseSetup(filters: #"hold_it: if (subject == '^hold me') { quarantine("Policy"); }"#, antivirus: true)
        defer { setup.stop() }
        let policyMID = try setup.send(subject: "hold me for policy", messageID: "policy-1@sender.example")
        let virusMID = try setup.send(subject: "a virus", messageID: "virus-1@sender.example",
                                      attach: try setup.attachment("eicar.com", Clamd.eicar))
        try Harness.waitUntil("both messages stored on the manager") { setup.storedCount() == 2 }
        #expect(setup.sink.messages.isEmpty, "a quarantined message was delivered")

        // Released by an operator with the CLI, one at a time, while the manager runs.
        let qids = setup.qids()
        #expect(qids.count == 2)
        for qid in qids {
            let output = try setup.cli(["release", qid], as: "alice")
            #expect(output.contains("QID \(qid) released from all quarantines; release "), "\(output)")
        }
        try Harness.waitUntil("both released messages at smtp-sink", seconds: 120) {
            setup.sinkCount("policy-1@sender.example") >= 1 && setup.sinkCount("virus-1@sender.example") >= 1
        }
        // Delivered means reported: wait for both reports on the manager, then check nothing came twice.
        try Harness.waitUntil("the delivered reports on the manager", seconds: 120) {
            setup.managerLogs.components(separatedBy: "to <bob@rcpt.example>: delivered").count - 1 >= 2
        }
        #expect(setup.sinkCount("policy-1@sender.example") == 1)
        #expect(setup.sinkCount("virus-1@sender.example") == 1)
        let policy = try #require(setup.sink.messages.first { $0.contains("policy-1@sender.example") })
        #expect(policy.contains("Subject: hold me for policy"))
        #expect(policy.contains("original body of hold me for policy"))
        let virus = try #require(setup.sink.messages.first { $0.contains("virus-1@sender.example") })
        #expect(virus.contains("WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNU")
                && virus.contains("LUZJTEUhJEgrSCo="), "the attachment is not the original: \(virus)")

        let gatewayLogs = setup.gateway.mailLogs
        #expect(gatewayLogs.contains("released by the manager from \"Policy\""), "\(gatewayLogs)")
        #expect(gatewayLogs.contains("released by the manager from \"Virus\""), "\(gatewayLogs)")
        #expect(gatewayLogs.range(of: #"New CPQ ICID \d+ interface Management \(127\.0\.0\.1\) address 127\.0\.0\.1"#,
                                  options: .regularExpression) != nil, "\(gatewayLogs)")
        let managerLogs = setup.managerLogs
        #expect(managerLogs.range(of: #"Delivery start DCID \d+ MID \d+ to RID \[0\] to Centralized Policy Quarantine release"#,
                                  options: .regularExpression) != nil, "\(managerLogs)")
        #expect(managerLogs.range(of: #"DCID \d+ TLS success protocol TLSv1\.\d"#, options: .regularExpression) != nil, "\(managerLogs)")

        // The store shows each release accepted by the gateway and delivered, with the next hop's reply.
        setup.stopManager()
        let histories = try await setup.withStore { store in
            var result: [UInt64: [ReleaseRecord]] = [:]
            for qid in qids {
                let id = try #require(QID(qid))
                let message = try #require(try await store.message(id))
                #expect(Set(message.holds.map(\.quarantine)).isSubset(of: ["Policy", "Virus"]))
                result[message.gatewayMID] = try await store.releaseHistory(id)
            }
            return result
        }
        for mid in [policyMID, virusMID] {
            let history = try #require(histories[UInt64(mid)], "no history for MID \(mid)")
            #expect(history.count == 1)
            #expect(history.first?.state == .accepted)
            #expect(history.first?.acceptedMID != nil)
            #expect(history.first?.requestedBy == "api:alice")
            let outcome = try #require(history.first?.outcomes.first { $0.status == .delivered }, "\(history)")
            #expect(outcome.recipient == "bob@rcpt.example")
            #expect(outcome.reply.hasPrefix("250"), "\(outcome.reply)")
        }
    }

    @Test("a release the next hop refuses with 550 shows as bounced on the manager, with that reply")
    func refusedReleaseIsBounced() async throws {
        let setup = try ReleaseSetup(filters: #"hold_it: if (true) { quarantine("Policy"); }"#,
                                     sinkArguments: ["-B", "550 5.1.1 No such user here", "-f", "RCPT"])
        defer { setup.stop() }
        try setup.send(to: "nobody@rcpt.example", subject: "hold me", messageID: "refused-1@sender.example")
        try Harness.waitUntil("the message stored on the manager") { setup.storedCount() == 1 }
        let released = try await setup.releaseAllWhileManagerIsDown()
        let qid = try #require(released.first?.qid)
        try Harness.waitUntil("the bounced report on the manager", seconds: 120) {
            setup.managerLogs.contains("to <nobody@rcpt.example>: bounced")
        }
        setup.stopManager()
        let history = try await setup.withStore { store in try await store.releaseHistory(qid) }
        let outcome = try #require(history.first?.outcomes.first, "\(history)")
        #expect(outcome.status == .bounced)
        #expect(outcome.reply.contains("550 5.1.1 No such user here"), "\(outcome.reply)")
        #expect(!history.contains { $0.outcomes.contains { $0.status == .delivered } }, "a refused release shown as delivered")
    }

    @Test("a message held in two quarantines goes out only once released from both")
    func heldInTwoQuarantines() async throws {
        let setup = try ReleaseSetup(filters: #"""
            hold_it: if (subject == '^hold me') { quarantine("Policy"); }
            legal: if (subject == 'contract') { quarantine("Legal"); }
            """#, extraYAML: "quarantines: [Legal]")
        defer { setup.stop() }
        // The manager defines Legal (a quarantine it does not define is held in Unclassified).
        try Harness.waitUntil("the API answering /health") {
            (try? APIProcessTests.curl("GET", "http://127.0.0.1:\(setup.webPort)/api/v1/health", token: nil).0) == 200
        }
        let (added, addedBody) = try APIProcessTests.curl("POST", "http://127.0.0.1:\(setup.webPort)/api/v1/quarantines",
                                                          token: try setup.token(for: "admin"), body: #"{"name": "Legal"}"#)
        #expect(added == 201, "\(addedBody)")
        try setup.send(subject: "hold me, a contract", messageID: "two-holds@sender.example")
        try Harness.waitUntil("the message stored on the manager") { setup.storedCount() == 1 }
        let qid = try #require(setup.qids().first)

        let first = try setup.cli(["release", qid, "--from", "Policy"])
        #expect(first.contains("QID \(qid) released from \"Policy\"; still held in \"Legal\""), "\(first)")
        // No release exists, so nothing can be on its way to the gateway.
        let shown = try setup.cli(["show", qid])
        #expect(shown.contains("releases: none"), "\(shown)")

        let second = try setup.cli(["release", qid, "--from", "Legal"])
        #expect(second.contains("released from all quarantines"), "\(second)")
        try Harness.waitUntil("the delivered report on the manager", seconds: 120) {
            setup.managerLogs.contains("to <bob@rcpt.example>: delivered")
        }
        #expect(setup.sinkCount("two-holds@sender.example") == 1)
        let done = try setup.cli(["show", qid])
        #expect(done.range(of: #"release \S+ requested by api:admin .* from "Legal", "Policy": accepted"#, options: .regularExpression) != nil, "\(done)")
        #expect(done.contains("<bob@rcpt.example> delivered at"), "\(done)")
    }

    @Test("kill -9 of the gateway while releases arrive: each release is taken once and delivered once")
    func killNineGatewayDuringRelease() async throws {
        // The next hop is down until the end, so that every delivery happens after the
        // crash and a duplicate could only come from a release taken twice.
        let setup = try ReleaseSetup(filters: #"hold_it: if (true) { quarantine("Policy"); }"#, startSink: false)
        defer { setup.stop() }
        let total = 200
        let source = try Background(try Harness.tool("smtp-source"), [
            "-s", "5", "-m", "\(total)", "-l", "1024", "-f", "load@sender.example", "-t", "held@rcpt.example",
            "127.0.0.1:\(setup.gateway.port)"], logPath: setup.gateway.home + "/smtp-source.log")
        defer { source.stop() }
        try Harness.waitUntil("every message stored on the manager", seconds: 180) { setup.storedCount() >= total }
        let bulk = try setup.cli(["release-all"], as: "bulk")
        #expect(bulk.contains("\(total) message(s) released from all their quarantines: \(total) queued for delivery"), "\(bulk)")

        let taken = { ReleaseTests.releaseIDs(setup.gateway.mailLogs, #/released by the manager from "Policy": QID \S+ \(gateway MID \d+\), release (\S+),/#) }
        try Harness.waitUntil("the first releases taken by the gateway", seconds: 120) { taken().count >= 10 }
        setup.gateway.process?.kill9()
        let takenAtCrash = taken()
        #expect(takenAtCrash.count < total, "the crash came after every release; it tested nothing")
        try setup.gateway.start()
        let accepted = { ReleaseTests.releaseIDs(setup.managerLogs, #/release (\S+) (?:was already accepted|accepted) by gateway gw1/#) }
        try Harness.waitUntil("every release accepted by the gateway", seconds: 240) { Set(accepted()).count >= total }
        // (A kill -9 may take the last mail_logs lines with it, so the lines say "no release
        // spooled twice", not "every release logged"; the sink below counts every delivery.)
        let spooled = taken()
        #expect(Set(spooled).count == spooled.count, "a release was spooled twice")

        try setup.startSink()
        try Harness.waitUntil("the delivered reports on the manager", seconds: 240) {
            setup.managerLogs.components(separatedBy: ": delivered").count - 1 >= total
        }
        let delivered = setup.sink.messages.compactMap(ReleaseTests.originalReceived)
        #expect(delivered.count == total, "\(delivered.count) deliveries for \(total) releases")
        #expect(Set(delivered).count == delivered.count, "a released message was delivered twice")
    }

    static func releaseIDs(_ logs: String, _ pattern: Regex<(Substring, Substring)>) -> [String] {
        logs.matches(of: pattern).map { String($0.1) }
    }

    /// The original message's gateway MID in a delivered copy: our Received header from the first pass.
    static func originalReceived(_ text: String) -> String? {
        guard let range = text.range(of: #"\(Lazaret\) with ESMTPS? id (\d+)"#, options: .regularExpression) else { return nil }
        return String(text[range])
    }
}

/// The gateway's cpq_listener seen from outside: the release protocol driven by hand as the
/// manager (the same release sent twice, before and after a restart of the gateway), and the
/// clients it must refuse.
@Suite(.serialized)
struct GatewayCPQListenerTests {
    /// A CPQ client with the manager's certificate, the gateway's certificate pinned.
    static func managerClient(_ setup: ReleaseSetup) throws -> (CPQClientTLS, CPQAuthority) {
        let authority = try CPQAuthority.loadOrCreate(directory: setup.managerHome + "/cpq", managerHostname: "manager.lazaret.local")
        let record = try #require(try authority.pairedGateways.record(named: "gw1"))
        let tls = try CPQTLSConfiguration().makeClientContext(identity: authority.managerIdentity, trustRoot: authority.certificate,
                                                              pinnedServerFingerprint: record.certificateFingerprint)
        return (tls, authority)
    }

    static func release(_ setup: ReleaseSetup, tls: CPQClientTLS, id: String, body: String) async throws -> CPQDeliveryOutcome<CPQQueuedRelease> {
        var options = SMTPClientOptions(localHostname: "manager.test", tlsContext: tls.sslContext, tlsRequired: true)
        options.makeTLSHandler = { _, name in try tls.makeHandler(serverHostname: name) }
        let connection = try await SMTPClientConnection.connect(host: "127.0.0.1", port: setup.gatewayCPQPort,
                                                                group: MultiThreadedEventLoopGroup.singleton, options: options)
        let outcome = await CPQClient.release(
            over: connection, header: CPQReleaseHeader(releaseID: id, mid: 4242, qid: "QTESTQTESTQTESTQT", resume: .contentFilters,
                                                      quarantines: ["Policy"]),
            mailFrom: "alice@sender.example", recipients: ["bob@rcpt.example"], body: ByteBuffer(string: body))
        await connection.quit()
        return outcome
    }

    @Test("a release sent again after a lost reply, also after a gateway restart, is delivered once")
    func retriedReleaseIsDeliveredOnce() async throws {
        let setup = try ReleaseSetup(filters: #"hold_it: if (subject == '^never') { quarantine("Policy"); }"#)
        defer { setup.stop() }
        let (tls, _) = try Self.managerClient(setup)
        let body = "Subject: released by hand\r\nMessage-ID: <by-hand-1@sender.example>\r\n\r\nthe released body\r\n"
        let first = try await Self.release(setup, tls: tls, id: "r-by-hand-1", body: body)
        guard case .accepted(let queued) = first else { Issue.record("first release: \(first)"); return }
        #expect(!queued.alreadyQueued)
        let second = try await Self.release(setup, tls: tls, id: "r-by-hand-1", body: body)
        #expect(second == .accepted(CPQQueuedRelease(mid: queued.mid, alreadyQueued: true)), "\(second)")

        setup.gateway.process?.kill9()
        try setup.gateway.start()
        try Harness.waitUntil("the gateway's cpq_listener again") { Harness.isListening(setup.gatewayCPQPort) }
        let third = try await Self.release(setup, tls: tls, id: "r-by-hand-1", body: body)
        #expect(third == .accepted(CPQQueuedRelease(mid: queued.mid, alreadyQueued: true)), "\(third)")

        try Harness.waitUntil("the released message at smtp-sink") { setup.sinkCount("by-hand-1@sender.example") >= 1 }
        // A fresh release id after it proves the queue moved on: everything before it has been delivered or not at all.
        let other = try await Self.release(setup, tls: tls, id: "r-by-hand-2", body: body.replacingOccurrences(of: "by-hand-1", with: "by-hand-2"))
        guard case .accepted = other else { Issue.record("second release id: \(other)"); return }
        try Harness.waitUntil("the second released message at smtp-sink") { setup.sinkCount("by-hand-2@sender.example") >= 1 }
        #expect(setup.sinkCount("by-hand-1@sender.example") == 1, "the release was delivered \(setup.sinkCount("by-hand-1@sender.example")) times")
        let logs = setup.gateway.mailLogs
        #expect(logs.contains("release r-by-hand-1 of QID QTESTQTESTQTESTQT was already queued as MID \(queued.mid); nothing is delivered twice"), "\(logs)")
    }

    @Test("the gateway's cpq_listener: banner and chain for openssl s_client; a plaintext client, a gateway's certificate and no certificate are refused")
    func refusedClients() async throws {
        let setup = try ReleaseSetup(filters: #"hold_it: if (subject == '^never') { quarantine("Policy"); }"#)
        defer { setup.stop() }
        let cpq = setup.managerHome + "/cpq"
        let (_, sClient) = try Harness.run(try Harness.tool("openssl"), [
            "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:\(setup.gatewayCPQPort)", "-showcerts",
            "-CAfile", cpq + "/ca.pem", "-cert", cpq + "/manager.pem", "-key", cpq + "/manager.key",
        ], input: "QUIT\r\n", timeout: 60)
        #expect(sClient.contains("Lazaret CPQ CA") && sClient.contains("s:CN = gw1"), "\(sClient)")
        #expect(sClient.contains("250") || sClient.contains("221"), "no SMTP answer through TLS: \(sClient)")
        #expect(sClient.contains("Verify return code: 0 (ok)"), "\(sClient)")

        let (_, plaintext) = try Harness.run(try Harness.tool("swaks"), [
            "--server", "127.0.0.1:\(setup.gatewayCPQPort)", "--from", "x@example.org", "--to", "y@example.org"])
        #expect(plaintext.contains("220 gw.test.lazaret ESMTP Lazaret CPQ"), "\(plaintext)")
        #expect(plaintext.contains("530 5.7.0 Must issue a STARTTLS command first"), "\(plaintext)")

        // Another gateway of the same CA may not release to this one.
        let (tls, authority) = try Self.managerClient(setup)
        _ = tls
        let gw2 = try authority.pair(token: try authority.pairingTokens.create(gatewayName: "gw2"), presentedName: "gw2")
        let gw2TLS = try CPQTLSConfiguration().makeClientContext(identity: try gw2.identity(), trustRoot: try gw2.caCertificate())
        var options = SMTPClientOptions(localHostname: "gw2.test", tlsContext: gw2TLS.sslContext, tlsRequired: true)
        options.makeTLSHandler = { _, name in try gw2TLS.makeHandler(serverHostname: name) }
        await #expect(throws: (any Error).self) {
            let connection = try await SMTPClientConnection.connect(host: "127.0.0.1", port: setup.gatewayCPQPort,
                                                                    group: MultiThreadedEventLoopGroup.singleton, options: options)
            await connection.quit()
        }
        // Only anonymous ciphers offered: no suite in common, no session.
        let (anonStatus, anonOutput) = try Harness.run(try Harness.tool("openssl"), [
            "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:\(setup.gatewayCPQPort)", "-tls1_2", "-cipher", "aNULL:@SECLEVEL=0",
        ], input: "QUIT\r\n", timeout: 60)
        #expect(anonStatus != 0 && anonOutput.contains("alert handshake failure") && anonOutput.contains("Cipher is (NONE)"), "\(anonOutput)")
        let (anonymousStatus, anonymous) = try Harness.run(try Harness.tool("swaks"), [
            "--server", "127.0.0.1:\(setup.gatewayCPQPort)", "--tls", "--from", "x@example.org", "--to", "y@example.org"])
        #expect(anonymousStatus != 0 && !anonymous.contains("250 2.1.0"), "\(anonymous)")
        try Harness.waitUntil("the refused sessions in the gateway's mail_logs: \(setup.gateway.mailLogs)") {
            let logs = setup.gateway.mailLogs
            return logs.range(of: #"ICID \d+ close \(TLS failed: verify error: no certificate from client\)"#, options: .regularExpression) != nil
                && logs.range(of: #"ICID \d+ close \(TLS failed: verify error: certificate CN=gw2 \(sha256 [0-9a-f]+\.\.\.\) is not paired with this host\)"#, options: .regularExpression) != nil
        }
        #expect(!setup.gateway.mailLogs.contains("released by the manager"))
    }
}

/// The manager away for a while, on both legs: quarantined mail waits in `the.cpq.host`
/// and drains when it is back; outcome reports of released mail wait in the gateway's
/// ledger and reach the manager when it is back.
@Suite(.serialized)
struct ManagerDownTests {
    @Test("manager down: quarantined mail waits then drains; release reports wait then arrive")
    func managerDownForAWhile() async throws {
        let setup = try ReleaseSetup(filters: #"hold_it: if (true) { quarantine("Policy"); }"#, startSink: false)
        defer { setup.stop() }
        setup.stopManager()
        let total = 20
        for n in 1...total { try setup.send(subject: "held \(n)", messageID: "down-\(n)@sender.example") }
        try Harness.waitUntil("the gateway failing to reach the manager") {
            setup.gateway.mailLogs.contains("Connection Error: DCID") && setup.gateway.mailLogs.contains("domain: the.cpq.host")
        }
        #expect(setup.storedCount() == 0)
        try setup.startManager()
        try Harness.waitUntil("every quarantined message stored once the manager is back", seconds: 120) { setup.storedCount() >= total }
        #expect(setup.storedCount() == total)

        // Released while the next hop is down; the gateway takes them all, then the manager goes away again.
        let bulk = try setup.cli(["release-all"])
        #expect(bulk.contains("\(total) queued for delivery"), "\(bulk)")
        try Harness.waitUntil("every release accepted by the gateway", seconds: 120) {
            setup.managerLogs.components(separatedBy: "accepted by gateway gw1 as MID").count - 1 >= total
        }
        setup.stopManager()
        try setup.startSink()
        try Harness.waitUntil("every released message at smtp-sink", seconds: 120) {
            setup.sinkCount("Message-ID: <down-") >= total
        }
        try Harness.waitUntil("the reports waiting (the manager is down)", seconds: 120) {
            setup.gateway.mailLogs.contains("Release reports: the manager at 127.0.0.1 port \(setup.cpqPort) cannot be reached")
        }
        #expect(!setup.managerLogs.contains(": delivered ("))
        try setup.startManager()
        try Harness.waitUntil("every delivered report on the manager", seconds: 120) {
            setup.managerLogs.components(separatedBy: ": delivered (").count - 1 >= total
        }
        #expect(setup.managerLogs.components(separatedBy: ": delivered (").count - 1 == total, "a report was recorded twice")
        #expect(setup.sinkCount("Message-ID: <down-") == total)
    }
}
