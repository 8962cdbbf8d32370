import Foundation
import HTTPTypes
import Hummingbird
import Logging
import QuarantineStore

/// The manager's JSON API (`/api/v1`, docs/openapi.json) as a Hummingbird router and
/// application. Errors are RFC 9457 problem documents; everything but `/health` and
/// `/openapi.json` needs a bearer token.
public enum APIServer {
    public static func buildRouter(store: QuarantineStore, users: UserDirectory, actions: any QuarantineActions)
        -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: ProblemMiddleware())
        let api = router.group("api/v1")
        api.get("health") { request, context -> Response in
            let counts = try? await store.counts()
            let usage = try? await store.usage()
            let quota = usage.map { usage in
                QuotaDocument(used_bytes: usage.bodyBytes, quota_bytes: usage.quotaBytes, messages_stored: usage.bodies,
                              percent: (usage.percent * 10).rounded() / 10, alert: usage.alertLevel.map { "over \($0)% of the quota" })
            }
            let full = usage.map { $0.quotaBytes != nil && $0.percent >= 100 } ?? false
            let document = HealthDocument(status: counts == nil ? "degraded" : (full ? "full" : (usage?.alertLevel == nil ? "ok" : "warning")),
                                          store: counts == nil ? "unavailable" : "ok", quarantines: counts?.count, quota: quota)
            return try jsonResponse(document, status: counts == nil ? .serviceUnavailable : .ok)
        }
        api.get("openapi.json") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: openAPIDocument)))
        }
        let authenticated = api.group().add(middleware: BearerAuthenticator(users: users))
        QuarantineController(store: store, actions: actions).addRoutes(to: authenticated)
        AuditController(store: store).addRoutes(to: authenticated)
        return router
    }

    /// The application on `address`:`port`; `onRunning` is told the port it listens on.
    public static func application(router: Router<APIRequestContext>, address: String, port: Int, logger: Logger,
                                   onRunning: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        Application(router: router,
                    configuration: .init(address: .hostname(address, port: port), serverName: "Lazaret"),
                    onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
                    logger: logger)
    }

    /// The OpenAPI document (the same text as docs/openapi.json).
    public static var openAPIDocument: String {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
              let text = try? String(contentsOf: url, encoding: .utf8) else { return "{}" }
        return text
    }

    struct HealthDocument: Encodable {
        let status: String
        let store: String
        /// Quarantines holding mail.
        let quarantines: Int?
        let quota: QuotaDocument?
    }

    /// The store against its quota; `alert` is set from 75% (75, 85, 95).
    struct QuotaDocument: Encodable {
        let used_bytes: Int64
        let quota_bytes: Int64?
        let messages_stored: Int64
        let percent: Double
        let alert: String?
    }

    static func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}
