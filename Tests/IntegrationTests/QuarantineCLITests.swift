import CPQTLS
import Foundation
import QuarantineStore
import Scanning
import Testing

/// `lazaret quarantine ...` as an admin runs it: real processes against a real
/// `lazaret manager --config`, over the manager's REST API (HTTP on 127.0.0.1), with the
/// layout `lazaret up --home DIR` leaves: DIR/manager/manager.yaml and DIR/admin-token.
@Suite(.serialized)
struct QuarantineCLITests {
    /// A home as `lazaret up` makes it: the manager's configuration under DIR/manager,
    /// an admin user with its token in DIR/admin-token.
    struct Home {
        let path: String
        let cpqPort: Int
        let webPort: Int
        let lazaret: String

        var managerHome: String { path + "/manager" }
        var managerConfig: String { managerHome + "/manager.yaml" }
        var url: String { "http://127.0.0.1:\(webPort)/api/v1" }
        var managerLogs: String { (try? String(contentsOfFile: managerHome + "/logs/mail_logs", encoding: .utf8)) ?? "" }

        init() throws {
            path = try Harness.makeTempDirectory("home")
            cpqPort = Harness.freePort()
            webPort = Harness.freePort()
            lazaret = try Harness.lazaretBinary
            try FileManager.default.createDirectory(atPath: path + "/manager", withIntermediateDirectories: true)
            try ManagerConfigurationText.yaml(port: cpqPort, webPort: webPort)
                .write(toFile: path + "/manager/manager.yaml", atomically: true, encoding: .utf8)
            _ = try manager(["user", "add", "admin", "--role", "admin"])
            let token = try manager(["token", "create", "admin"]).trimmingCharacters(in: .whitespacesAndNewlines)
            try (token + "\n").write(toFile: path + "/admin-token", atomically: true, encoding: .utf8)
        }

        /// `lazaret manager ARGS --config ...`, which must succeed.
        func manager(_ args: [String]) throws -> String {
            let (status, output) = try Harness.run(lazaret, ["manager"] + args + ["--config", managerConfig])
            guard status == 0 else { throw Harness.Failure("lazaret manager \(args.joined(separator: " ")): \(output)") }
            return output
        }

        /// `lazaret quarantine ARGS --home DIR`: (exit status, stdout+stderr).
        func quarantine(_ args: [String], environment: [String: String?] = [:]) throws -> (Int32, String) {
            try Harness.run(lazaret, ["quarantine"] + args + ["--home", path], environment: ["LAZARET_TOKEN": nil].merging(environment) { $1 })
        }

        /// Starts `lazaret manager --config` and waits until its API answers.
        func start() throws -> Background {
            let manager = try Background(lazaret, ["manager", "--config", managerConfig], logPath: path + "/stdout.log")
            let port = webPort
            try Harness.waitUntil("the manager's API on port \(port) (output: \(manager.output))", seconds: 90) {
                if !manager.process.isRunning { throw Harness.Failure("lazaret manager exited: \(manager.output)") }
                return Harness.isListening(port)
            }
            return manager
        }

        func remove() { try? FileManager.default.removeItem(atPath: path) }
    }

