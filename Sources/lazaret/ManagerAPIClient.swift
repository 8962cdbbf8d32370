import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Manager

/// Where the manager's REST API is and which token to show it, for `lazaret quarantine ...`.
///
/// The address comes from `--url`, else from the manager's configuration (`web.address`,
/// `web.port`): `--config FILE`, else `DIR/manager/manager.yaml` as `lazaret up --home DIR`
/// writes it. The token comes from `--token`, else `$LAZARET_TOKEN`, else `DIR/admin-token`.
struct APIConnection: ParsableArguments {
    @Option(help: "The home directory of `lazaret up`: the manager's configuration is DIR/manager/manager.yaml, the API token DIR/admin-token.")
    var home: String = "./.lazaret"

    @Option(help: "The manager's YAML configuration (its web address and port), instead of the one under --home.")
    var config: String?

    @Option(help: "The manager's API, e.g. http://127.0.0.1:8025 (default: web.address and web.port of the manager's configuration).")
    var url: String?

    @Option(help: "An API token (lzt_...). Default: $LAZARET_TOKEN, else DIR/admin-token. (Arguments are visible to other users: prefer the variable.)")
    var token: String?

    /// The client for the API these options name.
    func client() throws(CLIFailure) -> ManagerAPIClient {
        ManagerAPIClient(base: try baseURL(), token: try resolveToken())
    }

    func baseURL() throws(CLIFailure) -> String {
        if let url {
            var text = url.trimmingCharacters(in: .whitespaces)
            while text.hasSuffix("/") { text.removeLast() }
            guard let parsed = URL(string: text), let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https",
                  parsed.host != nil
            else {
                throw CLIFailure("--url \"\(url)\" is not an http:// or https:// address (e.g. http://127.0.0.1:8025)")
            }
            return text.hasSuffix("/api/v1") ? text : text + "/api/v1"
        }
        let path = config.map(absolutePath) ?? (absolutePath(home) as NSString).appendingPathComponent("manager/manager.yaml")
        guard FileManager.default.fileExists(atPath: path) else {
            throw CLIFailure("no manager configuration at \(path): give --home (the directory of lazaret up), --config FILE or --url URL")
        }
        let configuration: ManagerConfiguration
        do {
            configuration = try ManagerConfiguration.load(path: path)
        } catch {
            throw CLIFailure("\(path): \(error)")
        }
        guard configuration.webPort != 0 else {
            throw CLIFailure("web.port is 0 in \(path) (the manager picks a free port): give --url with the port it uses")
        }
        var host = configuration.webAddress
        // A wildcard listener answers on loopback too.
        if host == "0.0.0.0" { host = "127.0.0.1" }
        if host == "::" || host == "[::]" { host = "::1" }
        if host.contains(":"), !host.hasPrefix("[") { host = "[\(host)]" }
        return "http://\(host):\(configuration.webPort)/api/v1"
    }

    func resolveToken() throws(CLIFailure) -> ManagerAPIClient.Token {
        if let token {
            return .init(value: token, source: "--token")
        }
        if let token = ProcessInfo.processInfo.environment["LAZARET_TOKEN"], !token.isEmpty {
            return .init(value: token, source: "LAZARET_TOKEN")
        }
        let path = (absolutePath(home) as NSString).appendingPathComponent("admin-token")
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !token.isEmpty { return .init(value: token, source: path) }
        }
        throw CLIFailure("no API token: give --token, set LAZARET_TOKEN, or use --home with the directory of lazaret up (it keeps one in \(path)); lazaret manager token create NAME makes one")
    }
}

