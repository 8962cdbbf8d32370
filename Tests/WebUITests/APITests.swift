import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import QuarantineStore
import Scanning
import Testing
@testable import WebUI

/// The API's routes with HummingbirdTesting's router client, on a real quarantine store and
/// user directory in a temporary directory. The actions go straight to the store (the
/// manager's own actions also queue releases and log; its tests cover that).
@Suite struct APITests {
    struct StoreActions: QuarantineActions {
        let store: QuarantineStore
        func release(_ qid: QID, from quarantines: Set<String>?, actor: APIUser) async throws -> ReleaseRequest? {
            try await store.release(qid, from: quarantines, by: actor.actor)
        }
        func delete(_ qid: QID, from quarantines: Set<String>?, actor: APIUser) async throws {
            try await store.delete(qid, from: quarantines, by: actor.actor)
        }
    }

    struct Fixture {
        let store: QuarantineStore
        let users: UserDirectory
        let tokens: [APIRole: String]
        let policyQID: QID
        let twoHoldsQID: QID
    }

    static let policy = QuarantineTicket(quarantine: "Policy", reason: QuarantineReason(kind: .messageFilter, detail: "policy_violation"),
                                         stage: .messageFilters)
    static let virus = QuarantineTicket(quarantine: "Virus", reason: QuarantineReason(kind: .antivirus, detail: "Eicar-Test-Signature"),
                                        stage: .antivirus)

    func withAPI(_ body: @Sendable (Fixture, any TestClientProtocol) async throws -> Void) async throws {
        let home = NSTemporaryDirectory() + "lazaret-api-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let store = try QuarantineStore.open(directory: home + "/quarantine", options: QuarantineStoreOptions(fsync: false))
        defer { try? store.close() }
        let users = UserDirectory(path: home + "/users.json")
        var tokens: [APIRole: String] = [:]
        for role in APIRole.allCases {
            try users.addUser("u-\(role.rawValue)", role: role)
            tokens[role] = try users.createToken(for: "u-\(role.rawValue)")
        }
        func add(_ id: String, _ holds: [QuarantineTicket]) async throws -> QID {
            let transfer = IncomingTransfer(transferID: id, gateway: "gw1", gatewayMID: 482, gatewayICID: 7,
                                            receivedAt: Date(timeIntervalSince1970: 1_790_000_000), mailFrom: "alice@example.org",
                                            recipients: ["bob@example.com"], holds: holds)
            let text = "From: alice@example.org\r\nSubject: \(id)\r\nMessage-ID: <\(id)@example.org>\r\n\r\nthe body of \(id)\r\n"
            return try await store.storeTransfer(transfer, body: Array(text.utf8)).qid
        }
        let fixture = Fixture(store: store, users: users, tokens: tokens, policyQID: try await add("t-1", [Self.policy]),
                              twoHoldsQID: try await add("t-2", [Self.policy, Self.virus]))
        let router = APIServer.buildRouter(store: store, users: users, actions: StoreActions(store: store))
        let app = Application(router: router)
        try await app.test(.router) { client in try await body(fixture, client) }
    }

    static func headers(_ token: String?) -> HTTPFields {
        var fields = HTTPFields()
        if let token { fields[.authorization] = "Bearer \(token)" }
        fields[.contentType] = "application/json"
        return fields
    }

    static func json(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }

    /// A problem document with this status and field.
    static func expectProblem(_ response: TestResponse, _ status: HTTPResponse.Status, field: String? = nil,
                              detail: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(response.status == status, sourceLocation: sourceLocation)
        #expect(response.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
        let document = try json(response)
        #expect(document["status"] as? Int == Int(status.code), sourceLocation: sourceLocation)
        #expect((document["type"] as? String)?.hasPrefix("https://lazaret.dev/problems/") == true, sourceLocation: sourceLocation)
        if let field { #expect(document["field"] as? String == field, "\(document)", sourceLocation: sourceLocation) }
        if let detail { #expect((document["detail"] as? String)?.contains(detail) == true, "\(document)", sourceLocation: sourceLocation) }
    }

    @Test func healthAndTheOpenAPIDocumentNeedNoToken() async throws {
        try await withAPI { _, client in
            let health = try await client.execute(uri: "/api/v1/health", method: .get)
            #expect(health.status == .ok)
            #expect(try Self.json(health)["quarantines"] as? Int == 2)
            #expect(try Self.json(health)["status"] as? String == "ok")
            let openAPI = try await client.execute(uri: "/api/v1/openapi.json", method: .get)
            #expect(openAPI.status == .ok)
            let document = try Self.json(openAPI)
            #expect((document["openapi"] as? String)?.hasPrefix("3.") == true)
            let paths = try #require(document["paths"] as? [String: Any])
            for path in ["/health", "/quarantines", "/messages", "/messages/{id}", "/messages/{id}/raw",
                         "/messages/{id}/release", "/messages/{id}/delete", "/messages/{id}/delay", "/messages/{id}/move",
                         "/messages/{id}/copy", "/messages/actions", "/quarantines/{name}", "/audit"] {
                #expect(paths[path] != nil, "openapi.json lacks \(path)")
            }
        }
    }

    @Test func theServedDocumentIsTheOneInDocs() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/openapi.json")
        #expect(try String(contentsOf: docs, encoding: .utf8) == APIServer.openAPIDocument,
                "docs/openapi.json and Sources/WebUI/Resources/openapi.json differ: copy one over the other")
    }

