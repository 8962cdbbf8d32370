import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import QuarantineStore
import Scanning
import Testing
@testable import WebUI

/// Quarantine definitions, visibility per user, delay, move, copy, bulk actions and the
/// quota in /health, through the routes (HummingbirdTesting) on a real store.
@Suite struct QuarantineManagementAPITests {
    typealias T = APITests

    func post(_ client: any TestClientProtocol, _ uri: String, _ token: String?, _ json: String,
              method: HTTPRequest.Method = .post) async throws -> TestResponse {
        try await client.execute(uri: uri, method: method, headers: T.headers(token), body: ByteBuffer(string: json))
    }

    @Test func definitionsAreAdminsToChangeAndEveryoneToRead() async throws {
        try await APITests().withAPI { fixture, client in
            let admin = fixture.tokens[.admin], op = fixture.tokens[.operator]
            let list = try T.json(try await client.execute(uri: "/api/v1/quarantines", method: .get, headers: T.headers(op)))
            let items = try #require(list["items"] as? [[String: Any]])
            #expect(items.compactMap { $0["name"] as? String } == ["Outbreak", "Policy", "Unclassified", "Virus"])
            #expect(items.first { $0["name"] as? String == "Policy" }?["held"] as? Int == 2)
            #expect(items.first { $0["name"] as? String == "Policy" }?["default_action"] as? String == "delete")

            // Operators may not define quarantines.
            try T.expectProblem(try await post(client, "/api/v1/quarantines", op, #"{"name": "Invoices"}"#), .forbidden)
            let created = try await post(client, "/api/v1/quarantines", admin,
                                         #"{"name": "Invoices", "retention_seconds": 86400, "default_action": "release", "release_subject_tag": "[RELEASED]", "visible_to_roles": ["operator"]}"#)
            #expect(created.status == .created, "\(String(buffer: created.body))")
            #expect(created.headers[.location] == "/api/v1/quarantines/Invoices")
            #expect(try T.json(created)["release_subject_tag"] as? String == "[RELEASED]")
            try T.expectProblem(try await post(client, "/api/v1/quarantines", admin, #"{"name": "invoices"}"#), .conflict, field: "name")
            for (body, field) in [(#"{"name": "../etc"}"#, "name"), (#"{"name": "X", "retention_seconds": 1}"#, "retention_seconds"),
                                  (#"{"name": "X", "default_action": "bounce"}"#, "default_action"),
                                  (#"{"name": "X", "release_header": "Bad Header"}"#, "release_header"),
                                  (#"{"name": "X", "visible_to_roles": ["root"]}"#, "visible_to_roles"),
                                  (#"{"name": "X", "colour": "red"}"#, "colour"), (#"{"retention_seconds": 60}"#, "name"),
                                  (#"["name"]"#, "body"), (#"{"name": 5}"#, "name")] {
                try T.expectProblem(try await post(client, "/api/v1/quarantines", admin, body), .badRequest, field: field)
            }
            // Change, never rename; system quarantines cannot be removed.
            let changed = try await post(client, "/api/v1/quarantines/Invoices", admin, #"{"retention_seconds": 7200}"#, method: .patch)
            #expect(try changed.status == .ok && T.json(changed)["retention_seconds"] as? Int == 7200)
            try T.expectProblem(try await post(client, "/api/v1/quarantines/Invoices", admin, #"{"name": "Bills"}"#, method: .patch),
                                .badRequest, field: "name")
            try T.expectProblem(try await client.execute(uri: "/api/v1/quarantines/Virus", method: .delete, headers: T.headers(admin)), .conflict)
            try T.expectProblem(try await client.execute(uri: "/api/v1/quarantines/Nope", method: .delete, headers: T.headers(admin)), .notFound)
            let removed = try await client.execute(uri: "/api/v1/quarantines/Invoices", method: .delete, headers: T.headers(admin))
            #expect(try removed.status == .ok && T.json(removed)["messages"] as? Int == 0)
        }
    }

    @Test func usersSeeAndActOnlyInTheirQuarantinesAndAreNotToldTheOthers() async throws {
        try await APITests().withAPI { fixture, client in
            let admin = fixture.tokens[.admin], op = fixture.tokens[.operator], helpDesk = fixture.tokens[.helpDesk]
            // Virus is for administrators and operators only.
            let patched = try await post(client, "/api/v1/quarantines/Virus", admin, #"{"visible_to_roles": ["operator"]}"#, method: .patch)
            #expect(patched.status == .ok)
            func ids(_ token: String?) async throws -> [String] {
                let page = try T.json(try await client.execute(uri: "/api/v1/messages", method: .get, headers: T.headers(token)))
                return (page["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            }
            #expect(try await ids(helpDesk).count == 2, "both are in Policy")
            let shown = try T.json(try await client.execute(uri: "/api/v1/messages/\(fixture.twoHoldsQID)", method: .get, headers: T.headers(helpDesk)))
            #expect((shown["quarantines"] as? [[String: Any]])?.compactMap { $0["quarantine"] as? String } == ["Policy"])
            #expect(!String(describing: shown).contains("Virus"))
            let virusOnly = try T.json(try await client.execute(uri: "/api/v1/quarantines", method: .get, headers: T.headers(helpDesk)))
            #expect(!((virusOnly["items"] as? [[String: Any]]) ?? []).contains { $0["name"] as? String == "Virus" })
            // Help desk releases from what it sees: the message stays held (in Virus), and it is not told where.
            let released = try await post(client, "/api/v1/messages/\(fixture.twoHoldsQID)/release", helpDesk, "")
            #expect(released.status == .ok, "\(String(buffer: released.body))")
            let document = try T.json(released)
            #expect(document["still_held_in"] as? [String] == [] && document["release_id"] == nil)
            #expect(try await fixture.store.message(fixture.twoHoldsQID)?.heldIn == ["Virus"])
            // Naming it is "not held", like any quarantine the message is not in.
            try T.expectProblem(try await post(client, "/api/v1/messages/\(fixture.policyQID)/release", helpDesk, #"{"quarantines": ["Virus"]}"#),
                                .badRequest, field: "quarantines")
            // Now held only in Virus: the help desk's search no longer finds it; its page shows
            // the Policy hold the help desk released and nothing of Virus.
            #expect(try await ids(helpDesk) == [fixture.policyQID.rawValue])
            let after = try T.json(try await client.execute(uri: "/api/v1/messages/\(fixture.twoHoldsQID)", method: .get, headers: T.headers(helpDesk)))
            #expect((after["quarantines"] as? [[String: Any]])?.compactMap { $0["state"] as? String } == ["released"])
            #expect(!String(describing: after).contains("Virus"))
            // A message only ever in quarantines the user cannot see does not exist for them.
            let virusHold = QuarantineTicket(quarantine: "Virus", reason: QuarantineReason(kind: .antivirus, detail: "Eicar"), stage: .antivirus)
            let hidden = try await fixture.store.storeTransfer(
                IncomingTransfer(transferID: "t-hidden", gateway: "gw1", gatewayMID: 9, gatewayICID: 7, receivedAt: Date(),
                                 mailFrom: "x@example.org", recipients: ["bob@example.com"], holds: [virusHold]),
                body: Array("Subject: x\r\n\r\nx\r\n".utf8)).qid
            try T.expectProblem(try await client.execute(uri: "/api/v1/messages/\(hidden)", method: .get, headers: T.headers(helpDesk)), .notFound)
            try T.expectProblem(try await post(client, "/api/v1/messages/\(hidden)/release", helpDesk, ""), .notFound)
            try T.expectProblem(try await client.execute(uri: "/api/v1/messages/\(hidden)", method: .get, headers: T.headers(fixture.tokens[.readOnly])),
                                .notFound)
            #expect(try await ids(op).count == 3, "operators see Virus")
        }
    }

    @Test func delayMoveAndCopy() async throws {
        try await APITests().withAPI { fixture, client in
            let admin = fixture.tokens[.admin], op = fixture.tokens[.operator], readOnly = fixture.tokens[.readOnly]
            let qid = fixture.twoHoldsQID
            let before = try #require(try await fixture.store.message(qid))
            let delayed = try await post(client, "/api/v1/messages/\(qid)/delay", op, #"{"seconds": 86400, "quarantines": ["Virus"]}"#)
            #expect(delayed.status == .ok, "\(String(buffer: delayed.body))")
            let after = try #require(try await fixture.store.message(qid))
            #expect(after.holds[1].expiresAt == before.holds[1].expiresAt!.addingTimeInterval(86_400) && after.holds[0].expiresAt == before.holds[0].expiresAt)
            for (body, field) in [(#"{"seconds": 1}"#, "seconds"), (#"{}"#, "seconds"), (#"{"seconds": "soon"}"#, "seconds"),
                                  (#"{"seconds": 3600, "until": "x"}"#, "until"), (#"{"seconds": 3600, "quarantines": []}"#, "quarantines")] {
                try T.expectProblem(try await post(client, "/api/v1/messages/\(qid)/delay", op, body), .badRequest, field: field)
            }
            try T.expectProblem(try await post(client, "/api/v1/messages/\(qid)/delay", readOnly, #"{"seconds": 3600}"#), .forbidden)

            _ = try await post(client, "/api/v1/quarantines", admin, #"{"name": "Invoices"}"#)
            let moved = try await post(client, "/api/v1/messages/\(qid)/move", op, #"{"from": "Policy", "to": "Invoices"}"#)
            #expect(moved.status == .ok, "\(String(buffer: moved.body))")
            #expect(try await fixture.store.message(qid)?.heldIn == ["Invoices", "Virus"])
            try T.expectProblem(try await post(client, "/api/v1/messages/\(qid)/move", op, #"{"from": "Virus", "to": "Policy"}"#), .badRequest)
            try T.expectProblem(try await post(client, "/api/v1/messages/\(qid)/move", op, #"{"from": "Invoices"}"#), .badRequest, field: "to")

            // Copies are for administrators.
            try T.expectProblem(try await post(client, "/api/v1/messages/\(qid)/copy", op, #"{"to": "analyst@example.net"}"#), .forbidden)
            try T.expectProblem(try await post(client, "/api/v1/messages/\(qid)/copy", admin, #"{"to": "not an address"}"#), .badRequest, field: "to")
            let copied = try await post(client, "/api/v1/messages/\(qid)/copy", admin, #"{"to": "analyst@example.net"}"#)
            #expect(copied.status == .accepted, "\(String(buffer: copied.body))")
            let releaseID = try #require(try T.json(copied)["release_id"] as? String)
            #expect(try await fixture.store.release(id: releaseID)?.recipients == ["analyst@example.net"])
            #expect(try await fixture.store.message(qid)?.heldIn == ["Invoices", "Virus"])
            let raw = try await client.execute(uri: "/api/v1/messages/\(qid)/raw", method: .get, headers: T.headers(op))
            #expect(raw.status == .ok)
            let audit = try await fixture.store.auditEntries(last: 20)
            #expect(Set(audit.map(\.action.rawValue)).isSuperset(of: ["delay", "move", "copy", "download"]))
            #expect(audit.last?.action == .download && audit.last?.actor.name == "api:u-operator" && audit.last?.target.qid == qid)
        }
    }

    @Test func bulkActionsByIdsSearchAndRule() async throws {
        try await APITests().withAPI { fixture, client in
            let op = fixture.tokens[.operator], helpDesk = fixture.tokens[.helpDesk]
            let outbreak = QuarantineTicket(quarantine: "Outbreak", reason: QuarantineReason(kind: .outbreak, detail: "OUTB-42", threatLevel: 3),
                                            stage: .outbreak, retentionSeconds: 3600)
            var outbreakQIDs: [QID] = []
            for index in 0..<3 {
                let transfer = IncomingTransfer(transferID: "ob-\(index)", gateway: "gw1", gatewayMID: UInt64(900 + index), gatewayICID: 7,
                                                receivedAt: Date(), mailFrom: "x@example.org", recipients: ["bob@example.com"], holds: [outbreak])
                outbreakQIDs.append(try await fixture.store.storeTransfer(transfer, body: Array("Subject: ob\r\n\r\nbody\r\n".utf8)).qid)
            }
            let byRule = try await post(client, "/api/v1/messages/actions", op, #"{"action": "release", "rule": "OUTB-42"}"#)
            #expect(byRule.status == .ok, "\(String(buffer: byRule.body))")
            let ruled = try T.json(byRule)
            #expect(ruled["matched"] as? Int == 3 && ruled["done"] as? Int == 3 && (ruled["release_ids"] as? [String])?.count == 3)
            for qid in outbreakQIDs { #expect(try await fixture.store.message(qid)?.heldIn == []) }

            let bySearch = try await post(client, "/api/v1/messages/actions", op,
                                          #"{"action": "delay", "seconds": 3600, "search": {"quarantine": "Policy"}}"#)
            #expect(try T.json(bySearch)["matched"] as? Int == 2 && T.json(bySearch)["done"] as? Int == 2)

            let byIDs = try await post(client, "/api/v1/messages/actions", op,
                                       #"{"action": "delete", "ids": ["\#(fixture.policyQID)", "QAAAAAAAAAAAAAAAA"]}"#)
            let deleted = try T.json(byIDs)
            #expect(deleted["done"] as? Int == 1 && (deleted["refused"] as? [[String: Any]])?.first?["id"] as? String == "QAAAAAAAAAAAAAAAA")

            for (body, field) in [(#"{"action": "explode", "ids": ["QAAAAAAAAAAAAAAAA"]}"#, "action"),
                                  (#"{"action": "release"}"#, "ids"), (#"{"action": "release", "ids": [], "rule": "x"}"#, "ids"),
                                  (#"{"action": "release", "ids": []}"#, "ids"), (#"{"action": "release", "ids": ["../x"]}"#, "ids[0]"),
                                  (#"{"action": "delay", "ids": ["QAAAAAAAAAAAAAAAA"]}"#, "seconds"),
                                  (#"{"action": "release", "search": {"limit": "5"}}"#, "search.limit"),
                                  (#"{"action": "release", "search": {"after": "yesterday"}}"#, "search.after"),
                                  (#"{"action": "release", "search": {"colour": "red"}}"#, "search.colour"),
                                  (#"{"action": "release", "rule": "x", "extra": 1}"#, "extra")] {
                try T.expectProblem(try await post(client, "/api/v1/messages/actions", op, body), .badRequest, field: field)
            }
            let manyIDs = "[" + (0...1000).map { _ in "\"QAAAAAAAAAAAAAAAA\"" }.joined(separator: ",") + "]"
            try T.expectProblem(try await post(client, "/api/v1/messages/actions", op, #"{"action": "release", "ids": \#(manyIDs)}"#),
                                .badRequest, field: "ids")
            // The help desk may release, not delete.
            try T.expectProblem(try await post(client, "/api/v1/messages/actions", helpDesk, #"{"action": "delete", "rule": "OUTB-42"}"#), .forbidden)
        }
    }

    @Test func healthShowsTheQuota() async throws {
        try await APITests().withAPI { _, client in
            let health = try T.json(try await client.execute(uri: "/api/v1/health", method: .get))
            let quota = try #require(health["quota"] as? [String: Any])
            #expect((quota["used_bytes"] as? Int ?? 0) > 0 && quota["messages_stored"] as? Int == 2)
            #expect(quota["alert"] == nil && quota["quota_bytes"] == nil, "no quota in this store")
        }
    }
}
