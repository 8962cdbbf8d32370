import Foundation
import Hummingbird
import QuarantineStore

/// `GET /api/v1/audit` (the latest entries of the hash-chained audit log) and
/// `GET /api/v1/audit/verify` (walk the chain; `anchor=SEQ:HASH` also catches a rewritten
/// tail). Administrators only.
public struct AuditController: Sendable {
    let store: QuarantineStore

    public init(store: QuarantineStore) {
        self.store = store
    }

    public func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("audit", use: list)
        group.get("audit/verify", use: verify)
    }

    struct EntryDocument: Encodable {
        let seq: Int64
        let at: String
        let actor: String
        let role: String?
        let action: String
        let id: String?
        let quarantines: [String]?
        let selection: String?
        let outcome: String
        let reason: String?
        let detail: String?
        let prev_hash: String
        let hash: String
    }

    struct ListDocument: Encodable {
        let items: [EntryDocument]
    }

    struct VerifyDocument: Encodable {
        let intact: Bool
        let verified_entries: Int64
        let latest: String?
        let problem: String?
        let summary: String

        func encode(to encoder: any Encoder) throws {
            enum Keys: String, CodingKey { case intact, verified_entries, latest, problem, summary }
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(intact, forKey: .intact)
            try container.encode(verified_entries, forKey: .verified_entries)
            try container.encode(latest, forKey: .latest)
            try container.encode(problem, forKey: .problem)
            try container.encode(summary, forKey: .summary)
        }
    }

    func requireAdmin(_ context: APIRequestContext) throws {
        let user = try context.requireUser()
        guard user.role == .admin else { throw Problem.forbidden("only the admin role may read the audit log") }
    }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> Response {
        try requireAdmin(context)
        let query = request.uri.queryParameters
        for (name, _) in query where name != "limit" {
            throw Problem.invalid(String(name), "unknown query parameter \(String(name).prefix(40)) (this endpoint takes limit)")
        }
        var limit = 50
        if let text = query["limit"] {
            guard let value = Int(text), (1...QuarantineStoreOptions.maxListLimit).contains(value) else {
                throw Problem.invalid("limit", "limit must be a whole number from 1 to \(QuarantineStoreOptions.maxListLimit)")
            }
            limit = value
        }
        let entries: [AuditEntry]
        do {
            entries = try await store.auditEntries(last: limit)
        } catch {
            throw Problem.unavailable("the audit log cannot be read right now; try again later")
        }
        let items = entries.map { entry -> EntryDocument in
            var outcome = "ok"
            var reason: String?
            if case .refused(let why) = entry.outcome { outcome = "refused"; reason = why }
            return EntryDocument(seq: entry.sequence, at: rfc3339(entry.time), actor: entry.actor.name, role: entry.actor.role,
                                 action: entry.action.rawValue, id: entry.target.qid?.rawValue, quarantines: entry.target.quarantines,
                                 selection: entry.target.selection, outcome: outcome, reason: reason, detail: entry.detail,
                                 prev_hash: entry.previousHash, hash: entry.hash)
        }
        return try APIServer.jsonResponse(ListDocument(items: items))
    }

    @Sendable func verify(_ request: Request, context: APIRequestContext) async throws -> Response {
        try requireAdmin(context)
        let query = request.uri.queryParameters
        for (name, _) in query where name != "anchor" {
            throw Problem.invalid(String(name), "unknown query parameter \(String(name).prefix(40)) (this endpoint takes anchor)")
        }
        var anchor: AuditAnchor?
        if let text = query["anchor"] {
            guard let parsed = AuditAnchor(String(text)) else {
                throw Problem.invalid("anchor", "anchor must be SEQ:HASH as a verify printed it (e.g. 42:3f9a…, 64 hex digits)")
            }
            anchor = parsed
        }
        let result: AuditVerification
        do {
            result = try await store.verifyAudit(anchor: anchor)
        } catch {
            throw Problem.unavailable("the audit log cannot be read right now; try again later")
        }
        return try APIServer.jsonResponse(VerifyDocument(intact: result.isIntact, verified_entries: result.verifiedEntries,
                                                         latest: result.latest?.description, problem: result.problem?.description,
                                                         summary: result.summary))
    }
}
