import ArgumentParser
import Foundation

/// `lazaret quarantine list|search|show|release|release-all|delete|delay|move|copy|audit`:
/// the running manager's quarantines, over its REST API (`/api/v1`, docs/API.md) with a
/// bearer token. Actions are recorded with the token's user as actor (`api:NAME`).
struct QuarantineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quarantine",
        abstract: "List, show, release, delete, delay, move or copy quarantined messages on the running manager (over its API).",
        discussion: """
            The manager is found through --home (the directory of lazaret up: DIR/manager/manager.yaml gives the web address \
            and port, DIR/admin-token the token), --config FILE, or --url; the token comes from --token, LAZARET_TOKEN or \
            DIR/admin-token. Errors print the API's detail and exit with status 1.
            """,
        subcommands: [List.self, Search.self, Show.self, Release.self, ReleaseAll.self, Delete.self, Delay.self, Move.self,
                      Copy.self, Audit.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Messages still held, newest first.")

        @Option(help: "Only this quarantine (e.g. Policy, Virus, Outbreak).")
        var quarantine: String?

        @Option(help: "Messages per page (1-1000, default 50).")
        var limit: String?

        @Option(help: "Continue after this cursor (the `next cursor` of the previous page).")
        var cursor: String?

        @OptionGroup var connection: APIConnection

        func run() async throws {
            try await reportingFailures {
                let api = try connection.client()
                let page = try await api.get("/messages", query: [("quarantine", quarantine), ("limit", limit), ("cursor", cursor)],
                                             as: QuarantineDocuments.Page.self)
                guard !page.items.isEmpty else {
                    print("no messages held" + (quarantine.map { " in \(quoted($0))" } ?? "") + (cursor == nil ? "" : " after this cursor"))
                    return
                }
                print(QuarantineDocuments.table(page.items, next: page.next))
            }
        }
    }

    /// The filters of `search`, also the selection of `release-all`.
    struct SearchFilters: ParsableArguments {
        @Option(help: "Words (all must match) or \"a phrase\" in the envelope, headers or body text.") var text: String?
        @Option(help: "The envelope sender: a complete address matches exactly (ASCII case ignored), anything else its words.") var from: String?
        @Option(help: "An envelope recipient: a complete address matches exactly (ASCII case ignored), anything else its words.") var rcpt: String?
        @Option(help: "Words of the subject.") var subject: String?
        @Option(help: "The originating gateway.") var gateway: String?
        @Option(help: "Only this quarantine.") var quarantine: String?
        @Option(help: "Filter name, virus name or outbreak rule.") var reason: String?
        @Option(help: "Received at or after (2026-11-23 or 2026-11-23T12:00:00Z).") var after: String?
        @Option(help: "Received before (2026-11-23 or 2026-11-23T12:00:00Z).") var before: String?

        /// As the API names them (`GET /messages` parameters, the `search` of bulk actions).
        var parameters: [(String, String?)] {
            [("q", text), ("from", from), ("rcpt", rcpt), ("subject", subject), ("gateway", gateway), ("quarantine", quarantine),
             ("reason", reason), ("after", after), ("before", before)]
        }

        var isEmpty: Bool { parameters.allSatisfy { $0.1 == nil } }
    }

    struct Search: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Held messages matching every filter given; --text searches headers and body text.")

        @OptionGroup var filters: SearchFilters
        @Option(help: "newest (default), oldest, largest or smallest.") var order: String?
        @Option(help: "Messages per page (1-1000, default 50).") var limit: String?
        @Option(help: "Continue after this cursor (same filters and order).") var cursor: String?
        @OptionGroup var connection: APIConnection

        func run() async throws {
            try await reportingFailures {
                let api = try connection.client()
                let page = try await api.get("/messages", query: filters.parameters + [("order", order), ("limit", limit), ("cursor", cursor)],
                                             as: QuarantineDocuments.Page.self)
                guard !page.items.isEmpty else {
                    print("no held message matches" + (cursor == nil ? "" : " after this cursor"))
                    return
                }
                print(QuarantineDocuments.table(page.items, next: page.next))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One message: envelope, quarantines with reasons, release history.")

        @Argument(help: "The message's QID (from `lazaret quarantine list`).")
        var qid: String

        @OptionGroup var connection: APIConnection

        func run() async throws {
            try await reportingFailures {
                let api = try connection.client()
                let id = try messagePath(qid)
                print(QuarantineDocuments.show(try await api.get(id, as: QuarantineDocuments.MessageDetail.self)))
            }
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Release a message; it is delivered once released from every quarantine it is held in.")

        @Argument(help: "The message's QID.")
        var qid: String

        @Option(help: "Only from these quarantines (comma-separated); default: all it is held in.")
        var from: String?

        @OptionGroup var connection: APIConnection

        func run() async throws {
            try await reportingFailures {
                let api = try connection.client()
                let path = try messagePath(qid)
                let named = names(from)
                let answer = try await api.post(path + "/release", body: named.map { ["quarantines": .strings($0)] } ?? [:],
                                                as: QuarantineDocuments.Action.self)
                guard let releaseID = answer.releaseId else {
                    let from = named.map { $0.sorted().map(quoted).joined(separator: ", ") } ?? "its quarantines"
                    print("QID \(answer.id) released from \(from); still held in \(answer.stillHeldIn.map(quoted).joined(separator: ", "))")
                    return
                }
                // The gateway it goes to, as the message says.
                let gateway = (try? await api.get(path, as: QuarantineDocuments.MessageDetail.self))?.message.gateway
                switch answer.releaseState {
                case "accepted", "failed":
                    print("QID \(answer.id) was already released from all quarantines; release \(releaseID) is \(answer.releaseState ?? "")"
                          + (gateway.map { " (gateway \($0))" } ?? ""))
                default:
                    print("QID \(answer.id) released from all quarantines; release \(releaseID) queued" + (gateway.map { " for gateway \($0)" } ?? ""))
                }
            }
        }
    }

    struct ReleaseAll: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "release-all",
            abstract: "Release every held message matching the filters (all of them when none is given), or those an outbreak rule holds.",
            discussion: "With --quarantine Q, messages are released from Q alone; otherwise from all their quarantines.")

        @OptionGroup var filters: SearchFilters

        @Option(help: "Instead of filters: the messages held by this outbreak rule.")
        var rule: String?

        @OptionGroup var connection: APIConnection

        func validate() throws {
            if rule != nil, !filters.isEmpty { throw ValidationError("give --rule or search filters, not both") }
        }

        func run() async throws {
            try await reportingFailures {
                let api = try connection.client()
                var body: [String: JSONValue] = ["action": .string("release")]
                if let rule {
                    body["rule"] = .string(rule)
                } else {
                    var search: [String: JSONValue] = [:]
                    for case let (name, value?) in filters.parameters { search[name] = .string(value) }
                    body["search"] = .object(search)
                }
                if let quarantine = filters.quarantine { body["quarantines"] = .strings([quarantine]) }
                let answer = try await api.post("/messages/actions", body: body, as: QuarantineDocuments.Bulk.self)
                let stillHeld = answer.stillHeld ?? 0
                let scope = filters.quarantine.map { "from \(quoted($0))" } ?? "from all their quarantines"
                // `done` counts every message released; `still_held` those of them held elsewhere.
                var text = "\(answer.done) message(s) released \(scope): \(answer.done - stillHeld) queued for delivery, \(stillHeld) still held in another quarantine"
                text += refusals(answer)
                print(text)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a message; deleted from any quarantine, it is never delivered.")

        @Argument(help: "The message's QID.")
        var qid: String

        @Option(help: "Only from these quarantines (comma-separated); default: all.")
        var from: String?

        @OptionGroup var connection: APIConnection

        func run() async throws {
            try await reportingFailures {
                let api = try connection.client()
                let named = names(from)
                let answer = try await api.post(try messagePath(qid) + "/delete", body: named.map { ["quarantines": .strings($0)] } ?? [:],
                                                as: QuarantineDocuments.Action.self)
                let from = named.map { $0.sorted().map(quoted).joined(separator: ", ") } ?? "all quarantines"
                print("QID \(answer.id) deleted from \(from); it will never be delivered"
                      + (answer.stillHeldIn.isEmpty ? "" : " (still listed in \(answer.stillHeldIn.map(quoted).joined(separator: ", ")) until deleted there or expired)"))
            }
        }
    }

    struct Delay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Keep a message longer: its holds expire --seconds or --days from now instead.")

        @Argument(help: "The message's QID.")
        var qid: String

        @Option(help: "Seconds from now (60-31536000).")
        var seconds: Int?

        @Option(help: "Days from now (1-365).")
        var days: Int?

        @Option(help: "Only its hold in this quarantine (repeat, or comma-separate, for several); default: all it is held in.")
        var quarantine: [String] = []

        @OptionGroup var connection: APIConnection

        func validate() throws {
            guard (seconds == nil) != (days == nil) else { throw ValidationError("give --seconds N or --days N (one of them)") }
            if let days, !(1...365).contains(days) { throw ValidationError("--days \(days): use 1 to 365") }
        }

        func run() async throws {
            try await reportingFailures {
                let api = try connection.client()
                var body: [String: JSONValue] = ["seconds": .int(seconds ?? (days ?? 0) * 86400)]
                let named = quarantine.flatMap { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
                if !named.isEmpty { body["quarantines"] = .strings(named) }
                let detail = try await api.post(try messagePath(qid) + "/delay", body: body, as: QuarantineDocuments.MessageDetail.self)
                let holds = detail.message.quarantines.filter { $0.state == "held" && (named.isEmpty || named.contains($0.quarantine)) }
                print("QID \(detail.message.id) held longer: "
                      + holds.map { "\(quoted($0.quarantine)) expires \($0.expiresAt ?? "never")" }.joined(separator: ", "))
            }
        }
    }

    struct Move: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Move a message's hold from one quarantine to another.")

        @Argument(help: "The message's QID.")
        var qid: String

        @Option(help: "The quarantine it is held in now.")
        var from: String

        @Option(help: "The quarantine to hold it in instead.")
        var to: String

        @OptionGroup var connection: APIConnection

        func run() async throws {
            try await reportingFailures {
                let api = try connection.client()
                let detail = try await api.post(try messagePath(qid) + "/move", body: ["from": .string(from), "to": .string(to)],
                                                as: QuarantineDocuments.MessageDetail.self)
                print("QID \(detail.message.id) moved from \(quoted(from)) to \(quoted(to)); held in "
                      + detail.message.heldIn.map(quoted).joined(separator: ", "))
            }
        }
    }

    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a copy of a message to an address (admins only); the message stays held.")

        @Argument(help: "The message's QID.")
        var qid: String

        @Option(help: "The address the copy goes to.")
        var to: String

        @OptionGroup var connection: APIConnection

        func run() async throws {
            try await reportingFailures {
                let api = try connection.client()
                let answer = try await api.post(try messagePath(qid) + "/copy", body: ["to": .string(to)], as: QuarantineDocuments.Copy.self)
                print("QID \(qid.uppercased()): a copy goes to <\(answer.to)> (release \(answer.releaseId)); the message stays held")
            }
        }
    }

    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The latest audit log entries (who released or deleted what, refusals included); admins only.")

        @Option(help: "Entries to show (1-1000, default 20).")
        var limit: String = "20"

        @OptionGroup var connection: APIConnection

        func run() async throws {
            try await reportingFailures {
                let api = try connection.client()
                let page = try await api.get("/audit", query: [("limit", limit)], as: QuarantineDocuments.AuditPage.self)
                print(QuarantineDocuments.auditTable(page.items))
            }
        }
    }
}

/// `/messages/QID`, after checking that `text` is a QID (so it cannot name another path).
private func messagePath(_ text: String) throws(CLIFailure) -> String {
    let qid = text.uppercased()
    let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    guard qid.count == 17, qid.first == "Q", qid.dropFirst().allSatisfy(alphabet.contains) else {
        throw CLIFailure("\(quoted(text)) is not a QID (Q and 16 characters A-Z or 2-7, as quarantine list shows them)")
    }
    return "/messages/" + qid
}

/// `--from Q1,Q2` as a list; nil when not given.
private func names(_ option: String?) -> [String]? {
    option.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
}

/// The refused messages of a bulk action (the first 20), and a note when the selection was cut.
private func refusals(_ answer: QuarantineDocuments.Bulk) -> String {
    var text = ""
    if !answer.refused.isEmpty {
        text += "\n\(answer.refused.count) refused:\n" + answer.refused.prefix(20).map { "  \($0.id): \($0.detail)" }.joined(separator: "\n")
    }
    if answer.truncated {
        text += "\nmore messages matched than one request acts on (\(answer.matched) taken): run it again for the rest"
    }
    return text
}
