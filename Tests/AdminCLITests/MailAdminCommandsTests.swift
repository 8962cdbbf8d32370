import Foundation
import NIOConcurrencyHelpers
import Testing
@testable import AdminCLI

/// A role in memory, for the commands alone (the real adapters are tested with real
/// processes in IntegrationTests/AdminCommandsTests.swift).
final class FakeRole: MailAdminSystem {
    let roleName = "gateway"
    let hostname = "gw.test"
    let startedAt = Date(timeIntervalSince1970: 1_000_000)
    let mailLogPath: String
    let suspension = SuspensionBook()
    let deletionNote: String? = nil
    let queued = NIOLockedValueBox<[QueuedMessageInfo]>([])
    let logged = NIOLockedValueBox<[String]>([])
    let applied = NIOLockedValueBox<[SuspensionState]>([])
    let retried = NIOLockedValueBox<[String]>([])

    init(mailLogPath: String = "/nonexistent/mail_logs") {
        self.mailLogPath = mailLogPath
        queued.withLockedValue {
            $0 = [QueuedMessageInfo(mid: 7, host: "the.cpq.host", sender: "a@example.com", recipients: ["x@example.org", "y@example.org"],
                                    size: 120, received: Date(timeIntervalSince1970: 1_000_100)),
                  QueuedMessageInfo(mid: 8, host: "smarthost", sender: "b@example.com", recipients: ["z@example.org"],
                                    size: 99, received: Date(timeIntervalSince1970: 1_000_200))]
        }
    }

    func counters() async -> [StatusCounter] { [StatusCounter("Received messages", 3)] }

    func hostStatuses() async -> [HostQueueStatus] {
        let messages = queued.withLockedValue { $0 }
        return ["smarthost", "the.cpq.host"].map { name in
            let mine = messages.filter { $0.host == name }
            return HostQueueStatus(name: name, address: "127.0.0.1:25", activeRecipients: mine.reduce(0) { $0 + $1.recipients.count },
                                   activeMessages: mine.count, deliveredRecipients: name == "smarthost" ? 5 : 0,
                                   isDown: name == "the.cpq.host", oldest: mine.map(\.received).min())
        }
    }

    func queuedMessages() async -> [QueuedMessageInfo] { queued.withLockedValue { $0 } }

    func deleteRecipients(_ selection: RecipientSelection) async -> [DeletedRecipients] {
        queued.withLockedValue { messages in
            let gone = messages.filter { selection.matches(host: $0.host, sender: $0.sender) }
            messages.removeAll { selection.matches(host: $0.host, sender: $0.sender) }
            return Dictionary(grouping: gone, by: \.host).map {
                DeletedRecipients(host: $0.key, messages: $0.value.count, recipients: $0.value.reduce(0) { $0 + $1.recipients.count })
            }
        }
    }

    func deliverNow(host: String?) async -> [String] {
        let names: [String] = ["smarthost", "the.cpq.host"].filter { host == nil || $0 == host! }
        retried.withLockedValue { $0 += names }
        return names
    }

    func listeners() -> [ListenerInfo] {
        [ListenerInfo(name: "IncomingMail", kind: .smtp, interface: "Management", address: "127.0.0.1", port: 2525, type: "private",
                      maxConnections: 200, hat: "ALL\n  $RELAYED", rat: "ALL ACCEPT"),
         ListenerInfo(name: "cpq_listener", kind: .cpq, interface: "Management", address: "127.0.0.1", port: 7125, type: "releases")]
    }

    func interfaces() -> [InterfaceInfo] { [InterfaceInfo(name: "Management", address: "127.0.0.1")] }
    func apply(_ state: SuspensionState) async { applied.withLockedValue { $0.append(state) } }
    func logInfo(_ line: String) { logged.withLockedValue { $0.append(line) } }
}

@Suite struct RecipientSelectionTests {
    @Test(arguments: [
        (["host", "the.cpq.host"], RecipientSelection.host("the.cpq.host")),
        (["sender", "a@example.com"], .sender("a@example.com")),
        (["all"], .all),
    ])
    func parsesTheAsyncOSWords(_ words: [String], _ expected: RecipientSelection) throws {
        #expect(try RecipientSelection(parsing: words, command: "showrecipients", allowEmpty: false) == expected)
    }

    @Test func noWordsMeansAllOnlyWhereAllowed() throws {
        #expect(try RecipientSelection(parsing: [], command: "showrecipients", allowEmpty: true) == .all)
        #expect(throws: CommandArgumentError.self) { try RecipientSelection(parsing: [], command: "deleterecipients", allowEmpty: false) }
    }

