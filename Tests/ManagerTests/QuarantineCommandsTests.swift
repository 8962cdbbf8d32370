import AdminCLI
import Foundation
import MailLog
import QuarantineStore
import Scanning
import Testing
@testable import Manager

/// `quarantine list|show|release|delete` against a real `QuarantineStore` in a temporary
/// directory, as the manager's control socket runs them.
@Suite struct QuarantineCommandsTests {
    @Test("list shows the held message in a table")
    func listShowsTheMessage() async throws {
        try await withCommands { commands, store, _ in
            let qid = try await store.add("t1", holds: [policyHold], subject: "Quarterly report")
            let answer = await commands.list([])
            #expect(answer.ok, "\(answer.output)")
            let lines = answer.output.split(separator: "\n").map(String.init)
            #expect(lines.count == 2, "\(answer.output)")
            #expect(lines[0].hasPrefix("QID "))
            for column in ["RECEIVED", "GATEWAY", "MID", "FROM", "TO", "SUBJECT", "QUARANTINES"] { #expect(lines[0].contains(column)) }
            for cell in [qid.rawValue, "2026-09-21T", "gw1.example.org", "482", "alice@example.org", "bob@example.com (+1)",
                         "Quarterly report", "Policy:held"] {
                #expect(lines[1].contains(cell), "\(cell) missing in \(lines[1])")
            }
            #expect(!answer.output.contains("next cursor"))
        }
    }

    @Test("search finds by subject, full text and reason, pages, and names a bad option")
    func searchFindsAndRefuses() async throws {
        try await withCommands { commands, store, _ in
            let report = try await store.add("t1", holds: [policyHold], subject: "Quarterly report")
            let invoice = try await store.add("t2", holds: [virusHold], subject: "Invoice attached")
            let bySubject = await commands.search(["--subject", "quarterly"])
            #expect(bySubject.ok && bySubject.output.contains(report.rawValue) && !bySubject.output.contains(invoice.rawValue), "\(bySubject.output)")
            let byText = await commands.search(["--text", "invoice"])
            #expect(byText.ok && byText.output.contains(invoice.rawValue) && !byText.output.contains(report.rawValue), "\(byText.output)")
            let byReason = await commands.search(["--reason", "Eicar-Test-Signature"])
            #expect(byReason.ok && byReason.output.contains(invoice.rawValue) && !byReason.output.contains(report.rawValue), "\(byReason.output)")
            let paged = await commands.search(["--limit", "1", "--order", "oldest"])
            #expect(paged.ok && paged.output.contains(report.rawValue) && paged.output.contains("next cursor: o"), "\(paged.output)")
            let none = await commands.search(["--text", "nothing-like-this"])
            #expect(none == .success("no held message matches"))
            let badOrder = await commands.search(["--order", "random"])
            #expect(!badOrder.ok && badOrder.output.contains("--order"), "\(badOrder.output)")
            let badCursor = await commands.search(["--cursor", "zzz"])
            #expect(!badCursor.ok && badCursor.output.contains("cursor"), "\(badCursor.output)")
        }
    }

    @Test("list pages with --limit and --cursor, and filters with --quarantine")
    func listPagesAndFilters() async throws {
        try await withCommands { commands, store, _ in
            let first = try await store.add("t1", holds: [policyHold])
            let second = try await store.add("t2", holds: [virusHold])
            let third = try await store.add("t3", holds: [policyHold, virusHold])
            let page1 = await commands.list(["--limit", "2"])
            #expect(page1.ok)
            #expect(page1.output.contains(third.rawValue) && page1.output.contains(second.rawValue) && !page1.output.contains(first.rawValue))
            let cursor = try #require(page1.output.split(separator: "\n").last.flatMap { line -> String? in
                line.hasPrefix("next cursor: ") ? String(line.dropFirst("next cursor: ".count)) : nil
            }, "\(page1.output)")
            let page2 = await commands.list(["--limit", "2", "--cursor", cursor])
            #expect(page2.ok)
            #expect(page2.output.contains(first.rawValue) && !page2.output.contains(second.rawValue))
            #expect(!page2.output.contains("next cursor"))
            let virus = await commands.list(["--quarantine", "Virus"])
            #expect(virus.output.contains(second.rawValue) && virus.output.contains(third.rawValue) && !virus.output.contains(first.rawValue))
            #expect(await commands.list(["--quarantine", "Outbreak"]) == .success("no messages held in \"Outbreak\""))
            let badCursor = await commands.list(["--cursor", "x9"])
            #expect(!badCursor.ok && badCursor.output.contains("start again without a cursor"), "\(badCursor.output)")
        }
    }

    @Test("list refuses a bad --limit, naming the option", arguments: ["0", "1001", "many"])
    func badLimit(_ limit: String) async throws {
        try await withCommands { commands, _, _ in
            #expect(await commands.list(["--limit", limit]) == .failure("--limit \(limit) is not a number from 1 to 1000"))
        }
    }

    @Test("show: envelope, holds with reasons, and the release history with outcomes")
    func showEverything() async throws {
        try await withCommands { commands, store, released in
            let qid = try await store.add("t1", holds: [policyHold, virusHold], subject: "Invoice")
            let before = await commands.show([qid.rawValue])
            #expect(before.ok, "\(before.output)")
            for text in ["QID          \(qid)", "gateway      gw1.example.org MID 482 ICID 12345 (transfer t1)",
                         "from         <alice@example.org>", "to           <bob@example.com>, <carol@example.com>",
                         "subject      Invoice", "\"Policy\"", "message filter:policy_violation",
                         "antivirus:Eicar-Test-Signature", "releases: none"] {
                #expect(before.output.contains(text), "\(text) missing in:\n\(before.output)")
            }
            #expect(await commands.release([qid.rawValue, "--user", "alice"]).ok)
            let request = try #require(released.requests.first)
            try await store.recordOutcome(releaseID: request.releaseID, recipient: "bob@example.com", status: .delivered,
                                          reply: "250 2.0.0 Ok: queued as 4F2")
            let after = await commands.show([qid.rawValue.lowercased()])
            #expect(after.ok, "\(after.output)")
            #expect(after.output.contains("release \(request.releaseID) requested by alice at "), "\(after.output)")
            #expect(after.output.contains(": accepted since "), "\(after.output)")
            #expect(after.output.contains("<bob@example.com> delivered at "), "\(after.output)")
            #expect(after.output.contains("250 2.0.0 Ok: queued as 4F2"))
            #expect(after.output.range(of: #""Policy"\s+released\s+message filter:policy_violation\s+stage message-filters, by alice"#,
                                       options: .regularExpression) != nil, "\(after.output)")
        }
    }

    @Test("release from every quarantine queues the release for its gateway")
    func releaseAll() async throws {
        try await withCommands { commands, store, released in
            let qid = try await store.add("t1", holds: [policyHold])
            let answer = await commands.release([qid.rawValue])
            let request = try #require(released.requests.first)
            #expect(answer == .success("QID \(qid) released from all quarantines; release \(request.releaseID) queued for gateway gw1.example.org"))
            #expect(request.qid == qid && request.requestedBy == "cli:test")
            #expect(await commands.list([]) == .success("no messages held"))
            // Asked again: the same release, handed to the queue again (it sends once).
            #expect(await commands.release([qid.rawValue]) == answer)
            #expect(released.requests.map(\.releaseID) == [request.releaseID, request.releaseID])
        }
    }

    @Test("a message in two quarantines is released from one, then from the other")
    func releaseOneThenTheOther() async throws {
        try await withCommands { commands, store, released in
            let qid = try await store.add("t1", holds: [policyHold, virusHold])
            #expect(await commands.release([qid.rawValue, "--from", "Policy"])
                    == .success("QID \(qid) released from \"Policy\"; still held in \"Virus\""))
            #expect(released.requests.isEmpty)
            let listed = await commands.list([])
            #expect(listed.output.contains("Policy:released, Virus:held"), "\(listed.output)")
            let last = await commands.release([qid.rawValue, "--from", "Virus", "--user", "bob"])
            let request = try #require(released.requests.first)
            #expect(last == .success("QID \(qid) released from all quarantines; release \(request.releaseID) queued for gateway gw1.example.org"))
            #expect(request.quarantines == ["Policy", "Virus"] && request.requestedBy == "bob")
            let notThere = await commands.release([qid.rawValue, "--from", "Outbreak"])
            #expect(!notThere.ok && notThere.output.contains("is not in quarantine \"Outbreak\""), "\(notThere.output)")
        }
    }

    @Test("delete: never delivered; a later release is refused with the store's reason")
    func deleteThenRelease() async throws {
        try await withCommands { commands, store, released in
            let qid = try await store.add("t1", holds: [policyHold, virusHold])
            #expect(await commands.delete([qid.rawValue, "--from", "Virus"]) == .success(
                "QID \(qid) deleted from \"Virus\"; it will never be delivered (still listed in \"Policy\" until deleted there or expired)"))
            let refused = await commands.release([qid.rawValue])
            #expect(!refused.ok)
            #expect(refused.output == "message \(qid) was deleted from \"Virus\" by cli:test; a message deleted from any quarantine is never released")
            #expect(released.requests.isEmpty)
            #expect(await commands.delete([qid.rawValue]) == .success("QID \(qid) deleted from all quarantines; it will never be delivered"))
            #expect(await commands.list([]) == .success("no messages held"))
            let shown = await commands.show([qid.rawValue])
            #expect(shown.output.contains("(body removed)"), "\(shown.output)")
        }
    }

    @Test("a released message can no longer be deleted")
    func deleteAfterRelease() async throws {
        try await withCommands { commands, store, _ in
            let qid = try await store.add("t1", holds: [policyHold])
            #expect(await commands.release([qid.rawValue]).ok)
            let refused = await commands.delete([qid.rawValue])
            #expect(!refused.ok && refused.output.contains("was already released for delivery by cli:test"), "\(refused.output)")
        }
    }

    @Test("unknown QIDs, malformed QIDs and bad arguments are refused with what to do")
    func refusals() async throws {
        try await withCommands { commands, _, _ in
            let unknown = "QAAAAAAAAAAAAAAAA"
            #expect(await commands.show([unknown]) == .failure("no quarantined message has QID \(unknown); quarantine list shows the QIDs"))
            #expect(await commands.release([unknown]) == .failure("no quarantined message has QID \(unknown)"))
            #expect(await commands.delete([unknown]) == .failure("no quarantined message has QID \(unknown)"))
            #expect(await commands.show(["Q123"]) == .failure("\"Q123\" is not a QID (Q and 16 characters A-Z or 2-7, as quarantine list shows them)"))
            #expect(await commands.release([]) == .failure("missing argument; usage: quarantine release QID [--from Q1,Q2] [--user NAME]"))
            #expect(await commands.release([unknown, "--form", "Policy"])
                    == .failure("unknown option --form (known here: --from, --user)"))
            #expect(await commands.list(["extra"]) == .failure("unexpected argument \"extra\"; usage: quarantine list [--quarantine NAME] [--limit N] [--cursor C]"))
            #expect(await commands.delete([unknown, "--from", ","]) == .failure("--from needs at least one name (NAME1,NAME2)"))
        }
    }

    @Test("the manager's control socket serves the commands and logs each action")
    func throughTheControlSocket() async throws {
        try await withCommands { _, store, released in
            let qid = try await store.add("t1", holds: [policyHold])
            let home = try #require(URL(fileURLWithPath: store.directory).deletingLastPathComponent().path as String?)
            let log = MailLog(inMemoryKeeping: 100)
            let server = try await Manager.startControl(configuration: ManagerConfiguration(home: home), store: store,
                                                        onReleased: { released.append($0) }, log: log)
            #expect(server.socketPath == home + "/control.sock")
            let listed = try await ControlClient.send(["quarantine", "list"], socketPath: server.socketPath)
            #expect(listed.ok && listed.output.contains(qid.rawValue), "\(listed.output)")
            let deleted = try await ControlClient.send(["quarantine", "delete", qid.rawValue, "--user", "cli:ops"], socketPath: server.socketPath)
            #expect(deleted == .success("QID \(qid) deleted from all quarantines; it will never be delivered"))
            let help = try await ControlClient.send(["help"], socketPath: server.socketPath)
            #expect(help.ok && help.output.contains("quarantine release QID [--from Q1,Q2] [--user NAME]"))
            await server.close()
            #expect(!FileManager.default.fileExists(atPath: server.socketPath))
            let lines = log.recentLines.joined(separator: "\n")
            #expect(lines.contains("Control socket \(server.socketPath) ready"), "\(lines)")
            #expect(lines.contains("QID \(qid) deleted by cli:ops from all quarantines"), "\(lines)")
        }
    }
}