/// A message for the admin on stderr, and exit status 1.
struct CLIFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body`; a `CLIFailure` is printed as `lazaret: ...` on stderr with exit status 1.
func reportingFailures(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let failure as CLIFailure {
        FileHandle.standardError.write(Data("lazaret: \(failure.description)\n".utf8))
        throw ExitCode.failure
    }
}

/// JSON over HTTP to the manager's `/api/v1` with a bearer token (docs/API.md). Every
/// answer other than 2xx becomes a `CLIFailure` holding the problem document's `detail`
/// and `field`; a manager that does not answer becomes one naming the URL.
struct ManagerAPIClient: Sendable {
    struct Token: Sendable {
        let value: String
        /// Where it came from, for the message when the manager refuses it.
        let source: String
    }

    /// `http://HOST:PORT/api/v1`, no trailing slash.
    let base: String
    let token: Token
    /// Long enough for a bulk action on a slow store.
    static let timeout: TimeInterval = 300

    func get<Answer: Decodable>(_ path: String, query: [(String, String?)] = [], as type: Answer.Type) async throws(CLIFailure) -> Answer {
        try decode(type, try await send("GET", path, query: query, body: nil).data, "GET", path)
    }

    func post<Answer: Decodable>(_ path: String, body: [String: JSONValue], as type: Answer.Type) async throws(CLIFailure) -> Answer {
        let data: Data
        do {
            data = try JSONEncoder().encode(body)
        } catch {
            throw CLIFailure("cannot encode the request: \(error)")
        }
        return try decode(type, try await send("POST", path, query: [], body: data).data, "POST", path)
    }

    private func send(_ method: String, _ path: String, query: [(String, String?)], body: Data?) async throws(CLIFailure) -> (status: Int, data: Data) {
        guard var components = URLComponents(string: base + path) else { throw CLIFailure("\(base + path) is not a URL") }
        let items = query.compactMap { name, value in value.map { URLQueryItem(name: name, value: $0) } }
        if !items.isEmpty {
            components.queryItems = items
            // "+" means a space to many servers: send it encoded.
            components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        }
        guard let url = components.url else { throw CLIFailure("\(base + path) is not a URL") }
        var request = URLRequest(url: url, timeoutInterval: Self.timeout)
        request.httpMethod = method
        request.setValue("Bearer \(token.value)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        request.setValue("lazaret-cli", forHTTPHeaderField: "User-Agent")
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = body
        }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = Self.timeout
        configuration.connectionProxyDictionary = [:]
        let session = URLSession(configuration: configuration)
        defer { session.finishTasksAndInvalidate() }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await session.data(for: request)
        } catch {
            throw CLIFailure("no manager answers at \(base) (\(Self.transportReason(error))): start it with lazaret up or lazaret manager --config FILE, or say where it is with --url or --home")
        }
        guard let http = response as? HTTPURLResponse else { throw CLIFailure("\(method) \(url.absoluteString): not an HTTP answer") }
        guard (200..<300).contains(http.statusCode) else {
            throw failure(status: http.statusCode, data: data, method: method, path: path)
        }
        return (http.statusCode, data)
    }

    /// The problem document's words (RFC 9457), and what to do about a refused token.
    private func failure(status: Int, data: Data, method: String, path: String) -> CLIFailure {
        guard let problem = try? JSONDecoder().decode(ProblemDocument.self, from: data), let detail = problem.detail ?? problem.title else {
            let text = String(decoding: data.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return CLIFailure("the manager at \(base) answered \(method) \(path) with HTTP \(status)" + (text.isEmpty ? "" : ": \(text)"))
        }
        var message = detail
        if let field = problem.field { message += " (field \(field))" }
        // Which token was refused or lacks the role: the option, the variable or a file.
        if status == 401 || status == 403 { message += " (the token from \(token.source))" }
        return CLIFailure(message)
    }

    private func decode<Answer: Decodable>(_ type: Answer.Type, _ data: Data, _ method: String, _ path: String) throws(CLIFailure) -> Answer {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(type, from: data)
        } catch {
            throw CLIFailure("the manager at \(base) answered \(method) \(path) with a document this lazaret does not understand (\(error)); are the two the same version?")
        }
    }

    static func transportReason(_ error: any Error) -> String {
        guard let error = error as? URLError else { return "\(error)" }
        switch error.code {
        case .cannotConnectToHost: return "connection refused"
        case .timedOut: return "timed out after \(Int(timeout)) s"
        case .cannotFindHost, .dnsLookupFailed: return "unknown host"
        case .networkConnectionLost: return "connection closed before the answer"
        case .notConnectedToInternet: return "no network"
        default: return "URL error \(error.code.rawValue)"
        }
    }
}

/// The RFC 9457 problem document of every API error.
struct ProblemDocument: Decodable {
    let title: String?
    let detail: String?
    let field: String?
}

/// A JSON value for request bodies.
enum JSONValue: Encodable, Sendable {
    case string(String)
    case int(Int)
    case strings([String])
    case object([String: JSONValue])

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .strings(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