    @Test(arguments: [["host"], ["sender"], ["everything"], ["host", "a", "b"]])
    func badSelectionsNameTheCommandAndTheUsage(_ words: [String]) {
        do {
            _ = try RecipientSelection(parsing: words, command: "deleterecipients", allowEmpty: false)
            Issue.record("\(words) was accepted")
        } catch let error as CommandArgumentError {
            #expect(error.description.hasPrefix("deleterecipients: "))
            #expect(error.description.contains("host HOST | sender ADDR | all"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func matchesHostAndSenderIgnoringCaseAndBrackets() {
        #expect(RecipientSelection.host("The.CPQ.Host").matches(host: "the.cpq.host", sender: "x"))
        #expect(!RecipientSelection.host("smarthost").matches(host: "the.cpq.host", sender: "x"))
        #expect(RecipientSelection.sender("<A@Example.com>").matches(host: "h", sender: "a@example.com"))
        #expect(RecipientSelection.sender("<>").matches(host: "h", sender: ""))
        #expect(RecipientSelection.all.matches(host: "h", sender: ""))
    }
}

@Suite struct MailAdminCommandsTests {
    let role = FakeRole()
    var table: CommandTable {
        CommandTable(MailAdminCommands(system: role, now: { Date(timeIntervalSince1970: 1_003_600) }).commands)
    }

    @Test func tophostsListsEveryQueueMarksDownHostsAndSorts() async {
        let byActive = await table.handle(["tophosts"])
        #expect(byActive.ok)
        let lines = byActive.output.split(separator: "\n").map(String.init)
        let header = lines.firstIndex { $0.hasPrefix("#  Recipient Host") }
        #expect(header != nil)
        // the.cpq.host has 2 active recipients and is down: first, with a star.
        #expect(lines[header! + 1].hasPrefix("1  *the.cpq.host"))
        #expect(lines[header! + 2].hasPrefix("2   smarthost"))
        let byDelivered = await table.handle(["tophosts", "deliv_rcpts"])
        #expect(byDelivered.output.contains("1   smarthost"))
        let bad = await table.handle(["tophosts", "size"])
        #expect(!bad.ok && bad.output.contains("active_rcpts, deliv_rcpts, soft_bounced, hard_bounced, conn_out"))
    }

    @Test func hoststatusShowsOneHostOrSaysThereIsNoRecord() async {
        let known = await table.handle(["hoststatus", "the.cpq.host"])
        #expect(known.ok)
        #expect(known.output.contains("Host mail status for: 'the.cpq.host'"))
        #expect(known.output.contains("Host up/down:         down"))
        #expect(known.output.contains("Active Recipients         2"))
        #expect(await table.handle(["hoststatus", "nowhere.example"]) == .failure("No record of host: nowhere.example"))
    }

    @Test func showrecipientsFiltersByHostSenderOrAll() async {
        let cpq = await table.handle(["showrecipients", "host", "the.cpq.host"])
        #expect(cpq.output.contains("x@example.org, y@example.org") && !cpq.output.contains("z@example.org"))
        #expect(cpq.output.hasSuffix("1 message(s), 2 recipient(s) queued for host the.cpq.host"))
        let sender = await table.handle(["showrecipients", "sender", "b@example.com"])
        #expect(sender.output.contains("z@example.org") && !sender.output.contains("x@example.org"))
        #expect(await table.handle(["showrecipients"]).output.contains("2 message(s), 3 recipient(s) queued for all"))
        #expect(await table.handle(["showrecipients", "host", "nowhere"]).output == "No recipients queued for host nowhere.")
    }