    @Test("lazaret quarantine list, show, search, delete and audit talk to the running manager over its API")
    func listShowDeleteOverTheAPI() throws {
        let home = try Home()
        defer { home.remove() }
        let gatewayFiles = home.path + "/gw5-cpq"
        _ = try home.manager(["pair", "--name", "gw5", "--write-gateway-files", gatewayFiles])

        // Before the manager runs, the CLI names the URL it tried and how to start the manager.
        let (downStatus, down) = try home.quarantine(["list"])
        #expect(downStatus == 1)
        #expect(down.contains("lazaret: no manager answers at \(home.url) (connection refused): start it with lazaret up or lazaret manager --config FILE"), "\(down)")
        // A home without a manager: says what to give.
        let empty = try Harness.makeTempDirectory("empty")
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let (noConfigStatus, noConfig) = try Harness.run(home.lazaret, ["quarantine", "list", "--home", empty], environment: ["LAZARET_TOKEN": nil])
        #expect(noConfigStatus == 1)
        #expect(noConfig.contains("no manager configuration at \(empty)/manager/manager.yaml"), "\(noConfig)")

        let manager = try home.start()
        defer { manager.stop() }

        let sink = try SMTPSink()
        let gateway = try GatewayInstance(smarthostPort: sink.port, cpqPort: home.cpqPort, cpqTLS: "required", scanning: #"""
            antivirus: {enabled: off}
            message_filters: |
              hold_it: if (subject == '^hold me') { quarantine("Policy"); }
            """#)
        try CPQJoinBundle.read(from: gatewayFiles).write(to: gateway.home + "/cpq")
        try gateway.start()
        defer { gateway.stop(); sink.stop() }
        let (sent, swaks) = try Harness.run(try Harness.tool("swaks"), [
            "--server", "127.0.0.1:\(gateway.port)", "--from", "alice@sender.example", "--to", "bob@rcpt.example",
            "--header", "Subject: hold me for the CLI"])
        #expect(sent == 0, "\(swaks)")
        try Harness.waitUntil("the transfer stored on the manager") { home.managerLogs.contains("stored from gw5 MID") }
        let logs = home.managerLogs
        let qid = try #require(logs.range(of: #"QID Q[A-Z2-7]{16} stored from gw5"#, options: .regularExpression)
            .map { String(logs[$0].split(separator: " ")[1]) }, "\(logs)")

        // The token from DIR/admin-token, the address from DIR/manager/manager.yaml.
        let (listStatus, list) = try home.quarantine(["list"])
        #expect(listStatus == 0, "\(list)")
        let lines = list.split(separator: "\n")
        #expect(lines.first?.hasPrefix("QID") == true && lines.first?.contains("QUARANTINES") == true, "\(list)")
        let row = try #require(lines.first { $0.hasPrefix(qid) }, "\(list)")
        for cell in ["gw5", "alice@sender.example", "bob@rcpt.example", "hold me for the CLI", "Policy:held"] {
            #expect(row.contains(cell), "\(cell) missing in \(row)")
        }
        let (searchStatus, search) = try home.quarantine(["search", "--subject", "CLI", "--from", "alice@sender.example"])
        #expect(searchStatus == 0 && search.contains(qid), "\(search)")
        let (_, noMatch) = try home.quarantine(["search", "--subject", "nothing-like-this"])
        #expect(noMatch.contains("no held message matches"), "\(noMatch)")

        let (showStatus, show) = try home.quarantine(["show", qid.lowercased()])
        #expect(showStatus == 0, "\(show)")
        for line in ["QID          \(qid)", "from         <alice@sender.example>", "to           <bob@rcpt.example>",
                     "subject      hold me for the CLI", "message filter:hold_it", "releases: none"] {
            #expect(show.contains(line), "\(line) missing in \(show)")
        }
        #expect(show.range(of: #"gateway      gw5 MID \d+"#, options: .regularExpression) != nil, "\(show)")

        // The API's problems: detail and field on stderr, exit status 1.
        let (badStatus, bad) = try home.quarantine(["list", "--limit", "0"])
        #expect(badStatus == 1)
        #expect(bad.contains("lazaret: limit must be a whole number from 1 to 1000") && bad.contains("(field limit)"), "\(bad)")
        let (notQIDStatus, notQID) = try home.quarantine(["show", "../../audit"])
        #expect(notQIDStatus == 1 && notQID.contains("\"../../audit\" is not a QID"), "\(notQID)")
        let (unknownStatus, unknown) = try home.quarantine(["show", "Q" + String(repeating: "A", count: 16)])
        #expect(unknownStatus == 1 && unknown.contains("no quarantined message has id QAAAAAAAAAAAAAAAA") && unknown.contains("(field id)"), "\(unknown)")

        // A wrong token, from the option and from the environment: refused, named, nothing done.
        let (wrongStatus, wrong) = try home.quarantine(["delete", qid, "--token", "lzt_not-a-token"])
        #expect(wrongStatus == 1)
        #expect(wrong.contains("lazaret: unknown or revoked token") && wrong.contains("(the token from --token)"), "\(wrong)")
        let (wrongEnvStatus, wrongEnv) = try home.quarantine(["list"], environment: ["LAZARET_TOKEN": "lzt_nope"])
        #expect(wrongEnvStatus == 1 && wrongEnv.contains("unknown or revoked token") && wrongEnv.contains("(the token from LAZARET_TOKEN)"), "\(wrongEnv)")
        // A read-only user may list but not act; the refusal is audited.
        _ = try home.manager(["user", "add", "rita", "--role", "read-only"])
        let reader = try home.manager(["token", "create", "rita"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let (readStatus, read) = try home.quarantine(["list"], environment: ["LAZARET_TOKEN": reader])
        #expect(readStatus == 0 && read.contains(qid), "\(read)")
        let (forbiddenStatus, forbidden) = try home.quarantine(["release", qid], environment: ["LAZARET_TOKEN": reader])
        #expect(forbiddenStatus == 1 && forbidden.contains("the role read-only may not release"), "\(forbidden)")
        // --url instead of the configuration: the same manager.
        let (urlStatus, viaURL) = try Harness.run(home.lazaret, ["quarantine", "list", "--url", "http://127.0.0.1:\(home.webPort)/",
                                                                 "--home", empty, "--token", reader])
        #expect(urlStatus == 0 && viaURL.contains(qid), "\(viaURL)")

        let (deleteStatus, deleted) = try home.quarantine(["delete", qid])
        #expect(deleteStatus == 0, "\(deleted)")
        #expect(deleted.contains("QID \(qid) deleted from all quarantines; it will never be delivered"), "\(deleted)")
        try Harness.waitUntil("the delete in the manager's mail_logs") {
            home.managerLogs.contains("QID \(qid) deleted by api:admin from all quarantines")
        }

        let (_, none) = try home.quarantine(["list"])
        #expect(none.contains("no messages held"), "\(none)")
        let (releaseStatus, release) = try home.quarantine(["release", qid])
        #expect(releaseStatus == 1)
        #expect(release.contains("was deleted from \"Policy\""), "\(release)")
        #expect(sink.messages.isEmpty, "a deleted message was delivered")

        let (auditStatus, audit) = try home.quarantine(["audit"])
        #expect(auditStatus == 0, "\(audit)")
        let auditRows = audit.split(separator: "\n").map(String.init)
        #expect(auditRows.first?.hasPrefix("SEQ") == true, "\(audit)")
        #expect(auditRows.contains { $0.contains("api:rita (read-only)") && $0.contains("release") && $0.contains("refused: the role read-only") }, "\(audit)")
        #expect(auditRows.contains { $0.contains("api:admin (admin)") && $0.contains("delete") && $0.contains(qid) && $0.contains(" ok") }, "\(audit)")
        #expect(auditRows.last?.hasPrefix("latest entry ") == true, "\(audit)")
        let (auditForbiddenStatus, auditForbidden) = try home.quarantine(["audit"], environment: ["LAZARET_TOKEN": reader])
        #expect(auditForbiddenStatus == 1 && auditForbidden.contains("only the admin role may read the audit log"), "\(auditForbidden)")

        manager.stop()
        let (stoppedStatus, stopped) = try home.quarantine(["show", qid])
        #expect(stoppedStatus == 1 && stopped.contains("no manager answers at \(home.url)"), "\(stopped)")
    }

    /// Needs the server side of issue #5's delay, move, copy and bulk actions
    /// (`POST /messages/{id}/delay|move|copy`, `POST /messages/actions`).
    @Test("lazaret quarantine delay, move, copy and release-all over the API")
    func delayMoveCopyReleaseAll() async throws {
        let home = try Home()
        defer { home.remove() }
        // Four held messages, stored before the manager starts (the store is the manager's).
        let store = try QuarantineStore.open(directory: home.managerHome + "/quarantine")
        let policy = QuarantineTicket(quarantine: "Policy", reason: QuarantineReason(kind: .messageFilter, detail: "hold_it"),
                                      stage: .messageFilters)
        let virus = QuarantineTicket(quarantine: "Virus", reason: QuarantineReason(kind: .antivirus, detail: "Eicar-Signature"),
                                     stage: .antivirus)
        var qids: [String] = []
        for (index, holds) in [[policy], [policy], [policy, virus], [policy]].enumerated() {
            let transfer = IncomingTransfer(transferID: "t\(index)", gateway: "gw1", gatewayMID: UInt64(700 + index), gatewayICID: 1,
                                            receivedAt: Date(), mailFrom: "alice@sender.example", recipients: ["bob@rcpt.example"],
                                            holds: holds)
            qids.append(try await store.storeTransfer(transfer, body: Array("Subject: bulk \(index)\r\n\r\nbody\r\n".utf8)).qid.rawValue)
        }
        // A named policy quarantine to move into (moves are between policy quarantines).
        try await store.addQuarantine(QuarantineDefinition(name: "Invoices"), by: "admin")
        try store.close()
        let manager = try home.start()
        defer { manager.stop() }

        // delay: the hold expires later; the answer names the new time.
        // Policy keeps 10 days; 30 more: 40 days from now (either side of a midnight passing meanwhile).
        let expectedDays = [0.0, 300].map { Date().addingTimeInterval(40 * 86400 + $0).formatted(.iso8601.year().month().day()) }
        let (delayStatus, delayed) = try home.quarantine(["delay", qids[0], "--days", "30", "--quarantine", "Policy"])
        #expect(delayStatus == 0, "\(delayed)")
        #expect(delayed.hasPrefix("QID \(qids[0]) held longer: \"Policy\" expires "), "\(delayed)")
        #expect(expectedDays.contains { delayed.contains("expires \($0)T") }, "\(delayed) (expected \(expectedDays))")
        let (_, shown) = try home.quarantine(["show", qids[0]])
        #expect(shown.contains("expires "), "\(shown)")
        let (tooShortStatus, tooShort) = try home.quarantine(["delay", qids[0], "--seconds", "5"])
        #expect(tooShortStatus == 1 && tooShort.contains("(field seconds)"), "\(tooShort)")
        let (bothStatus, _) = try home.quarantine(["delay", qids[0], "--seconds", "600", "--days", "1"])
        #expect(bothStatus != 0, "both --seconds and --days accepted")

        // move: from Policy to Invoices; not into Virus (not a policy quarantine).
        let (moveStatus, moved) = try home.quarantine(["move", qids[1], "--from", "Policy", "--to", "Invoices"])
        #expect(moveStatus == 0, "\(moved)")
        #expect(moved.contains("QID \(qids[1]) moved from \"Policy\" to \"Invoices\"; held in \"Invoices\""), "\(moved)")
        let (virusStatus, virusRefusal) = try home.quarantine(["move", qids[3], "--from", "Policy", "--to", "Virus"])
        #expect(virusStatus == 1 && virusRefusal.contains("not a policy quarantine"), "\(virusRefusal)")
        let (notHeldStatus, notHeld) = try home.quarantine(["move", qids[1], "--from", "Policy", "--to", "Invoices"])
        #expect(notHeldStatus == 1 && notHeld.hasPrefix("lazaret: ") && !notHeld.contains("HTTP"), "\(notHeld)")

        // copy: accepted for delivery; the message stays held.
        let (copyStatus, copied) = try home.quarantine(["copy", qids[2], "--to", "review@example.com"])
        #expect(copyStatus == 0, "\(copied)")
        #expect(copied.contains("a copy goes to <review@example.com> (release "), "\(copied)")

        // release-all from Policy: two go out, the one also in Virus stays held there, the moved one is not in Policy.
        let (bulkStatus, bulk) = try home.quarantine(["release-all", "--quarantine", "Policy"])
        #expect(bulkStatus == 0, "\(bulk)")
        #expect(bulk.contains("3 message(s) released from \"Policy\": 2 queued for delivery, 1 still held in another quarantine"), "\(bulk)")
        let (_, left) = try home.quarantine(["list"])
        let leftRows = left.split(separator: "\n").dropFirst()
        #expect(Set(leftRows.compactMap { $0.split(separator: " ").first.map(String.init) }) == [qids[1], qids[2]], "\(left)")
        let (_, again) = try home.quarantine(["release-all", "--quarantine", "Policy"])
        #expect(again.contains("0 message(s) released"), "\(again)")
        let (conflictStatus, _) = try home.quarantine(["release-all", "--rule", "R", "--subject", "x"])
        #expect(conflictStatus != 0)

        // Each action is in the audit log with the token's user: a delay, a move, a copy, three releases.
        let (_, audit) = try home.quarantine(["audit", "--limit", "50"])
        let entries = audit.split(separator: "\n").filter { $0.contains("api:admin (admin)") && $0.contains(" ok") }
        #expect(entries.count >= 6, "\(audit)")
        #expect(entries.filter { $0.contains(" release ") }.count == 3, "\(audit)")
    }
}