    @Test func noTokenOrAnUnknownOneIs401() async throws {
        try await withAPI { _, client in
            let none = try await client.execute(uri: "/api/v1/messages", method: .get)
            try Self.expectProblem(none, .unauthorized, detail: "no Authorization header")
            #expect(none.headers[.wwwAuthenticate] == "Bearer realm=\"lazaret\"")
            let wrong = try await client.execute(uri: "/api/v1/messages", method: .get, headers: Self.headers("lzt_NOTATOKEN"))
            try Self.expectProblem(wrong, .unauthorized, detail: "unknown or revoked token")
            let basic = try await client.execute(uri: "/api/v1/messages", method: .get, headers: [.authorization: "Basic YWRtaW46eA=="])
            try Self.expectProblem(basic, .unauthorized, detail: "not a bearer token")
        }
    }

    @Test func listPagesAndRefusesBadParameters() async throws {
        try await withAPI { fixture, client in
            let token = fixture.tokens[.readOnly]
            let first = try await client.execute(uri: "/api/v1/messages?limit=1", method: .get, headers: Self.headers(token))
            #expect(first.status == .ok)
            let page = try Self.json(first)
            #expect((page["items"] as? [[String: Any]])?.count == 1)
            let next = try #require(page["next"] as? String)
            let second = try Self.json(try await client.execute(uri: "/api/v1/messages?limit=1&cursor=\(next)", method: .get,
                                                               headers: Self.headers(token)))
            let ids = [page, second].compactMap { ($0["items"] as? [[String: Any]])?.first?["id"] as? String }
            #expect(Set(ids) == [fixture.policyQID.rawValue, fixture.twoHoldsQID.rawValue])
            #expect(second["next"] is NSNull)

            for (query, field) in [("limit=0", "limit"), ("limit=100000", "limit"), ("limit=ten", "limit"),
                                   ("cursor=%27%3B%20DROP%20TABLE%20messages", "cursor"), ("color=red", "color"),
                                   ("quarantine=", "quarantine")] {
                let response = try await client.execute(uri: "/api/v1/messages?\(query)", method: .get, headers: Self.headers(token))
                try Self.expectProblem(response, .badRequest, field: field)
            }
            let virus = try Self.json(try await client.execute(uri: "/api/v1/messages?quarantine=Virus", method: .get, headers: Self.headers(token)))
            #expect((virus["items"] as? [[String: Any]])?.map { $0["id"] as? String } == [fixture.twoHoldsQID.rawValue])
        }
    }

