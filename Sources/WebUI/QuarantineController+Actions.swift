import Foundation
import HTTPTypes
import Hummingbird
import QuarantineStore

/// Visibility, delay, move, copy and bulk actions of ``QuarantineController``.
extension QuarantineController {
    // MARK: Who sees what

    /// The quarantines `user` sees: nil (all) for administrators, else those whose
    /// definition grants the user's role or name.
    func visibility(_ user: APIUser) async throws -> Set<String>? {
        guard user.role != .admin else { return nil }
        let definitions = try await storeCall { try await store.quarantines() }
        return Set(definitions.filter { $0.isVisible(toRole: user.role.rawValue, user: user.name) }.map(\.name))
    }

    /// The message, when `user` sees at least one of its quarantines (404 otherwise: a
    /// message only in quarantines the user cannot see does not exist for them).
    func visibleMessage(_ qid: QID, _ user: APIUser) async throws -> (QuarantinedMessage, Set<String>?) {
        let visible = try await visibility(user)
        guard let message = try await storeCall({ try await store.message(qid) }),
              visible == nil || message.holds.contains(where: { visible!.contains($0.quarantine) })
        else { throw notFound(qid) }
        return (message, visible)
    }

    /// The quarantines an action of `user` on `qid` applies to: those named (each must be
    /// visible; an invisible one is answered as "not held", telling nothing), or when none
    /// are named, all for an administrator and the visible ones the message is in for others.
    func scope(_ qid: QID, _ named: Set<String>?, _ user: APIUser) async throws -> (quarantines: Set<String>?, visible: Set<String>?) {
        let (message, visible) = try await visibleMessage(qid, user)
        guard let visible else { return (named, nil) }
        if let named {
            if let hidden = named.sorted().first(where: { !visible.contains($0) }) {
                throw Problem.invalid("quarantines", "message \(qid) is not held in \"\(hidden)\"")
            }
            return (named, visible)
        }
        let mine = message.holds.filter { visible.contains($0.quarantine) }
        let held = mine.filter { $0.state == .held }
        return (Set((held.isEmpty ? mine : held).map(\.quarantine)), visible)
    }

    // MARK: Delay, move, copy

    struct DelayRequest: Decodable {
        let seconds: Int
        let quarantines: [String]?
    }

    @Sendable func delay(_ request: Request, context: APIRequestContext) async throws -> Response {
        let user = try await require(.delay, context)
        let qid = try messageID(context)
        let body: DelayRequest = try await decodeBody(request, context, fields: ["seconds", "quarantines"], required: true)!
        let named = try await scope(qid, try checkedQuarantines(body.quarantines), user)
        do {
            try await actions.delay(qid, by: body.seconds, in: named.quarantines, actor: user)
        } catch let error as QuarantineStoreError where error.code == .invalidArgument {
            throw Problem.invalid("seconds", error.message)
        } catch {
            throw mapped(error, qid: qid)
        }
        return try await detail(qid, named.visible, request, context)
    }

    struct MoveRequest: Decodable {
        let from: String
        let to: String
    }

    @Sendable func move(_ request: Request, context: APIRequestContext) async throws -> Response {
        let user = try await require(.move, context)
        let qid = try messageID(context)
        let body: MoveRequest = try await decodeBody(request, context, fields: ["from", "to"], required: true)!
        let named = try await scope(qid, try checkedQuarantines([body.from]), user)
        if let visible = named.visible, !visible.contains(body.to) {
            throw Problem.invalid("to", "no quarantine you can see is named \"\(body.to.prefix(64))\"")
        }
        do {
            try await actions.move(qid, from: body.from, to: body.to, actor: user)
        } catch let error as QuarantineStoreError where error.code == .notHeld || error.code == .quarantine {
            throw Problem.invalid(error.message.contains("\"\(body.to)\"") ? "to" : "from", error.message)
        } catch {
            throw mapped(error, qid: qid)
        }
        return try await detail(qid, named.visible, request, context)
    }

    struct CopyRequest: Decodable {
        let to: String
    }

    struct CopyDocument: Encodable {
        let id: String
        let release_id: String
        let to: String
        let gateway: String
    }

