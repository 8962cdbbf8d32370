import Foundation
import Scanning

/// What to look for in the quarantine store (`QuarantineStore.search`): every filter that
/// is set must match (AND). Text filters match whole words in any order, case and
/// diacritics ignored (`"exact phrase"` in double quotes, `word*` for a prefix of at least
/// two letters); the other filters compare values. Build one, set the filters, and pass
/// the `next` cursor of a page to get the following one.
///
/// ```swift
/// var query = SearchQuery(text: "invoice overdue", gateway: "gw1.example.org")
/// query.receivedAfter = Date().addingTimeInterval(-7 * 86_400)
/// let page = try await store.search(query, visibleQuarantines: ["Policy", "Virus"])
/// ```
public struct SearchQuery: Sendable, Hashable {
    /// The order of results. Newest and oldest are store order (when the manager stored
    /// the message, which is also the order they were quarantined in).
    public enum Order: String, Sendable, Hashable, CaseIterable, Codable {
        /// Most recently quarantined first (the default).
        case newest
        /// First quarantined first.
        case oldest
        /// Largest message first (ties: newest first).
        case largest
        /// Smallest message first (ties: oldest first).
        case smallest
    }

    /// Largest page `search` returns.
    public static let maxLimit = QuarantineStoreOptions.maxListLimit
    /// Page size when none is given.
    public static let defaultLimit = 50
    /// Longest text filter accepted (UTF-8 bytes).
    public static let maxTextBytes = 1024
    /// Most words and phrases in one text filter.
    public static let maxTerms = 32

    /// Full text: the envelope sender and recipients, the subject, every header field
    /// (RFC 2047 decoded) and the decoded text parts of the body (the first 4 KB of text:
    /// a word further down a long body is not found).
    public var text: String?
    /// The envelope sender: a complete address (`alice@example.org`, `<alice@example.org>`)
    /// matches that sender exactly (ASCII case ignored); anything else matches its words
    /// (`example.org`, `alice`).
    public var sender: String?
    /// Any envelope recipient: a complete address (`bob@example.com`) matches that
    /// recipient exactly (ASCII case ignored); anything else matches its words
    /// (`example.com`, `bob`).
    public var recipient: String?
    /// Words of the subject (RFC 2047 decoded).
    public var subject: String?
    /// The originating gateway, exactly as it named itself.
    public var gateway: String?
    /// Held in this quarantine (exact name).
    public var quarantine: String?
    /// Quarantined for this reason: the filter name, virus name or outbreak rule, exactly
    /// but with ASCII case ignored (e.g. `Eicar-Test-Signature`, `policy_violation`).
    public var reason: String?
    /// Quarantined by this kind of stage (message filter, content filter, anti-virus, outbreak).
    public var reasonKind: QuarantineReason.Kind?
    /// Received by the gateway at or after this time.
    public var receivedAfter: Date?
    /// Received by the gateway before this time.
    public var receivedBefore: Date?
    /// A matching hold expires at or after this time (holds without an expiry never match).
    public var expiresAfter: Date?
    /// A matching hold expires before this time.
    public var expiresBefore: Date?
    /// At least this many bytes.
    public var minSize: Int?
    /// At most this many bytes.
    public var maxSize: Int?
    /// False (the default): only messages still held. True: also messages released or
    /// deleted (their metadata stays; their body text is no longer searchable once the
    /// body was removed).
    public var includeReleasedAndDeleted: Bool
    public var order: Order
    /// Page size, 1...`maxLimit`.
    public var limit: Int
    /// The `next` of the previous page, or nil for the first page.
    public var cursor: String?

    public init(text: String? = nil, sender: String? = nil, recipient: String? = nil, subject: String? = nil,
                gateway: String? = nil, quarantine: String? = nil, reason: String? = nil,
                reasonKind: QuarantineReason.Kind? = nil, receivedAfter: Date? = nil, receivedBefore: Date? = nil,
                expiresAfter: Date? = nil, expiresBefore: Date? = nil, minSize: Int? = nil, maxSize: Int? = nil,
                includeReleasedAndDeleted: Bool = false, order: Order = .newest, limit: Int = defaultLimit,
                cursor: String? = nil) {
        self.text = text
        self.sender = sender
        self.recipient = recipient
        self.subject = subject
        self.gateway = gateway
        self.quarantine = quarantine
        self.reason = reason
        self.reasonKind = reasonKind
        self.receivedAfter = receivedAfter
        self.receivedBefore = receivedBefore
        self.expiresAfter = expiresAfter
        self.expiresBefore = expiresBefore
        self.minSize = minSize
        self.maxSize = maxSize
        self.includeReleasedAndDeleted = includeReleasedAndDeleted
        self.order = order
        self.limit = limit
        self.cursor = cursor
    }

    /// Checks every field; throws `QuarantineStoreError` `.invalidArgument` whose message
    /// starts with `search field "NAME":` and says what is accepted.
    public func validate() throws {
        _ = try ValidatedSearch(self)
    }
}

/// Where the previous page ended, in the query's order (the text form is opaque to callers).
struct SearchCursor: Hashable, Sendable {
    var order: SearchQuery.Order
    var id: Int64
    var size: Int64

    /// `n4711`, `o4711`, `l20480.4711`, `s20480.4711`.
    var text: String {
        switch order {
        case .newest: "n\(id)"
        case .oldest: "o\(id)"
        case .largest: "l\(size).\(id)"
        case .smallest: "s\(size).\(id)"
        }
    }

    init(order: SearchQuery.Order, id: Int64, size: Int64) {
        self.order = order
        self.id = id
        self.size = size
    }

