import Hummingbird

/// The API's request context: the core storage and, once `BearerAuthenticator` ran, the user.
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Who is asking (nil only before authentication).
    public var user: APIUser?

    public init(source: Source) {
        coreContext = .init(source: source)
        user = nil
    }

    /// Uploads (JSON bodies of actions) are small.
    public var maxUploadSize: Int { 256 * 1024 }

    /// The user, or a 401 problem.
    public func requireUser() throws -> APIUser {
        guard let user else { throw Problem.unauthorized("no valid bearer token") }
        return user
    }
}