// MARK: Helpers

/// What `onReleased` was called with.
final class ReleasedRequests: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [ReleaseRequest] = []
    func append(_ request: ReleaseRequest) { lock.lock(); values.append(request); lock.unlock() }
    var requests: [ReleaseRequest] { lock.lock(); defer { lock.unlock() }; return values }
}

/// Runs `body` with commands over a fresh store in a temporary directory (removed after).
func withCommands(_ body: (QuarantineCommands, QuarantineStore, ReleasedRequests) async throws -> Void) async throws {
    var template = Array("/tmp/lzmgr-XXXXXX".utf8CString)
    guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
        throw ManagerError("mkdtemp failed")
    }
    let home = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    defer { try? FileManager.default.removeItem(atPath: home) }
    let store = try QuarantineStore.open(directory: home + "/quarantine", options: QuarantineStoreOptions(fsync: false))
    defer { try? store.close() }
    let released = ReleasedRequests()
    let commands = QuarantineCommands(store: store, onReleased: { released.append($0) }, defaultUser: "cli:test")
    try await body(commands, store, released)
}

let policyHold = QuarantineTicket(quarantine: "Policy", reason: QuarantineReason(kind: .messageFilter, detail: "policy_violation"),
                                  stage: .messageFilters)
let virusHold = QuarantineTicket(quarantine: "Virus", reason: QuarantineReason(kind: .antivirus, detail: "Eicar-Test-Signature"),
                                 stage: .antivirus)

extension QuarantineStore {
    /// Stores a transfer from gw1.example.org (MID 482, two recipients) and returns its QID.
    func add(_ transferID: String, holds: [QuarantineTicket], subject: String = "Hello") async throws -> QID {
        let transfer = IncomingTransfer(transferID: transferID, gateway: "gw1.example.org", gatewayMID: 482, gatewayICID: 12345,
                                        receivedAt: Date(timeIntervalSince1970: 1_790_000_000), mailFrom: "alice@example.org",
                                        recipients: ["bob@example.com", "carol@example.com"], holds: holds)
        let body = "From: alice@example.org\r\nSubject: \(subject)\r\nMessage-ID: <\(transferID)@example.org>\r\n\r\nbody\r\n"
        return try await storeTransfer(transfer, body: Array(body.utf8)).qid
    }
}
