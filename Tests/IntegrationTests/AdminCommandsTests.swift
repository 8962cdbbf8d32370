import Foundation
import Testing

/// The admin commands over the control sockets of a real gateway and manager, through
/// `lazaret cli`, with swaks and Python's socket module as the SMTP peers.
@Suite(.serialized) struct AdminCommandsTests {
    /// `lazaret cli ARGS` against the gateway (its home is the `--home`, as under lazaret up).
    static func gatewayCLI(_ gateway: GatewayInstance, _ args: [String]) throws -> (status: Int32, output: String) {
        try Harness.run(try Harness.lazaretBinary, ["cli", "--home", gateway.home] + args)
    }

    /// The first line a server sends on `port` (its banner, or its refusal).
    static func banner(_ port: Int) throws -> String {
        let script = """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
            data = b""
            while not data.endswith(b"\\n"):
                chunk = s.recv(512)
                if not chunk: break
                data += chunk
            print(data.decode(errors="replace").strip())
            """
        let (status, output) = try Harness.run(try Harness.tool("python3"), ["-c", script, "\(port)"])
        guard status == 0 else { throw Harness.Failure("python3 could not read a banner on port \(port): \(output)") }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// swaks through the gateway: (exit status, transcript).
    static func swaks(_ gateway: GatewayInstance, subject: String) throws -> (Int32, String) {
        try Harness.run(try Harness.tool("swaks"), ["--server", "127.0.0.1:\(gateway.port)", "--from", "alice@sender.example",
                                                    "--to", "bob@rcpt.example", "--header", "Subject: \(subject)",
                                                    "--body", "body of \(subject)"])
    }

    @Test func suspendResumeListenersAndTheQuarantineQueue() throws {
        let setup = try ReleaseSetup(filters: #"hold_it: if (subject == '^hold') { quarantine("Policy"); }"#)
        defer { setup.stop() }
        let gateway = setup.gateway
        func cli(_ args: String...) throws -> String {
            let (status, output) = try Self.gatewayCLI(gateway, args)
            guard status == 0 else { throw Harness.Failure("lazaret cli \(args.joined(separator: " ")) exited \(status): \(output)") }
            return output
        }
        try Harness.waitUntil("the gateway's control socket") { FileManager.default.fileExists(atPath: gateway.home + "/control.sock") }

        // lazaret cli against the running gateway.
        #expect(try cli("version").contains("Role: gateway (gw.test.lazaret)"))
        #expect(try cli("status").contains("System status:                 Online"))
        let tophosts = try cli("tophosts")
        #expect(tophosts.contains("the.cpq.host") && tophosts.contains("smarthost"))
        #expect(try cli("hoststatus", "the.cpq.host").contains("Host mail status for: 'the.cpq.host'"))
        let unknownHost = try Self.gatewayCLI(gateway, ["hoststatus", "nowhere.example"])
        #expect(unknownHost.status == 1 && unknownHost.output.contains("No record of host: nowhere.example"))
        let interfaces = try cli("interfaceconfig", "--json")
        #expect(interfaces.contains("\"name\" : \"cpq_listener\"") && interfaces.contains("\"port\" : \(setup.gatewayCPQPort)"))

        // suspend: the SMTP listener and the cpq_listener refuse at connect; status says Offline.
        #expect(try cli("suspend").contains("Offline"))
        #expect(try cli("status").contains("System status:                 Offline"))
        let (refusedStatus, refused) = try Self.swaks(gateway, subject: "while suspended")
        #expect(refusedStatus != 0)
        #expect(refused.contains("421 4.3.2"), "swaks: \(refused)")
        #expect(try Self.banner(setup.gatewayCPQPort).hasPrefix("421 4.3.2"))

        // resume: accepted again, Online.
        #expect(try cli("resume").contains("Online"))
        #expect(try cli("status").contains("System status:                 Online"))
        try setup.send(subject: "after resume", messageID: "after-resume@test")
        try Harness.waitUntil("the message sent after resume at the smarthost") {
            setup.sink.messages.contains { $0.contains("after resume") }
        }

        // suspendlisteners cpq_listener: only the CPQ port refuses.
        #expect(try cli("suspendlisteners", "cpq_listener").contains("Suspended listener(s): cpq_listener"))
        #expect(try Self.banner(setup.gatewayCPQPort).hasPrefix("421 4.3.2"))
        #expect(try Self.banner(gateway.port).hasPrefix("220 "))
        #expect(try cli("listenerconfig").contains("cpq_listener (on Management, 127.0.0.1) CPQ port \(setup.gatewayCPQPort)"))
        #expect(try cli("resumelisteners", "cpq_listener").contains("Resumed listener(s): cpq_listener"))
        #expect(try Self.banner(setup.gatewayCPQPort).hasPrefix("220 "))

        // The manager's side, over its own control socket.
        let managerSocket = setup.managerHome + "/control.sock"
        func managerCLI(_ args: String...) throws -> (status: Int32, output: String) {
            try Harness.run(try Harness.lazaretBinary, ["cli", "--role", "manager", "--socket", managerSocket] + args)
        }
        #expect(try managerCLI("tophosts").output.contains("the.cpq.release.host"))
        #expect(try managerCLI("quarantineconfig").output.contains("Policy"))
        #expect(try managerCLI("audit", "verify").status == 0)
        #expect(try managerCLI("suspendlisteners", "cpq_listener").status == 0)
        #expect(try Self.banner(setup.cpqPort).hasPrefix("421 4.3.2"))
        let web = try managerCLI("suspendlisteners", "web")
        #expect(web.status == 1 && web.output.contains("cannot be suspended"))
        #expect(try managerCLI("resume").status == 0)
        #expect(try Self.banner(setup.cpqPort).hasPrefix("220 "))

        // The manager is unreachable: quarantined mail waits on the.cpq.host.
        setup.stopManager()
        let mid = try setup.send(subject: "hold me", messageID: "hold-me@test")
        try Harness.waitUntil("MID \(mid) on the.cpq.host in showrecipients") {
            try cli("showrecipients", "host", "the.cpq.host").contains("bob@rcpt.example")
        }
        let queued = try cli("showrecipients", "host", "the.cpq.host")
        #expect(queued.contains("\(mid)") && queued.contains("alice@sender.example"))
        let row = try cli("tophosts").split(separator: "\n").first { $0.contains("the.cpq.host") }
        #expect(row.map { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst(2).first == "1" } == true, "tophosts: \(String(describing: row))")

        // deleterecipients needs --yes without a terminal; with it, the queue is emptied and logged.
        let unconfirmed = try Self.gatewayCLI(gateway, ["deleterecipients", "host", "the.cpq.host"])
        #expect(unconfirmed.status == 1 && unconfirmed.output.contains("add --yes"))
        #expect(try cli("deleterecipients", "host", "the.cpq.host", "--yes").contains("Deleted 1 recipient(s) of 1 message(s)"))
        #expect(try cli("showrecipients", "host", "the.cpq.host").contains("No recipients queued for host the.cpq.host"))
        try Harness.waitUntil("the deletion in mail_logs") {
            gateway.mailLogs.contains("deleterecipients host the.cpq.host by the local control socket: 1 recipient(s) of 1 message(s) on the.cpq.host")
        }
        #expect(gateway.mailLogs.contains("MID \(mid) RID [0] deleted from queue the.cpq.host by administrator"))
        #expect(gateway.mailLogs.contains("suspend by the local control socket"))
        #expect(try cli("grep", "deleterecipients", "mail_logs").contains("by the local control socket"))
        #expect(try cli("tail", "mail_logs", "3").split(separator: "\n").count == 3)
    }

    @Test func aReleaseDeletedFromTheManagersQueueStaysQuarantined() throws {
        let setup = try ReleaseSetup(filters: #"hold_it: if (subject == '^hold') { quarantine("Policy"); }"#)
        defer { setup.stop() }
        let managerSocket = setup.managerHome + "/control.sock"
        func managerCLI(_ args: String...) throws -> String {
            let (status, output) = try Harness.run(try Harness.lazaretBinary, ["cli", "--role", "manager", "--socket", managerSocket] + args)
            guard status == 0 else { throw Harness.Failure("lazaret cli --role manager \(args.joined(separator: " ")) exited \(status): \(output)") }
            return output
        }
        // The gateway refuses releases: the release waits on the manager's the.cpq.release.host.
        #expect(try Self.gatewayCLI(setup.gateway, ["suspendlisteners", "cpq_listener"]).status == 0)
        try setup.send(subject: "hold this", messageID: "hold-this@test")
        try Harness.waitUntil("the message stored on the manager") { setup.storedCount() == 1 }
        let qid = try #require(setup.qids().first)
        #expect(try setup.cli(["release", qid]).contains("released from all quarantines"))
        try Harness.waitUntil("the release on the.cpq.release.host") {
            try managerCLI("showrecipients", "host", "the.cpq.release.host").contains("bob@rcpt.example")
        }
        #expect(try managerCLI("tophosts").contains("the.cpq.release.host (gateway gw1)"))
        #expect(try managerCLI("hoststatus", "the.cpq.release.host").contains("Active Recipients         1"))

        // Deleted from the queue (between two attempts; one in flight finishes first).
        var answer = ""
        try Harness.waitUntil("the release deleted from the queue") {
            answer = try managerCLI("deleterecipients", "host", "the.cpq.release.host", "--yes")
            return answer.hasPrefix("Deleted 1 recipient(s)")
        }
        #expect(answer.contains("The messages stay quarantined"))
        try Harness.waitUntil("the manager's mail_logs line") {
            setup.managerLogs.contains("QID \(qid) release ") && setup.managerLogs.contains("held again in \"Policy\"")
        }
        #expect(setup.managerLogs.contains("deleterecipients host the.cpq.release.host by the local control socket"))
        #expect(try setup.cli(["list"]).contains(qid), "the message is listed in its quarantine again")
        #expect(try managerCLI("showrecipients").contains("No recipients queued"))
        // Nothing reaches the gateway once it takes releases again.
        #expect(try Self.gatewayCLI(setup.gateway, ["resumelisteners", "cpq_listener"]).status == 0)
        #expect(try managerCLI("quarantineconfig").contains("Policy"))
        #expect(setup.sinkCount("hold-this@test") == 0)
    }

    @Test func cliSaysWhatToDoWhenNothingAnswers() throws {
        let home = try Harness.makeTempDirectory("cli")
        defer { try? FileManager.default.removeItem(atPath: home) }
        let (status, output) = try Harness.run(try Harness.lazaretBinary, ["cli", "--home", home, "status"])
        #expect(status == 1)
        #expect(output.contains(home + "/control.sock") && output.contains("lazaret up"), "output: \(output)")
    }
}
