import Foundation
import HTTPTypes
import Hummingbird
import QuarantineStore

/// `/api/v1/quarantines` and `/api/v1/messages...`: quarantined mail for API users.
public struct QuarantineController: Sendable {
    let store: QuarantineStore
    let actions: any QuarantineActions

    public init(store: QuarantineStore, actions: any QuarantineActions) {
        self.store = store
        self.actions = actions
    }

    /// Largest page the list returns (larger `limit`s are refused, not cut).
    public static let maxLimit = QuarantineStoreOptions.maxListLimit

    public func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("messages", use: list)
        group.post("messages/actions", use: bulk)
        group.get("messages/:id", use: show)
        group.get("messages/:id/raw", use: raw)
        group.post("messages/:id/release", use: release)
        group.post("messages/:id/delete", use: delete)
        group.post("messages/:id/delay", use: delay)
        group.post("messages/:id/move", use: move)
        group.post("messages/:id/copy", use: copy)
        QuarantineDefinitionsController(store: store, actions: actions).addRoutes(to: group)
    }

    // MARK: Reading

    struct ListDocument: Encodable {
        let items: [MessageSummaryDocument]
        /// Always present: the cursor of the next page, or null on the last one.
        let next: String?

        func encode(to encoder: any Encoder) throws {
            enum Keys: String, CodingKey { case items, next }
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(items, forKey: .items)
            try container.encode(next, forKey: .next)
        }
    }

    /// `GET /messages`: search (every parameter optional), newest first, cursor paged.
    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> Response {
        let user = try await require(.read, context)
        let query = try MessageSearchParameters.query(request.uri.queryParameters)
        let visible = try await visibility(user)
        let page: (items: [QuarantinedMessage], next: String?)
        do {
            page = try await store.search(query, visibleQuarantines: visible)
        } catch let error as QuarantineStoreError where error.code == .invalidArgument {
            throw MessageSearchParameters.problem(error)
        } catch {
            throw mapped(error)
        }
        return try json(ListDocument(items: page.items.map { MessageSummaryDocument($0, visible: { visible?.contains($0) ?? true }) },
                                     next: page.next), request, context)
    }

    @Sendable func show(_ request: Request, context: APIRequestContext) async throws -> Response {
        let user = try await require(.read, context)
        let qid = try messageID(context)
        let (message, visible) = try await visibleMessage(qid, user)
        let history = try await storeCall { try await store.releaseHistory(qid) }
        return try json(MessageDetailDocument(message, history: history, visible: { visible?.contains($0) ?? true }), request, context)
    }

    @Sendable func raw(_ request: Request, context: APIRequestContext) async throws -> Response {
        let user = try await require(.download, context)
        let qid = try messageID(context)
        _ = try await visibleMessage(qid, user)
        let body: [UInt8]
        do {
            body = try await store.body(qid)
        } catch let error as QuarantineStoreError where error.code == .bodyRemoved {
            throw Problem(.gone, type: "body-removed", title: "The message body is no longer stored", detail: error.message)
        } catch {
            throw mapped(error, qid: qid)
        }
        // A download is an action on the message: who took a copy of it, and when.
        _ = try await storeCall {
            try await store.recordAudit(.download, target: AuditTarget(qid: qid), by: AuditActor(name: user.actor, role: user.role.rawValue),
                                        outcome: .ok, detail: "\(body.count) bytes")
        }
        var headers = HTTPFields()
        headers[.contentType] = "message/rfc822"
        headers[.contentDisposition] = "attachment; filename=\"\(qid.rawValue).eml\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    // MARK: Acting

    @Sendable func release(_ request: Request, context: APIRequestContext) async throws -> Response {
        let user = try await require(.release, context)
        let qid = try messageID(context)
        let named = try await scope(qid, try await quarantines(of: request, context: context), user)
        let outcome: ReleaseRequest?
        do {
            outcome = try await actions.release(qid, from: named.quarantines, actor: user)
        } catch {
            throw mapped(error, qid: qid)
        }
        let still = try await storeCall { try await store.message(qid)?.heldIn ?? [] }.filter { named.visible?.contains($0) ?? true }
        return try json(ActionDocument(id: qid.rawValue, action: "release", still_held_in: still, release_id: outcome?.releaseID,
                                       release_state: outcome?.state.rawValue), request, context)
    }

    @Sendable func delete(_ request: Request, context: APIRequestContext) async throws -> Response {
        let user = try await require(.delete, context)
        let qid = try messageID(context)
        let named = try await scope(qid, try await quarantines(of: request, context: context), user)
        do {
            try await actions.delete(qid, from: named.quarantines, actor: user)
        } catch {
            throw mapped(error, qid: qid)
        }
        let still = try await storeCall { try await store.message(qid)?.heldIn ?? [] }.filter { named.visible?.contains($0) ?? true }
        return try json(ActionDocument(id: qid.rawValue, action: "delete", still_held_in: still, release_id: nil, release_state: nil),
                        request, context)
    }

    // MARK: Helpers

    @discardableResult
    func require(_ action: APIRole.Action, _ context: APIRequestContext) async throws -> APIUser {
        let user = try context.requireUser()
        guard user.role.may(action) else {
            let reason = "the role \(user.role.rawValue) may not \(action.rawValue) quarantined messages"
            // Acting without the right is worth recording; reading without it is not an action.
            if action != .read {
                await actions.refused(action, qid: context.parameters.get("id").flatMap { QID($0.uppercased()) }, actor: user, reason: reason)
            }
            throw Problem.forbidden(reason)
        }
        return user
    }

    func messageID(_ context: APIRequestContext) throws -> QID {
        let text = context.parameters.get("id") ?? ""
        guard let qid = QID(text.uppercased()) else {
            throw Problem.invalid("id", "\"\(text.prefix(40))\" is not a message id (Q and 16 characters A-Z or 2-7, as the list shows them)")
        }
        return qid
    }

    /// The body of release and delete, `{"quarantines": [...]}` or none: which quarantines
    /// (all when left out).
    func quarantines(of request: Request, context: APIRequestContext) async throws -> Set<String>? {
        struct Body: Decodable { let quarantines: [String]? }
        let body: Body? = try await decodeBody(request, context, fields: ["quarantines"], required: false)
        return try checkedQuarantines(body?.quarantines)
    }

    func notFound(_ qid: QID) -> Problem {
        Problem.notFound("no quarantined message has id \(qid)", field: "id")
    }

    func storeCall<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw mapped(error)
        }
    }

    /// Store errors as problems: what the operator can fix is 4xx with the store's words.
    func mapped(_ error: any Error, qid: QID? = nil) -> any Error {
        guard let error = error as? QuarantineStoreError else { return error }
        switch error.code {
        case .notFound: return qid.map(notFound) ?? Problem.notFound(error.message)
        case .notHeld: return Problem.invalid("quarantines", error.message)
        case .invalidArgument: return Problem.invalid(Self.field(of: error.message) ?? "body", error.message)
        case .quarantine: return Problem.invalid(Self.field(of: error.message) ?? "quarantine", error.message)
        case .bodyRemoved: return Problem(.gone, type: "body-removed", title: "The message body is no longer stored", detail: error.message)
        case .deleted, .released, .releaseState: return Problem.conflict(error.message)
        case .storage: return Problem.unavailable("the quarantine store cannot be used right now; try again later")
        default: return error
        }
    }

    func json(_ value: some Encodable, _ request: Request, _ context: APIRequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}
