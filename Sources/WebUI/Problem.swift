import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// An RFC 9457 problem document (`application/problem+json`): what went wrong, for which
/// field, and what to do. Every error of the API reaches the client as one.
public struct Problem: Error, Hashable, Sendable, HTTPResponseError {
    public var status: HTTPResponse.Status
    /// A stable URI naming the kind of problem (`https://lazaret.dev/problems/invalid-parameter`).
    public var type: String
    public var title: String
    public var detail: String
    /// The query parameter, path segment or JSON field at fault, when there is one.
    public var field: String?

    public init(_ status: HTTPResponse.Status, type: String, title: String, detail: String, field: String? = nil) {
        self.status = status
        self.type = "https://lazaret.dev/problems/" + type
        self.title = title
        self.detail = detail
        self.field = field
    }

    public static func invalid(_ field: String, _ detail: String) -> Problem {
        Problem(.badRequest, type: "invalid-parameter", title: "Invalid parameter", detail: detail, field: field)
    }

    public static func unauthorized(_ detail: String) -> Problem {
        Problem(.unauthorized, type: "unauthorized", title: "Authentication required",
                detail: "\(detail): send Authorization: Bearer <token> (lazaret manager token create NAME)")
    }

    public static func forbidden(_ detail: String) -> Problem {
        Problem(.forbidden, type: "forbidden", title: "Not allowed for your role", detail: detail)
    }

    public static func notFound(_ detail: String, field: String? = nil) -> Problem {
        Problem(.notFound, type: "not-found", title: "Not found", detail: detail, field: field)
    }

    public static func conflict(_ detail: String) -> Problem {
        Problem(.conflict, type: "conflict", title: "Not possible in the message's state", detail: detail)
    }

    public static func unavailable(_ detail: String) -> Problem {
        Problem(.serviceUnavailable, type: "unavailable", title: "Temporarily unavailable", detail: detail)
    }

    struct Document: Encodable {
        let type: String
        let title: String
        let status: Int
        let detail: String
        let field: String?
        let instance: String
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let document = Document(type: type, title: title, status: status.code, detail: detail, field: field, instance: request.uri.path)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(document)
        var headers = HTTPFields()
        headers[.contentType] = "application/problem+json"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"lazaret\"" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Turns every error into a problem document: a `Problem` as it is, the router's own errors
/// (no such route, method not allowed) with their status, a malformed body as 400 naming
/// what is wrong, anything else as a 500 that is logged and says nothing internal.
public struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context,
                       next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            throw problem
        } catch let error as HTTPError {
            let type = error.status == .notFound ? "not-found" : "http-\(error.status.code)"
            let detail = error.status == .notFound
                ? "no such resource: \(request.method) \(request.uri.path) (the API is under /api/v1; its description at /api/v1/openapi.json)"
                : (error.body ?? error.status.reasonPhrase)
            throw Problem(error.status, type: type, title: error.status.reasonPhrase, detail: detail)
        } catch let error as DecodingError {
            throw Problem.invalid(Self.path(of: error), "the JSON body is not what this endpoint takes: \(Self.describe(error))")
        } catch {
            context.logger.error("API \(request.method) \(request.uri.path) failed: \(error)")
            throw Problem(.internalServerError, type: "internal", title: "Internal error",
                          detail: "the manager could not complete the request; its log says why")
        }
    }

    static func path(of error: DecodingError) -> String {
        let context: DecodingError.Context? = switch error {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c), .dataCorrupted(let c): c
        @unknown default: nil
        }
        var path = context?.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue } ?? []
        if case .keyNotFound(let key, _) = error { path.append(key.stringValue) }
        return path.isEmpty ? "body" : path.joined(separator: ".")
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(let type, _): "expected \(type)"
        case .valueNotFound(let type, _): "a \(type) is missing"
        case .keyNotFound(let key, _): "\(key.stringValue) is missing"
        case .dataCorrupted(let context): context.debugDescription
        @unknown default: "\(error)"
        }
    }
}