    @Sendable func copy(_ request: Request, context: APIRequestContext) async throws -> Response {
        let user = try await require(.copy, context)
        let qid = try messageID(context)
        let body: CopyRequest = try await decodeBody(request, context, fields: ["to"], required: true)!
        _ = try await visibleMessage(qid, user)
        let copy: ReleaseRequest
        do {
            copy = try await actions.copy(qid, to: body.to, actor: user)
        } catch let error as QuarantineStoreError where error.code == .invalidArgument {
            throw Problem.invalid("to", error.message)
        } catch {
            throw mapped(error, qid: qid)
        }
        var response = try json(CopyDocument(id: qid.rawValue, release_id: copy.releaseID, to: body.to, gateway: copy.gateway), request, context)
        response.status = .accepted
        return response
    }

    // MARK: Bulk

    /// The most messages one bulk action selects (by ids, search or rule).
    public static let maxBulkMessages = 10_000

    struct BulkRequest: Decodable {
        let action: String
        let ids: [String]?
        let search: [String: String]?
        let rule: String?
        let quarantines: [String]?
        let seconds: Int?
        let from: String?
        let to: String?
    }

    struct BulkDocument: Encodable {
        struct Refusal: Encodable {
            let id: String
            let detail: String
        }
        let action: String
        let matched: Int
        let done: Int
        let still_held: Int
        let refused: [Refusal]
        let truncated: Bool
        let release_ids: [String]
    }

    /// `POST /messages/actions`: release, delete, delay or move many messages, chosen by
    /// `ids`, by `search` (the parameters of `GET /messages`) or by outbreak `rule`.
    @Sendable func bulk(_ request: Request, context: APIRequestContext) async throws -> Response {
        _ = try context.requireUser()
        let body: BulkRequest = try await decodeBody(request, context,
                                                     fields: ["action", "ids", "search", "rule", "quarantines", "seconds", "from", "to"],
                                                     required: true)!
        let quarantines = try checkedQuarantines(body.quarantines)
        func missing(_ field: String) -> Problem { Problem.invalid(field, "the action \(body.action) needs \(field)") }
        let (action, right): (QuarantineStore.BulkAction, APIRole.Action) = switch body.action {
        case "release": (.release(from: quarantines), .release)
        case "delete": (.delete(from: quarantines), .delete)
        case "delay": (.delay(seconds: try body.seconds ?? { throw missing("seconds") }(), in: quarantines), .delay)
        case "move": (.move(from: try body.from ?? { throw missing("from") }(), to: try body.to ?? { throw missing("to") }()), .move)
        default: throw Problem.invalid("action", "action must be release, delete, delay or move (copy is one message at a time)")
        }
        let user = try await require(right, context)
        let visible = try await visibility(user)
        if case .move(let from, let to) = action, let visible {
            for (field, name) in [("from", from), ("to", to)] where !visible.contains(name) {
                throw Problem.invalid(field, "no quarantine you can see is named \"\(name.prefix(64))\"")
            }
        }
        let selectors = [body.ids != nil, body.search != nil, body.rule != nil].filter { $0 }.count
        guard selectors == 1 else {
            throw Problem.invalid("ids", "name the messages one way: ids (a list), search (the parameters of GET /messages) or rule (an outbreak rule)")
        }
        var qids: [QID] = []
        var truncated = false
        let selection: String
        if let ids = body.ids {
            guard (1...QuarantineController.maxLimit).contains(ids.count) else {
                throw Problem.invalid("ids", "ids must list 1 to \(QuarantineController.maxLimit) message ids (use search for more)")
            }
            for (index, id) in ids.enumerated() {
                guard let qid = QID(id.uppercased()) else {
                    throw Problem.invalid("ids[\(index)]", "\"\(id.prefix(40))\" is not a message id (Q and 16 characters A-Z or 2-7)")
                }
                if !qids.contains(qid) { qids.append(qid) }
            }
            selection = "ids (\(qids.count))"
        } else {
            var query: SearchQuery
            if let rule = body.rule {
                guard !rule.isEmpty, rule.utf8.count <= 256 else { throw Problem.invalid("rule", "rule must be an outbreak rule name of 1 to 256 characters") }
                query = SearchQuery(quarantine: "Outbreak", reason: rule)
                selection = "outbreak rule \"\(rule)\""
            } else {
                let search = body.search ?? [:]
                if let key = search.keys.sorted().first(where: { $0 == "limit" || $0 == "cursor" || $0 == "order" }) {
                    throw Problem.invalid("search.\(key)", "search selects every match; \(key) does not apply here")
                }
                do {
                    query = try MessageSearchParameters.query { search[$0] } names: { Array(search.keys) }
                } catch let problem as Problem {
                    var named = problem
                    named.field = problem.field.map { "search.\($0)" }
                    throw named
                }
                selection = "search " + search.keys.sorted().map { "\($0)=\(search[$0]!.prefix(80))" }.joined(separator: " ")
            }
            query.limit = SearchQuery.maxLimit
            while true {
                let page = try await storeCall { try await store.search(query, visibleQuarantines: visible) }
                qids += page.items.map(\.qid)
                guard let next = page.next else { break }
                guard qids.count < Self.maxBulkMessages else { truncated = true; break }
                query.cursor = next
            }
            if qids.count > Self.maxBulkMessages {
                qids = Array(qids.prefix(Self.maxBulkMessages))
                truncated = true
            }
        }
        var results: [QuarantineStore.BulkActionResult] = []
        var start = 0
        while start < qids.count {
            let chunk = Array(qids[start..<min(start + QuarantineController.maxLimit, qids.count)])
            results += try await storeCall {
                try await actions.perform(action, on: chunk, visible: visible, selection: selection, actor: user)
            }
            start += chunk.count
        }
        var done = 0, stillHeld = 0
        var refused: [BulkDocument.Refusal] = []
        var releases: [String] = []
        for (qid, result) in zip(qids, results) {
            switch result {
            case .done(let request):
                done += 1
                if let request { releases.append(request.releaseID) }
            case .stillHeld:
                done += 1
                stillHeld += 1
            case .refused(let error):
                refused.append(.init(id: qid.rawValue, detail: error.code == .notFound ? "no quarantined message has id \(qid)" : error.message))
            }
        }
        return try json(BulkDocument(action: body.action, matched: qids.count, done: done, still_held: stillHeld, refused: refused,
                                     truncated: truncated, release_ids: releases), request, context)
    }

