import Foundation
import Hummingbird
import QuarantineStore
import Scanning

/// The query parameters of `GET /messages` (issue #5's search) turned into a
/// ``SearchQuery``, with the API's names in every error.
enum MessageSearchParameters {
    /// API parameter → the store's search field, for error messages.
    static let names: [(api: String, store: String)] = [
        ("q", "text"), ("from", "sender"), ("rcpt", "recipient"), ("subject", "subject"), ("gateway", "gateway"),
        ("quarantine", "quarantine"), ("reason", "reason"), ("kind", "reasonKind"), ("after", "receivedAfter"),
        ("before", "receivedBefore"), ("expires_after", "expiresAfter"), ("expires_before", "expiresBefore"),
        ("min_size", "minSize"), ("max_size", "maxSize"), ("order", "order"), ("limit", "limit"), ("cursor", "cursor"),
        ("all", "includeReleasedAndDeleted"),
    ]

    static var known: Set<String> { Set(names.map(\.api)) }

    /// The store's field name in an error, as the API calls it.
    static func apiName(ofStoreField field: String) -> String {
        names.first { $0.store == field }?.api ?? field
    }

    static func query(_ parameters: Parameters) throws -> SearchQuery {
        try query({ parameters[Substring($0)].map(String.init) }, names: { parameters.map { String($0.key) } })
    }

    /// The query from any source of parameters: `value(name)` and every name given.
    static func query(_ value: (String) -> String?, names given: () -> [String]) throws -> SearchQuery {
        for name in given() where !known.contains(name) {
            throw Problem.invalid(name, "unknown query parameter \(name.prefix(40)) (this endpoint takes \(names.map(\.api).joined(separator: ", ")))")
        }
        func text(_ name: String) throws -> String? {
            guard let value = value(name) else { return nil }
            guard !value.isEmpty else { throw Problem.invalid(name, "\(name) is empty; leave it out to match anything") }
            return String(value)
        }
        func date(_ name: String) throws -> Date? {
            guard let value = try text(name) else { return nil }
            if let date = ISO8601DateFormatter().date(from: value) { return date }
            let day = ISO8601DateFormatter()
            day.formatOptions = [.withFullDate]
            if let date = day.date(from: value) { return date }
            throw Problem.invalid(name, "\(name) must be a time like 2026-11-23T12:00:00Z or a day like 2026-11-23 (UTC)")
        }
        func number(_ name: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let value = try text(name) else { return nil }
            guard let number = Int(value), range.contains(number) else {
                throw Problem.invalid(name, "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound) (got \(value.prefix(40)))")
            }
            return number
        }
        var query = SearchQuery()
        query.text = try text("q")
        query.sender = try text("from")
        query.recipient = try text("rcpt")
        query.subject = try text("subject")
        query.gateway = try text("gateway")
        query.quarantine = try text("quarantine")
        query.reason = try text("reason")
        if let kind = try text("kind") {
            let kinds: [String: QuarantineReason.Kind] = ["message-filter": .messageFilter, "content-filter": .contentFilter,
                                                          "antivirus": .antivirus, "outbreak": .outbreak]
            guard let parsed = kinds[kind] else {
                throw Problem.invalid("kind", "kind must be one of \(kinds.keys.sorted().joined(separator: ", "))")
            }
            query.reasonKind = parsed
        }
        query.receivedAfter = try date("after")
        query.receivedBefore = try date("before")
        query.expiresAfter = try date("expires_after")
        query.expiresBefore = try date("expires_before")
        query.minSize = try number("min_size", 0...Int(Int32.max))
        query.maxSize = try number("max_size", 0...Int(Int32.max))
        if let order = try text("order") {
            guard let parsed = SearchQuery.Order(rawValue: order) else {
                throw Problem.invalid("order", "order must be one of \(SearchQuery.Order.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.order = parsed
        }
        query.limit = try number("limit", 1...SearchQuery.maxLimit) ?? SearchQuery.defaultLimit
        query.cursor = try text("cursor")
        if let all = try text("all") {
            guard all == "true" || all == "false" else { throw Problem.invalid("all", "all must be true or false") }
            query.includeReleasedAndDeleted = all == "true"
        }
        do {
            try query.validate()
        } catch let error as QuarantineStoreError where error.code == .invalidArgument {
            throw problem(error)
        }
        return query
    }

    /// `search field "receivedBefore": ...` → a problem naming `before`.
    static func problem(_ error: QuarantineStoreError) -> Problem {
        let message = error.message
        if message.hasPrefix("search field \""), let end = message.dropFirst(14).firstIndex(of: "\"") {
            let field = String(message[message.index(message.startIndex, offsetBy: 14)..<end])
            let api = apiName(ofStoreField: field)
            return Problem.invalid(api, "\(api): " + message[message.index(after: end)...].drop { $0 == ":" || $0 == " " })
        }
        return Problem.invalid("query", message)
    }
}
