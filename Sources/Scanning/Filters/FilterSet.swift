/// An ordered list of message filters, parsed from the configuration text.
///
/// The syntax is the one mail admins know from appliance message filters:
///
/// ```
/// block_exe: if (attachment-filename == '(?i)\\.(exe|scr|js)$') {
///     quarantine("Policy");
/// }
/// big_mail: if (body-size > 10M) { bounce(); }
/// ```
///
/// `docs/FILTERS.md` has the grammar, every condition and action, and the
/// semantics of a run. Regular expressions are compiled once by `parse`;
/// `evaluate` is pure and safe to call from many tasks at once.
public struct FilterSet: Hashable, Sendable {
    /// The filters in evaluation order, conditions reordered cheapest first.
    let filters: [Filter]

    init(filters: [Filter]) {
        self.filters = filters
    }

    /// No filters: every message passes with an empty result.
    public static let empty = FilterSet(filters: [])

    /// Parses filter text.
    ///
    /// - Parameters:
    ///   - text: zero or more filters; empty text (or only comments) is a valid, empty set.
    ///   - allowedQuarantines: when given, `quarantine` and `duplicate-quarantine` may only
    ///     name these (compared case-sensitively); others are a syntax error.
    /// - Throws: `FilterSyntaxError` for the first mistake, with filter name, line and column.
    public static func parse(_ text: String, allowedQuarantines: Set<String>? = nil) throws(FilterSyntaxError) -> FilterSet {
        var parser = try FilterParser(text, allowedQuarantines: allowedQuarantines)
        let filters = try parser.parseFilters()
        return FilterSet(filters: filters.map { filter in
            var filter = filter
            filter.condition = filter.condition.cheapestFirst()
            return filter
        })
    }

    /// The filter names in evaluation order.
    public var names: [String] { filters.map(\.name) }

    /// True when some condition reads the text bodies (`body-contains`,
    /// `only-body-contains`). When false, the pipeline may leave
    /// `MessageFacts.textBodies` empty and skip decoding them.
    public var needsTextBodies: Bool { filters.contains { $0.condition.readsBodies } }

    /// The quarantines named by `quarantine` and `duplicate-quarantine`, each once, in order of appearance.
    public var quarantineNames: [String] {
        var names: [String] = []
        for filter in filters {
            for action in filter.actions + filter.elseActions {
                switch action {
                case .quarantine(let name), .duplicateQuarantine(let name):
                    if !names.contains(name) { names.append(name) }
                default:
                    break
                }
            }
        }
        return names
    }

    /// Runs the filters in order over one message.
    ///
    /// Each filter's condition is evaluated (lazily: `and`/`or` stop as soon as
    /// the outcome is known, cheap tests first, so bodies are only read when a
    /// body condition is reached); the actions of the true branch (or `else`
    /// branch) run in order:
    /// - `quarantine` flags the message for that quarantine and evaluation goes on
    ///   (flags are kept once per name, with the first filter as reason);
    /// - `duplicate-quarantine` records a copy for that quarantine and goes on;
    /// - `drop` and `bounce` are final: evaluation stops, quarantine flags are discarded;
    /// - `deliver` and `skip-filters` stop the evaluation of later filters;
    /// - header edits, `alt-rcpt-to`, `notify` and `log-entry` accumulate.
    public func evaluate(_ facts: MessageFacts) -> FilterResult {
        var bodyReads = 0
        return evaluate(facts, bodyReads: &bodyReads)
    }

    /// `evaluate(_:)`, counting the body conditions that were evaluated (for tests).
    func evaluate(_ facts: MessageFacts, bodyReads: inout Int) -> FilterResult {
        var state = FilterEvaluationState()
        var result = FilterResult()
        defer { bodyReads = state.bodyReads }
        for filter in filters {
            let isTrue = filter.condition.evaluate(facts, &state)
            if isTrue { result.matched.append(filter.name) }
            for action in isTrue ? filter.actions : filter.elseActions {
                switch action {
                case .quarantine(let name):
                    if !result.quarantines.contains(where: { $0.name == name }) {
                        result.quarantines.append(FilterResult.QuarantineFlag(name: name, filter: filter.name))
                    }
                case .duplicateQuarantine(let name):
                    if !result.duplicateQuarantines.contains(where: { $0.name == name }) {
                        result.duplicateQuarantines.append(FilterResult.QuarantineFlag(name: name, filter: filter.name))
                    }
                case .drop:
                    result.final = .drop(filter: filter.name)
                    result.quarantines = []
                    return result
                case .bounce:
                    result.final = .bounce(filter: filter.name)
                    result.quarantines = []
                    return result
                case .deliver, .skipFilters:
                    result.stoppedBy = filter.name
                    return result
                case .insertHeader(let name, let value):
                    result.headerInsertions.append(MessageFacts.Header(name: name, value: value))
                case .stripHeader(let name):
                    result.headerInsertions.removeAll { FilterEvaluationState.sameHeaderName($0.name, name) }
                    if !result.headerStrips.contains(where: { FilterEvaluationState.sameHeaderName($0, name) }) {
                        result.headerStrips.append(name)
                    }
                case .alternateRecipient(let address):
                    if !result.alternateRecipients.contains(address) { result.alternateRecipients.append(address) }
                case .notify(let recipient, let subject):
                    result.notifications.append(FilterResult.Notification(recipient: recipient, subject: subject, filter: filter.name))
                case .logEntry(let text):
                    result.logEntries.append(FilterResult.LogEntry(text: text, filter: filter.name))
                }
            }
        }
        return result
    }
}
