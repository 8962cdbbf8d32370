import Foundation
import HTTPTypes
import Hummingbird
import MailMessage
import QuarantineStore

/// `/api/v1/quarantines`: the quarantines a user sees, with what they hold; administrators
/// add named policy quarantines, change settings and remove them.
struct QuarantineDefinitionsController: Sendable {
    let store: QuarantineStore
    let actions: any QuarantineActions

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("quarantines", use: list)
        group.post("quarantines", use: add)
        group.get("quarantines/:name", use: show)
        group.patch("quarantines/:name", use: change)
        group.delete("quarantines/:name", use: remove)
    }

    /// A quarantine as the API shows it.
    struct Document: Encodable {
        let name: String
        let kind: String
        let held: Int
        let retention_seconds: Int
        let default_action: String
        let free_up_space: Bool
        let release_subject_tag: String?
        let release_header: String?
        let release_strip_attachments: Bool
        let visible_to_roles: [String]
        let visible_to_users: [String]

        init(_ d: QuarantineDefinition, held: Int) {
            name = d.name
            kind = d.kind.rawValue
            self.held = held
            retention_seconds = d.retentionSeconds
            default_action = d.defaultAction.rawValue
            free_up_space = d.freeUpSpace
            release_subject_tag = d.releaseOptions.subjectTag
            release_header = d.releaseOptions.headerLine
            release_strip_attachments = d.releaseOptions.stripAttachments
            visible_to_roles = d.visibleToRoles
            visible_to_users = d.visibleToUsers
        }

        func encode(to encoder: any Encoder) throws {
            enum Keys: String, CodingKey {
                case name, kind, held, retention_seconds, default_action, free_up_space, release_subject_tag, release_header,
                     release_strip_attachments, visible_to_roles, visible_to_users
            }
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(name, forKey: .name)
            try c.encode(kind, forKey: .kind)
            try c.encode(held, forKey: .held)
            try c.encode(retention_seconds, forKey: .retention_seconds)
            try c.encode(default_action, forKey: .default_action)
            try c.encode(free_up_space, forKey: .free_up_space)
            try c.encode(release_subject_tag, forKey: .release_subject_tag)   // null when none
            try c.encode(release_header, forKey: .release_header)
            try c.encode(release_strip_attachments, forKey: .release_strip_attachments)
            try c.encode(visible_to_roles, forKey: .visible_to_roles)
            try c.encode(visible_to_users, forKey: .visible_to_users)
        }
    }

    struct ListDocument: Encodable {
        let items: [Document]
    }

    /// The body of POST (name required) and PATCH (any field but name and kind).
    struct Body: Decodable {
        let name: String?
        let retention_seconds: Int?
        let default_action: String?
        let free_up_space: Bool?
        let release_subject_tag: String?
        let release_header: String?
        let release_strip_attachments: Bool?
        let visible_to_roles: [String]?
        let visible_to_users: [String]?

        static let fields = ["name", "retention_seconds", "default_action", "free_up_space", "release_subject_tag", "release_header",
                             "release_strip_attachments", "visible_to_roles", "visible_to_users"]

        /// `definition` with the fields this body sets; an empty string clears a tag or header.
        func applied(to definition: QuarantineDefinition) throws -> QuarantineDefinition {
            var d = definition
            if let retention_seconds { d.retentionSeconds = retention_seconds }
            if let default_action {
                guard let action = QuarantineDefinition.DefaultAction(rawValue: default_action) else {
                    throw Problem.invalid("default_action", "default_action must be release or delete")
                }
                d.defaultAction = action
            }
            if let free_up_space { d.freeUpSpace = free_up_space }
            if let release_subject_tag { d.releaseOptions.subjectTag = release_subject_tag.isEmpty ? nil : release_subject_tag }
            if let release_header {
                if release_header.isEmpty {
                    d.releaseOptions.addedHeader = nil
                } else {
                    guard let header = ReleaseModifications.header(fromLine: release_header) else {
                        throw Problem.invalid("release_header", "release_header must be `Name: value`, e.g. X-Lazaret-Released: yes")
                    }
                    d.releaseOptions.addedHeader = header
                }
            }
            if let release_strip_attachments { d.releaseOptions.stripAttachments = release_strip_attachments }
            if let visible_to_roles { d.visibleToRoles = visible_to_roles }
            if let visible_to_users { d.visibleToUsers = visible_to_users }
            return d
        }
    }

    private var messages: QuarantineController { QuarantineController(store: store, actions: actions) }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> Response {
        let user = try await messages.require(.read, context)
        let visible = try await messages.visibility(user)
        let definitions = try await messages.storeCall { try await store.quarantines() }
        let counts = try await messages.storeCall { try await store.counts() }
        let items = definitions.filter { visible?.contains($0.name) ?? true }.map { Document($0, held: counts[$0.name] ?? 0) }
        return try messages.json(ListDocument(items: items), request, context)
    }

    @Sendable func show(_ request: Request, context: APIRequestContext) async throws -> Response {
        let user = try await messages.require(.read, context)
        let definition = try await visibleDefinition(context, user)
        let counts = try await messages.storeCall { try await store.counts() }
        return try messages.json(Document(definition, held: counts[definition.name] ?? 0), request, context)
    }

    @Sendable func add(_ request: Request, context: APIRequestContext) async throws -> Response {
        let user = try await messages.require(.manage, context)
        let body: Body = try await messages.decodeBody(request, context, fields: Body.fields, required: true)!
        guard let name = body.name else { throw Problem.invalid("name", "a new quarantine needs a name") }
        let definition = try body.applied(to: QuarantineDefinition(name: name))
        do {
            try await store.addQuarantine(definition, by: user.actor, audit: AuditContext(role: user.role.rawValue))
        } catch let error as QuarantineStoreError where error.code == .quarantine && error.message.contains("exists already") {
            throw Problem(.conflict, type: "conflict", title: "The quarantine exists", detail: error.message, field: "name")
        } catch {
            throw messages.mapped(error)
        }
        var response = try messages.json(Document(definition, held: 0), request, context)
        response.status = .created
        response.headers[.location] = "/api/v1/quarantines/" + (name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? name)
        return response
    }

    @Sendable func change(_ request: Request, context: APIRequestContext) async throws -> Response {
        let user = try await messages.require(.manage, context)
        let current = try await visibleDefinition(context, user)
        let body: Body = try await messages.decodeBody(request, context, fields: Body.fields, required: true)!
        if let name = body.name, name != current.name {
            throw Problem.invalid("name", "quarantines are never renamed; add a new one and move the messages")
        }
        let changed = try body.applied(to: current)
        do {
            try await store.updateQuarantine(changed, by: user.actor, audit: AuditContext(role: user.role.rawValue))
        } catch {
            throw messages.mapped(error)
        }
        let counts = try await messages.storeCall { try await store.counts() }
        return try messages.json(Document(changed, held: counts[changed.name] ?? 0), request, context)
    }

    struct RemovedDocument: Encodable {
        let name: String
        let default_action: String
        /// Held messages that got the default action.
        let messages: Int
        let release_ids: [String]
    }

    @Sendable func remove(_ request: Request, context: APIRequestContext) async throws -> Response {
        let user = try await messages.require(.manage, context)
        let current = try await visibleDefinition(context, user)
        let removed: QuarantineStore.RemovedQuarantine
        do {
            removed = try await actions.removeQuarantine(current.name, actor: user)
        } catch let error as QuarantineStoreError where error.code == .quarantine {
            throw Problem.conflict(error.message)
        } catch {
            throw messages.mapped(error)
        }
        return try messages.json(RemovedDocument(name: removed.definition.name, default_action: removed.definition.defaultAction.rawValue,
                                                 messages: removed.actions.count,
                                                 release_ids: removed.actions.compactMap { $0.request?.releaseID }), request, context)
    }

    private func visibleDefinition(_ context: APIRequestContext, _ user: APIUser) async throws -> QuarantineDefinition {
        let raw = context.parameters.get("name") ?? ""
        let name = raw.removingPercentEncoding ?? raw
        if let problem = QuarantineDefinition.nameProblem(name) { throw Problem.invalid("name", problem) }
        let visible = try await messages.visibility(user)
        guard let definition = try await messages.storeCall({ try await store.quarantine(named: name) }),
              visible?.contains(definition.name) ?? true
        else { throw Problem.notFound("no quarantine you can see is named \"\(name)\"", field: "name") }
        return definition
    }
}