    init?(_ text: String, order: SearchQuery.Order) {
        guard text.utf8.count <= 64, let letter = text.first else { return nil }
        let rest = text.dropFirst()
        switch (letter, order) {
        case ("n", .newest), ("o", .oldest):
            guard let id = Int64(rest), id >= 0 else { return nil }
            self.init(order: order, id: id, size: 0)
        case ("l", .largest), ("s", .smallest):
            let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 2, let size = Int64(parts[0]), let id = Int64(parts[1]), size >= 0, id >= 0 else { return nil }
            self.init(order: order, id: id, size: size)
        default:
            return nil
        }
    }
}

/// A `SearchQuery` whose fields were checked, with the full-text expression built.
struct ValidatedSearch: Sendable {
    var query: SearchQuery
    /// The full-text index a search goes through, with its FTS5 `MATCH` expression.
    enum TextIndex: Sendable, Hashable {
        /// `message_text`: `text` is set (with any of `sender`, `recipient`, `subject`).
        case text(String)
        /// `message_envelope`: only `sender`, `recipient` and `subject` are set.
        case envelope(String)

        /// The FTS5 table.
        var table: String {
            switch self {
            case .text: "message_text"
            case .envelope: "message_envelope"
            }
        }

        var expression: String {
            switch self {
            case .text(let expression), .envelope(let expression): expression
            }
        }
    }

    /// The full-text filters (`text`, and `sender`, `recipient`, `subject` unless an address); nil when none is set.
    var textIndex: TextIndex?
    /// `sender` when it is a complete address (matched exactly, through `messages_by_sender`).
    var senderAddress: String?
    /// `recipient` when it is a complete address (matched exactly, through `message_recipients`).
    var recipientAddress: String?
    var cursor: SearchCursor?

    /// `value` as an address to match exactly when it is one complete address
    /// (`local@domain`, optionally in angle brackets): no space, quote or `*`, a local
    /// part, and a domain with a letter or digit. Nil: search its words.
    static func exactAddress(_ value: String) -> String? {
        var text = Substring(value.trimmingCharacters(in: .whitespaces))
        if text.hasPrefix("<"), text.hasSuffix(">") { text = text.dropFirst().dropLast() }
        guard let at = text.lastIndex(of: "@"),
              !text.contains(where: { $0 == " " || $0 == "\"" || $0 == "*" || $0 == "<" || $0 == ">" || $0 == "," })
        else { return nil }
        let local = text[..<at], domain = text[text.index(after: at)...]
        guard !local.isEmpty, domain.contains(where: { $0.isLetter || $0.isNumber }) else { return nil }
        return String(text)
    }

    init(_ query: SearchQuery) throws {
        func fail(_ field: String, _ problem: String) -> QuarantineStoreError {
            QuarantineStoreError(.invalidArgument, "search field \(quoted(field)): \(problem)")
        }
        self.query = query
        guard (1...SearchQuery.maxLimit).contains(query.limit) else {
            throw fail("limit", "\(query.limit) is not 1-\(SearchQuery.maxLimit); ask for at most \(SearchQuery.maxLimit) per page and follow the next cursor")
        }
        var parts: [String] = []
        // Without `text`, the envelope index (whose sender column is `mail_from`) answers.
        let envelopeOnly = query.text == nil
        for (field, value, column) in [("text", query.text, nil as String?),
                                       ("sender", query.sender, envelopeOnly ? "mail_from" : "sender"),
                                       ("recipient", query.recipient, "recipients"), ("subject", query.subject, "subject")] {
            guard let value else { continue }
            do {
                let expression = try FullTextQuery(value).expression(column: column)
                if field == "sender", let address = Self.exactAddress(value) {
                    senderAddress = address
                } else if field == "recipient", let address = Self.exactAddress(value) {
                    recipientAddress = address
                } else {
                    parts.append(expression)
                }
            } catch let problem as FullTextQuery.Problem {
                throw fail(field, problem.message)
            }
        }
        if !parts.isEmpty {
            let expression = parts.joined(separator: " AND ")
            textIndex = envelopeOnly ? .envelope(expression) : .text(expression)
        }
        for (field, value) in [("gateway", query.gateway), ("quarantine", query.quarantine), ("reason", query.reason)] {
            if let value, let problem = TransferValidation.problem(value, allowEmpty: false) {
                throw fail(field, problem)
            }
        }
        for (field, date) in [("receivedAfter", query.receivedAfter), ("receivedBefore", query.receivedBefore),
                              ("expiresAfter", query.expiresAfter), ("expiresBefore", query.expiresBefore)] {
            if let date, !date.timeIntervalSince1970.isFinite {
                throw fail(field, "is not a valid time")
            }
        }
        if let after = query.receivedAfter, let before = query.receivedBefore, after >= before {
            throw fail("receivedBefore", "\(before) is not after receivedAfter \(after): the range is empty")
        }
        if let after = query.expiresAfter, let before = query.expiresBefore, after >= before {
            throw fail("expiresBefore", "\(before) is not after expiresAfter \(after): the range is empty")
        }
        for (field, size) in [("minSize", query.minSize), ("maxSize", query.maxSize)] {
            if let size, size < 0 { throw fail(field, "\(size) is negative; give a size in bytes") }
        }
        if let minSize = query.minSize, let maxSize = query.maxSize, minSize > maxSize {
            throw fail("maxSize", "\(maxSize) is smaller than minSize \(minSize): the range is empty")
        }
        if let text = query.cursor {
            guard let cursor = SearchCursor(text, order: query.order) else {
                throw fail("cursor", "\(quoted(text)) is not a cursor of a \(query.order.rawValue)-first search; pass the next value of the previous page with the same order, or none for the first page")
            }
            self.cursor = cursor
        }
    }
}
