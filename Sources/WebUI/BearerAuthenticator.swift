import Hummingbird

/// `Authorization: Bearer <token>` → ``APIRequestContext/user``; a missing or unknown
/// token is a 401 problem. Everything under `/api/v1` but `/health` and `/openapi.json`
/// goes through it.
public struct BearerAuthenticator: RouterMiddleware {
    public typealias Context = APIRequestContext
    let users: UserDirectory

    public init(users: UserDirectory) {
        self.users = users
    }

    public func handle(_ request: Request, context: APIRequestContext,
                       next: (Request, APIRequestContext) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else { throw Problem.unauthorized("no Authorization header") }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw Problem.unauthorized("the Authorization header is not a bearer token")
        }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        let found: APIUser?
        do {
            found = try users.user(forToken: token)
        } catch {
            context.logger.error("the user directory \(users.path) cannot be read: \(error)")
            throw Problem.unavailable("the user directory cannot be read; the manager's log says why")
        }
        guard let user = found else { throw Problem.unauthorized("unknown or revoked token") }
        var context = context
        context.user = user
        return try await next(request, context)
    }
}