    @Test func deleterecipientsNeedsConfirmationAndLogsWhoDidIt() async {
        let unconfirmed = await table.handle(["deleterecipients", "host", "the.cpq.host"])
        #expect(!unconfirmed.ok && unconfirmed.output.contains("add --yes"))
        #expect(role.queued.withLockedValue { $0.count } == 2)
        let done = await table.handle(["deleterecipients", "host", "the.cpq.host", "--yes"])
        #expect(done == .success("Deleted 2 recipient(s) of 1 message(s): 2 recipient(s) of 1 message(s) on the.cpq.host."))
        #expect(role.queued.withLockedValue { $0.map(\.mid) } == [8])
        #expect(role.logged.withLockedValue { $0 } == [
            "deleterecipients host the.cpq.host by the local control socket: 2 recipient(s) of 1 message(s) on the.cpq.host"])
    }

    @Test func anInteractiveAdminIsAskedAndMayRefuse() async {
        let asked = NIOLockedValueBox<[String]>([])
        let context = CommandContext(user: "alice", role: .admin, interactive: true) { question in
            asked.withLockedValue { $0.append(question) }
            return false
        }
        let refused = await table.handle(["deleterecipients", "all"], context: context)
        #expect(!refused.ok && refused.output.contains("not confirmed"))
        #expect(asked.withLockedValue { $0.count } == 1)
        #expect(role.queued.withLockedValue { $0.count } == 2)
    }

    @Test func permissionsFollowTheRole() async {
        let operatorContext = CommandContext(user: "olga", role: .operator)
        let denied = await table.handle(["deleterecipients", "all", "--yes"], context: operatorContext)
        #expect(!denied.ok && denied.output.contains("permission denied"))
        #expect(role.queued.withLockedValue { $0.count } == 2)
        #expect(await table.handle(["suspend"], context: operatorContext).ok)
        let readOnly = CommandContext(user: "rita", role: .readOnly)
        #expect(!(await table.handle(["resume"], context: readOnly)).ok)
        #expect(!(await table.handle(["delivernow"], context: readOnly)).ok)
        #expect(await table.handle(["tophosts"], context: readOnly).ok)
        #expect(role.logged.withLockedValue { $0.last }?.contains("by operator \"olga\" over SSH") == true)
    }

    @Test func suspendMakesStatusOfflineAndResumeOnline() async {
        #expect(await table.handle(["status"]).output.contains("System status:                 Online"))
        #expect(await table.handle(["suspend"]).ok)
        #expect(role.applied.withLockedValue { $0.last } == SuspensionState(system: true))
        let offline = await table.handle(["status"])
        #expect(offline.output.contains("System status:                 Offline"))
        #expect(offline.output.contains("Up since:                      1970-01-12 13:46:40 UTC (1h 0m 0s)"))
        #expect(await table.handle(["resume"]).ok)
        #expect(role.applied.withLockedValue { $0.last } == SuspensionState())
        #expect(await table.handle(["status"]).output.contains("Online"))
    }

    @Test func suspendlistenersTakesANameOrAll() async {
        let one = await table.handle(["suspendlisteners", "cpq_listener"])
        #expect(one.ok && one.output.hasPrefix("Suspended listener(s): cpq_listener."))
        #expect(role.applied.withLockedValue { $0.last } == SuspensionState(listeners: ["cpq_listener"]))
        #expect(await table.handle(["status"]).output.contains("Listeners suspended:           cpq_listener"))
        let unknown = await table.handle(["suspendlisteners", "Nope"])
        #expect(unknown == .failure("suspendlisteners: no listener called \"Nope\"; the listeners are: IncomingMail, cpq_listener (or all)"))
        #expect(await table.handle(["suspendlisteners"]).ok)
        #expect(role.suspension.state.listeners == ["IncomingMail", "cpq_listener"])
        #expect(await table.handle(["resumelisteners", "IncomingMail"]).ok)
        #expect(role.suspension.state.listeners == ["cpq_listener"])
        #expect(role.logged.withLockedValue { $0.contains("resumelisteners IncomingMail by the local control socket: resumed listener(s) IncomingMail") })
    }

    @Test func delivernowNamesTheQueuesOrSaysWhichExist() async {
        #expect(await table.handle(["delivernow"]) == .success("Delivery is retried now for: smarthost, the.cpq.host."))
        let unknown = await table.handle(["delivernow", "mx.example"])
        #expect(unknown == .failure("delivernow: no delivery queue called \"mx.example\"; the queues are: smarthost, the.cpq.host (or all)"))
    }

    @Test func interfaceconfigJSONNamesEachListenersInterfaceAndPort() async throws {
        let answer = await table.handle(["interfaceconfig", "--json"])
        #expect(answer.ok)
        struct Document: Decodable {
            struct Listener: Decodable { var name, kind, interface, address: String; var port: Int }
            var listeners: [Listener]
        }
        let document = try JSONDecoder().decode(Document.self, from: Data(answer.output.utf8))
        let cpq = try #require(document.listeners.first { $0.name == "cpq_listener" })
        #expect(cpq.kind == "cpq" && cpq.interface == "Management" && cpq.address == "127.0.0.1" && cpq.port == 7125)
        #expect(await table.handle(["interfaceconfig"]).output.contains("2525 (IncomingMail, smtp), 7125 (cpq_listener, cpq)"))
        #expect(await table.handle(["listenerconfig"]).output.contains("   RAT:\n     ALL ACCEPT"))
        #expect(!(await table.handle(["listenerconfig", "--xml"])).ok)
    }
}

@Suite struct MailLogReaderTests {
    @Test func tailAndGrepAreBounded() throws {
        let path = NSTemporaryDirectory() + "mail_logs-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let lines = (1...50).map { "Info: line \($0) MID \($0 * 10)" }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let reader = MailLogReader(path: path)
        #expect(try reader.tail(3) == ["Info: line 48 MID 480", "Info: line 49 MID 490", "Info: line 50 MID 500"])
        let (matched, truncated) = try reader.grep("MID [0-9]*0$", limit: 2)
        #expect(matched == ["Info: line 49 MID 490", "Info: line 50 MID 500"] && truncated)
        #expect(throws: CommandArgumentError.self) { try reader.grep("(unclosed", limit: 5) }
        // Only the end of a big file is read; the cut first line is dropped.
        let small = MailLogReader(path: path, maxScanBytes: 50)
        #expect(try small.tail(100).count <= 3)
    }

    @Test func commandsCheckTheirWords() async throws {
        let path = NSTemporaryDirectory() + "mail_logs-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "Info: a\nInfo: MID 5 deleted\n".write(toFile: path, atomically: true, encoding: .utf8)
        let table = CommandTable(MailAdminCommands(system: FakeRole(mailLogPath: path)).commands)
        #expect(await table.handle(["tail", "mail_logs", "1"]) == .success("Info: MID 5 deleted"))
        #expect(await table.handle(["grep", "deleted", "mail_logs"]) == .success("Info: MID 5 deleted"))
        #expect(!(await table.handle(["tail", "mail_logs", "0"])).ok)
        #expect(!(await table.handle(["tail", "messages"])).ok)
        #expect(!(await table.handle(["grep", "x"])).ok)
    }
}