    // MARK: Helpers

    func detail(_ qid: QID, _ visible: Set<String>?, _ request: Request, _ context: APIRequestContext) async throws -> Response {
        guard let message = try await storeCall({ try await store.message(qid) }) else { throw notFound(qid) }
        let history = try await storeCall { try await store.releaseHistory(qid) }
        return try json(MessageDetailDocument(message, history: history, visible: { visible?.contains($0) ?? true }), request, context)
    }

    func checkedQuarantines(_ names: [String]?) throws -> Set<String>? {
        guard let names else { return nil }
        guard !names.isEmpty, names.count <= 16, names.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 64 }) else {
            throw Problem.invalid("quarantines", "quarantines must list 1 to 16 quarantine names of 1 to 64 characters (or be left out: all)")
        }
        return Set(names)
    }

    /// The JSON object body as `T`, refusing fields not in `fields` by name; nil for an
    /// empty body unless `required`.
    func decodeBody<T: Decodable>(_ request: Request, _ context: APIRequestContext, fields: [String], required: Bool) async throws -> T? {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: context.maxUploadSize)
        } catch {
            throw Problem(.contentTooLarge, type: "body-too-large", title: "Request body too large",
                          detail: "the JSON body may be at most \(context.maxUploadSize / 1024) KiB", field: "body")
        }
        guard buffer.readableBytes > 0 else {
            if required { throw Problem.invalid("body", "this action takes a JSON object with \(fields.joined(separator: ", "))") }
            return nil
        }
        let data = Data(buffer.readableBytesView)
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw Problem.invalid("body", "the body must be a JSON object with \(fields.joined(separator: ", "))")
        }
        if let unknown = object.keys.sorted().first(where: { !fields.contains($0) }) {
            throw Problem.invalid(String(unknown.prefix(64)), "unknown field \(unknown.prefix(64)) (this action takes: \(fields.joined(separator: ", ")))")
        }
        return try JSONDecoder().decode(T.self, from: data)
    }

    /// `field: ...` at the start of a store message → the field.
    static func field(of message: String) -> String? {
        guard let colon = message.firstIndex(of: ":") else { return nil }
        let head = message[..<colon]
        guard !head.isEmpty, head.count <= 40, head.allSatisfy({ $0.isLetter || $0 == "_" }) else { return nil }
        return String(head)
    }
}
