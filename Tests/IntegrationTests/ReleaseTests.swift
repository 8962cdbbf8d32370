import CPQTLS
import Foundation
import QuarantineStore
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
    let sink: SMTPSink
    let gateway: GatewayInstance
    let clamd: Clamd?
    let files: String
    private let managerBox = Box()

    final class Box { var manager: Background?; var starts = 0 }

    var managerConfig: String { managerHome + "/manager.yaml" }
    var managerLogs: String { (try? String(contentsOfFile: managerHome + "/logs/mail_logs", encoding: .utf8)) ?? "" }

    init(filters: String, sinkArguments: [String] = [], antivirus: Bool = false) throws {
        managerHome = try Harness.makeTempDirectory("manager")
        cpqPort = Harness.freePort()
        gatewayCPQPort = Harness.freePort()
        try (ManagerConfigurationText.yaml(port: cpqPort) + """
            release_queue: {max_connections: 2, retry_initial_s: 1, retry_max_s: 2, rescan_s: 1}

            """).write(toFile: managerHome + "/manager.yaml", atomically: true, encoding: .utf8)
        let gatewayFiles = managerHome + "/gw1-cpq"
        let (paired, pairOutput) = try Harness.run(try Harness.lazaretBinary, [
            "manager", "pair", "--config", managerHome + "/manager.yaml", "--name", "gw1", "--write-gateway-files", gatewayFiles,
            "--cpq-listener", "127.0.0.1:\(gatewayCPQPort)"])
        guard paired == 0 else { throw Harness.Failure("lazaret manager pair failed: \(pairOutput)") }
        let bundle = try CPQJoinBundle.read(from: gatewayFiles)

        sink = try SMTPSink(extraArguments: sinkArguments)
        clamd = antivirus ? try Clamd() : nil
        let indented = filters.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n")
        let antivirusYAML = clamd.map { "antivirus:\n  enabled: on\n  clamd: \($0.socketPath)\n  retry_s: 1" } ?? "antivirus: {enabled: off}"
        gateway = try GatewayInstance(smarthostPort: sink.port, cpqPort: cpqPort, cpqTLS: "required", scanning: """
            message_filters: |
            \(indented)
            \(antivirusYAML)
            cpq: {directory: cpq, listener_port: \(gatewayCPQPort), report_retry_s: 1}
            """)
        try bundle.write(to: gateway.home + "/cpq")
        files = try Harness.makeTempDirectory("attachments")
        try startManager()
        try gateway.start()
        try Harness.waitUntil("the gateway's cpq_listener on port \(gatewayCPQPort)") { Harness.isListening(gatewayCPQPort) }
    }

    var manager: Background? { managerBox.manager }

    func startManager() throws {
        managerBox.starts += 1
        let manager = try Background(try Harness.lazaretBinary, ["manager", "--config", managerConfig],
                                     logPath: managerHome + "/stdout-\(managerBox.starts).log")
        managerBox.manager = manager
        let port = cpqPort
        try Harness.waitUntil("the manager's cpq_listener (output: \(manager.output))", seconds: 90) {
            if !manager.process.isRunning { throw Harness.Failure("lazaret manager exited: \(manager.output)") }
            return Harness.isListening(port)
        }
    }

    func stopManager() {
        managerBox.manager?.stop()
        managerBox.manager = nil
    }

    func stop() {
        gateway.stop()
        stopManager()
        sink.stop()
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
    func sinkCount(_ needle: String) -> Int { sink.messages.filter { $0.contains(needle) }.count }
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

        let released = try await setup.releaseAllWhileManagerIsDown()
        #expect(Set(released.flatMap(\.heldIn)) == ["Policy", "Virus"])
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
            for message in released { result[message.gatewayMID] = try await store.releaseHistory(message.qid) }
            return result
        }
        for mid in [policyMID, virusMID] {
            let history = try #require(histories[UInt64(mid)], "no history for MID \(mid)")
            #expect(history.count == 1)
            #expect(history.first?.state == .accepted)
            #expect(history.first?.acceptedMID != nil)
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

    @Test("kill -9 of the gateway during releases: each released message is delivered once")
    func killNineGatewayDuringRelease() async throws {
        let setup = try ReleaseSetup(filters: #"hold_it: if (true) { quarantine("Policy"); }"#)
        defer { setup.stop() }
        let total = 200
        let source = try Background(try Harness.tool("smtp-source"), [
            "-s", "5", "-m", "\(total)", "-l", "1024", "-f", "load@sender.example", "-t", "held@rcpt.example",
            "127.0.0.1:\(setup.gateway.port)"], logPath: setup.gateway.home + "/smtp-source.log")
        defer { source.stop() }
        try Harness.waitUntil("every message stored on the manager", seconds: 180) { setup.storedCount() >= total }
        _ = try await setup.releaseAllWhileManagerIsDown()
        try Harness.waitUntil("the first released messages delivered", seconds: 120) { setup.sink.messages.count >= 3 }
        setup.gateway.process?.kill9()
        let deliveredAtCrash = setup.sink.messages.count
        #expect(deliveredAtCrash < total, "the crash came after every release; it tested nothing")
        try setup.gateway.start()
        try Harness.waitUntil("every released message delivered", seconds: 240) {
            Set(setup.sink.messages.compactMap(ReleaseTests.releaseQID)).count >= total
        }
        try Harness.waitUntil("the delivered reports on the manager", seconds: 120) {
            setup.managerLogs.components(separatedBy: ": delivered").count - 1 >= total
        }
        let qids = setup.sink.messages.compactMap(ReleaseTests.releaseQID)
        #expect(qids.count == total, "\(qids.count) deliveries for \(total) releases: a release was delivered twice")
        #expect(Set(qids).count == total)
    }

    /// The original message's gateway MID in a delivered copy: our Received header from the first pass.
    static func releaseQID(_ text: String) -> String? {
        guard let range = text.range(of: #"\(Lazaret\) with ESMTPS? id (\d+)"#, options: .regularExpression) else { return nil }
        return String(text[range])
    }
}
