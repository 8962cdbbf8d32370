import Foundation
import Testing

/// Every endpoint of a real `lazaret manager` process over HTTP (curl) for each role: what
/// it may do answers 2xx, what it may not answers 403 with a problem document, and hostile
/// input (malformed JSON, unknown fields, huge pages, injection, path traversal) is a
/// named 4xx, never a 5xx.
@Suite(.serialized)
struct APIRoleMatrixTests {
    @Test("each role against each endpoint, and hostile input, on a real manager")
    func roleMatrix() async throws {
        let setup = try ReleaseSetup(filters: #"hold_it: if (subject == '^hold') { quarantine("Policy"); }"#)
        defer { setup.stop() }
        var tokens: [String: String] = [:]
        for role in ["admin", "operator", "help-desk", "read-only"] { tokens[role] = try setup.token(for: "u-\(role)", role: role) }
        let base = "http://127.0.0.1:\(setup.webPort)/api/v1"
        try Harness.waitUntil("the API answering /health") { (try? APIProcessTests.curl("GET", base + "/health", token: nil).0) == 200 }
        for index in 1...8 { try setup.send(subject: "hold \(index)", messageID: "matrix-\(index)@sender.example") }
        try Harness.waitUntil("eight messages stored") { setup.storedCount() == 8 }
        var ids = setup.qids()
        func next() -> String { ids.removeFirst() }

        struct Case {
            let method: String
            let path: String
            let body: String?
            /// Roles that may; the others get 403.
            let allowed: Set<String>
        }
        let everyone: Set<String> = ["admin", "operator", "help-desk", "read-only"]
        // One fresh message per role and acting case, so that each allowed action succeeds on its own.
        for role in ["read-only", "help-desk", "operator", "admin"] {
            let token = tokens[role]!
            let id = role == "read-only" || role == "help-desk" ? ids[0] : next()
            let cases = [
                Case(method: "GET", path: "/quarantines", body: nil, allowed: everyone),
                Case(method: "GET", path: "/quarantines/Policy", body: nil, allowed: everyone),
                Case(method: "GET", path: "/messages?q=hold&limit=5", body: nil, allowed: everyone),
                Case(method: "GET", path: "/messages/\(id)", body: nil, allowed: everyone),
                Case(method: "GET", path: "/messages/\(id)/raw", body: nil, allowed: ["admin", "operator"]),
                Case(method: "POST", path: "/messages/\(id)/delay", body: #"{"seconds": 3600}"#, allowed: ["admin", "operator"]),
                Case(method: "POST", path: "/messages/\(id)/copy", body: #"{"to": "audit@rcpt.example"}"#, allowed: ["admin"]),
                Case(method: "POST", path: "/messages/actions", body: #"{"action": "delay", "seconds": 600, "ids": ["\#(id)"]}"#,
                     allowed: ["admin", "operator"]),
                Case(method: "POST", path: "/quarantines", body: #"{"name": "Matrix \#(role)"}"#, allowed: ["admin"]),
                Case(method: "PATCH", path: "/quarantines/Policy", body: #"{"retention_seconds": 864000}"#, allowed: ["admin"]),
                Case(method: "GET", path: "/audit?limit=5", body: nil, allowed: ["admin"]),
                Case(method: "GET", path: "/audit/verify", body: nil, allowed: ["admin"]),
                Case(method: "POST", path: "/messages/\(id)/delete", body: "{}", allowed: ["admin", "operator"]),
            ] + (role == "help-desk" || role == "admin" || role == "operator"
                 ? [Case(method: "POST", path: "/messages/\(role == "help-desk" ? next() : next())/release", body: "{}", allowed: everyone.subtracting(["read-only"]))]
                 : [Case(method: "POST", path: "/messages/\(id)/release", body: "{}", allowed: everyone.subtracting(["read-only"]))])
            for item in cases {
                let (status, text) = try APIProcessTests.curl(item.method, base + item.path, token: token, body: item.body)
                if item.allowed.contains(role) {
                    #expect((200...299).contains(status), "\(role) \(item.method) \(item.path): \(status) \(text)")
                } else {
                    #expect(status == 403 && text.contains("\"type\":\"https://lazaret.dev/problems/forbidden\""),
                            "\(role) \(item.method) \(item.path): \(status) \(text)")
                }
            }
        }
        // The admin-only removal, last.
        let (removed, removedBody) = try APIProcessTests.curl("DELETE", base + "/quarantines/Matrix%20admin", token: tokens["admin"])
        #expect(removed == 200, "\(removedBody)")

        // Hostile input: each a 4xx problem naming the field, never a 5xx.
        let admin = tokens["admin"]!
        let id = ids.last!
        let hostile: [(String, String, String?, Int, String?)] = [
            ("POST", "/messages/\(id)/release", "{\"quarantines\":", 400, nil),
            ("POST", "/messages/\(id)/release", #"{"quarantines": ["Policy"], "force": true}"#, 400, "force"),
            ("POST", "/messages/\(id)/delay", #"{"seconds": 1e400}"#, 400, nil),
            ("POST", "/messages/actions", #"{"action": "release", "ids": "all"}"#, 400, "ids"),
            ("POST", "/quarantines", #"{"name": "x', 'system'); DROP TABLE quarantines; --"}"#, 400, "name"),
            ("GET", "/messages?limit=1000000", nil, 400, "limit"),
            ("GET", "/messages?q=%22%29%20OR%201%3D1%20--", nil, 200, nil),
            ("GET", "/messages?from=%27%20OR%20%271%27%3D%271", nil, 200, nil),
            ("GET", "/messages/..%2F..%2F..%2Fetc%2Fpasswd", nil, 400, "id"),
            ("GET", "/messages/%2e%2e/raw", nil, 400, "id"),
            ("GET", "/quarantines/..%2F..%2Fquarantine.sqlite", nil, 400, "name"),
            ("DELETE", "/quarantines/Policy%00", nil, 400, "name"),
            ("POST", "/messages/\(id)/move", String(repeating: "[", count: 300_000), 413, "body"),
        ]
        for (method, path, body, expected, field) in hostile {
            let (status, text) = try APIProcessTests.curl(method, base + path, token: admin, body: body)
            #expect(status == expected, "\(method) \(path): \(status) \(text.prefix(300))")
            #expect(status < 500)
            if let field { #expect(text.contains("\"field\":\"\(field)\""), "\(method) \(path): \(text.prefix(300))") }
        }
        // The chain holds after all of it.
        let (_, verify) = try APIProcessTests.curl("GET", base + "/audit/verify", token: admin)
        #expect(try APIProcessTests.object(verify)["intact"] as? Bool == true, "\(verify)")
    }
}