    @Test func searchParametersFindAndRefuseByName() async throws {
        try await withAPI { fixture, client in
            let token = fixture.tokens[.readOnly]
            func ids(_ query: String) async throws -> [String] {
                let response = try await client.execute(uri: "/api/v1/messages?\(query)", method: .get, headers: Self.headers(token))
                #expect(response.status == .ok, "\(query): \(String(buffer: response.body))")
                return (try Self.json(response)["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            }
            #expect(try await ids("q=body") .count == 2)
            #expect(try await ids("q=t-2") == [fixture.twoHoldsQID.rawValue])
            #expect(try await ids("subject=t-1") == [fixture.policyQID.rawValue])
            #expect(try await ids("from=alice%40example.org").count == 2)
            #expect(try await ids("reason=Eicar-Test-Signature") == [fixture.twoHoldsQID.rawValue])
            #expect(try await ids("kind=antivirus") == [fixture.twoHoldsQID.rawValue])
            #expect(try await ids("gateway=gw1&quarantine=Policy&order=oldest") == [fixture.policyQID.rawValue, fixture.twoHoldsQID.rawValue])
            #expect(try await ids("after=2026-01-01&before=2027-01-01T00:00:00Z").count == 2)
            #expect(try await ids("min_size=1&max_size=100000").count == 2)
            #expect(try await ids("q=nothing-like-this").isEmpty)
            // Hostile full-text input: results or a named refusal, never a 500.
            for hostile in ["%22", "%2A", "NEAR%28", "%27%3B%20DROP%20TABLE%20messages%3B--", "%28%28%28", "a%20OR%20b", "%00"] {
                let response = try await client.execute(uri: "/api/v1/messages?q=\(hostile)", method: .get, headers: Self.headers(token))
                #expect(response.status == .ok || response.status == .badRequest, "q=\(hostile): \(response.status)")
                if response.status == .badRequest { try Self.expectProblem(response, .badRequest, field: "q") }
            }
            for (query, field) in [("after=yesterday", "after"), ("after=2027-01-01&before=2026-01-01", "before"),
                                   ("kind=virus", "kind"), ("order=random", "order"), ("min_size=-1", "min_size"),
                                   ("min_size=10&max_size=5", "max_size"), ("all=maybe", "all"), ("q=", "q"),
                                   ("q=" + String(repeating: "x", count: 2000), "q"), ("cursor=n1&order=largest", "cursor")] {
                let response = try await client.execute(uri: "/api/v1/messages?\(query)", method: .get, headers: Self.headers(token))
                try Self.expectProblem(response, .badRequest, field: field)
            }
        }
    }

    @Test func oneMessageItsRawFormAndBadIds() async throws {
        try await withAPI { fixture, client in
            let token = fixture.tokens[.operator]
            let shown = try await client.execute(uri: "/api/v1/messages/\(fixture.twoHoldsQID)", method: .get, headers: Self.headers(token))
            #expect(shown.status == .ok)
            let document = try Self.json(shown)
            #expect(document["id"] as? String == fixture.twoHoldsQID.rawValue)
            #expect((document["quarantines"] as? [[String: Any]])?.compactMap { $0["quarantine"] as? String } == ["Policy", "Virus"])
            #expect(document["releases"] as? [Any] != nil)
            let raw = try await client.execute(uri: "/api/v1/messages/\(fixture.policyQID)/raw", method: .get, headers: Self.headers(token))
            #expect(raw.status == .ok)
            #expect(raw.headers[.contentType] == "message/rfc822")
            #expect(String(buffer: raw.body).contains("the body of t-1"))
            #expect(raw.headers[.contentDisposition] == "attachment; filename=\"\(fixture.policyQID).eml\"")
            for bad in ["..%2F..%2Fetc%2Fpasswd", "Q123", "%00", String(repeating: "Q", count: 300)] {
                let response = try await client.execute(uri: "/api/v1/messages/\(bad)", method: .get, headers: Self.headers(token))
                try Self.expectProblem(response, .badRequest, field: "id")
            }
            let unknown = try await client.execute(uri: "/api/v1/messages/QAAAAAAAAAAAAAAAA", method: .get, headers: Self.headers(token))
            try Self.expectProblem(unknown, .notFound, field: "id")
            let noRoute = try await client.execute(uri: "/api/v2/messages", method: .get, headers: Self.headers(token))
            try Self.expectProblem(noRoute, .notFound)
            let readOnlyRaw = try await client.execute(uri: "/api/v1/messages/\(fixture.policyQID)/raw", method: .get,
                                                       headers: Self.headers(fixture.tokens[.readOnly]))
            try Self.expectProblem(readOnlyRaw, .forbidden)
        }
    }

    @Test func eachRoleMayDoWhatItMayAndNoMore() async throws {
        try await withAPI { fixture, client in
            let policy = fixture.policyQID, both = fixture.twoHoldsQID
            // read-only: neither release nor delete.
            try Self.expectProblem(try await client.execute(uri: "/api/v1/messages/\(policy)/release", method: .post,
                                                            headers: Self.headers(fixture.tokens[.readOnly])), .forbidden)
            try Self.expectProblem(try await client.execute(uri: "/api/v1/messages/\(policy)/delete", method: .post,
                                                            headers: Self.headers(fixture.tokens[.readOnly])), .forbidden)
            // help desk: releases, never deletes.
            try Self.expectProblem(try await client.execute(uri: "/api/v1/messages/\(policy)/delete", method: .post,
                                                            headers: Self.headers(fixture.tokens[.helpDesk])), .forbidden)
            let released = try await client.execute(uri: "/api/v1/messages/\(both)/release", method: .post,
                                                    headers: Self.headers(fixture.tokens[.helpDesk]),
                                                    body: ByteBuffer(string: #"{"quarantines": ["Policy"]}"#))
            #expect(released.status == .ok)
            let partial = try Self.json(released)
            #expect(partial["still_held_in"] as? [String] == ["Virus"])
            #expect(partial["release_id"] == nil)
            // operator: deletes the rest; a release after that is a conflict.
            let deleted = try await client.execute(uri: "/api/v1/messages/\(both)/delete", method: .post,
                                                   headers: Self.headers(fixture.tokens[.operator]))
            #expect(deleted.status == .ok)
            try Self.expectProblem(try await client.execute(uri: "/api/v1/messages/\(both)/release", method: .post,
                                                            headers: Self.headers(fixture.tokens[.admin])), .conflict)
            // admin: releases from all; the answer carries the release.
            let full = try Self.json(try await client.execute(uri: "/api/v1/messages/\(policy)/release", method: .post,
                                                              headers: Self.headers(fixture.tokens[.admin])))
            #expect(full["release_id"] as? String != nil)
            #expect(full["release_state"] as? String == "requested")
            let history = try await fixture.store.releaseHistory(policy)
            #expect(history.first?.requestedBy == "api:u-admin")
        }
    }

    @Test func theAuditLogIsForAdminsAndShowsEveryActionAndRefusal() async throws {
        try await withAPI { fixture, client in
            // An action, then a refusal by the store (release after delete).
            _ = try await client.execute(uri: "/api/v1/messages/\(fixture.policyQID)/delete", method: .post,
                                         headers: Self.headers(fixture.tokens[.operator]))
            _ = try await client.execute(uri: "/api/v1/messages/\(fixture.policyQID)/release", method: .post,
                                         headers: Self.headers(fixture.tokens[.admin]))
            for role in [APIRole.operator, .readOnly, .helpDesk] {
                try Self.expectProblem(try await client.execute(uri: "/api/v1/audit", method: .get, headers: Self.headers(fixture.tokens[role])),
                                       .forbidden)
            }
            let listed = try await client.execute(uri: "/api/v1/audit?limit=10", method: .get, headers: Self.headers(fixture.tokens[.admin]))
            #expect(listed.status == .ok)
            let items = try #require(try Self.json(listed)["items"] as? [[String: Any]])
            #expect(items.compactMap { $0["action"] as? String } == ["delete", "release"])
            #expect(items.compactMap { $0["outcome"] as? String } == ["ok", "refused"])
            #expect(items.first?["actor"] as? String == "api:u-operator")
            #expect(items.first?["id"] as? String == fixture.policyQID.rawValue)
            let verified = try Self.json(try await client.execute(uri: "/api/v1/audit/verify", method: .get,
                                                                  headers: Self.headers(fixture.tokens[.admin])))
            #expect(verified["intact"] as? Bool == true)
            #expect(verified["verified_entries"] as? Int == 2)
            let latest = try #require(verified["latest"] as? String)
            let anchored = try Self.json(try await client.execute(uri: "/api/v1/audit/verify?anchor=\(latest)", method: .get,
                                                                  headers: Self.headers(fixture.tokens[.admin])))
            #expect(anchored["intact"] as? Bool == true)
            let wrongAnchor = try Self.json(try await client.execute(uri: "/api/v1/audit/verify?anchor=2:\(String(repeating: "0", count: 64))",
                                                                     method: .get, headers: Self.headers(fixture.tokens[.admin])))
            #expect(wrongAnchor["intact"] as? Bool == false)
            try Self.expectProblem(try await client.execute(uri: "/api/v1/audit/verify?anchor=nope", method: .get,
                                                            headers: Self.headers(fixture.tokens[.admin])), .badRequest, field: "anchor")
            try Self.expectProblem(try await client.execute(uri: "/api/v1/audit?limit=0", method: .get,
                                                            headers: Self.headers(fixture.tokens[.admin])), .badRequest, field: "limit")
        }
    }

    @Test func badBodiesAreNamed() async throws {
        try await withAPI { fixture, client in
            let headers = Self.headers(fixture.tokens[.admin])
            let uri = "/api/v1/messages/\(fixture.twoHoldsQID)/release"
            for (body, field) in [("{not json", "body"), (#"{"quarantines": "Policy"}"#, "quarantines"),
                                  (#"{"quarantine": ["Policy"]}"#, "quarantine"), (#"{"quarantines": []}"#, "quarantines"),
                                  (#"{"quarantines": ["Legal"]}"#, "quarantines")] {
                let response = try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
                try Self.expectProblem(response, .badRequest, field: field)
            }
            let huge = ByteBuffer(string: #"{"quarantines": [""# + String(repeating: "A", count: 300_000) + #""]}"#)
            let tooBig = try await client.execute(uri: uri, method: .post, headers: headers, body: huge)
            #expect(tooBig.status == .contentTooLarge)
            #expect(try await fixture.store.message(fixture.twoHoldsQID)?.heldIn == ["Policy", "Virus"], "a refused request changed something")
        }
    }
}
