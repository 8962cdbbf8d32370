/// One parsed filter: `name: if condition { actions } else { elseActions }`.
struct Filter: Hashable, Sendable {
    var name: String
    var condition: FilterCondition
    var actions: [FilterAction]
    /// The `else` branch; empty when there is none.
    var elseActions: [FilterAction]
}

/// A condition as a tree. `a != b` is parsed as `not (a == b)`; `and` and `or`
/// chains are flat lists.
indirect enum FilterCondition: Hashable, Sendable, CustomStringConvertible {
    case test(FilterTest)
    case not(FilterCondition)
    case all([FilterCondition])
    case any([FilterCondition])

    /// Fully parenthesised, for tests and diagnostics.
    var description: String {
        switch self {
        case .test(let test): test.description
        case .not(let condition): "(not \(condition))"
        case .all(let conditions): "(" + conditions.map(\.description).joined(separator: " and ") + ")"
        case .any(let conditions): "(" + conditions.map(\.description).joined(separator: " or ") + ")"
        }
    }

    /// A rough price of evaluating it: body scans cost most, lists of
    /// attachments or recipients more than one envelope value.
    var cost: Int {
        switch self {
        case .test(let test): test.cost
        case .not(let condition): condition.cost
        case .all(let conditions), .any(let conditions): conditions.reduce(0) { $0 + $1.cost }
        }
    }

    /// The same condition with the operands of every `and`/`or` ordered
    /// cheapest first (stable). Conditions have no side effects, so the
    /// outcome is unchanged; short-circuiting then skips the expensive ones
    /// (body scans) whenever a cheap operand already decides.
    func cheapestFirst() -> FilterCondition {
        switch self {
        case .test: self
        case .not(let condition): .not(condition.cheapestFirst())
        case .all(let conditions): .all(Self.ordered(conditions))
        case .any(let conditions): .any(Self.ordered(conditions))
        }
    }

    private static func ordered(_ conditions: [FilterCondition]) -> [FilterCondition] {
        conditions.map { $0.cheapestFirst() }
            .enumerated()
            .sorted { ($0.element.cost, $0.offset) < ($1.element.cost, $1.offset) }
            .map(\.element)
    }

    /// True when evaluating it may read the text bodies.
    var readsBodies: Bool {
        switch self {
        case .test(let test): test.readsBodies
        case .not(let condition): condition.readsBodies
        case .all(let conditions), .any(let conditions): conditions.contains { $0.readsBodies }
        }
    }
}

/// How a size condition compares (`!=` is parsed as `not ==`).
enum FilterSizeComparison: String, Hashable, Sendable {
    case equal = "=="
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="

    func holds(_ value: Int, _ limit: Int) -> Bool {
        switch self {
        case .equal: value == limit
        case .less: value < limit
        case .lessOrEqual: value <= limit
        case .greater: value > limit
        case .greaterOrEqual: value >= limit
        }
    }
}

/// What `remote-ip == '...'` compares with.
enum FilterAddressMatch: Hashable, Sendable, CustomStringConvertible {
    /// One address (IPv4-mapped IPv6 client addresses match their IPv4 form).
    case address(FilterIPAddress)
    /// A CIDR network.
    case network(FilterIPAddress, prefixLength: Int)
    /// Anything else: a regular expression over the address text.
    case pattern(FilterPattern)

    var description: String {
        switch self {
        case .address(let address): "'\(address)'"
        case .network(let address, let prefixLength): "'\(address)/\(prefixLength)'"
        case .pattern(let pattern): pattern.description
        }
    }
}

/// One elementary condition. Text tests hold the `==` form.
enum FilterTest: Hashable, Sendable, CustomStringConvertible {
    case always
    case encrypted
    case malformed
    case subject(FilterPattern)
    /// `header("Name")` alone (pattern nil: present) or `header("Name") == 'regex'`.
    case header(name: String, FilterPattern?)
    case bodyContains(FilterPattern)
    case onlyBodyContains(FilterPattern)
    case attachmentFilename(FilterPattern)
    case attachmentType(FilterPattern)
    case attachmentSize(FilterSizeComparison, Int)
    case mailFrom(FilterPattern)
    case rcptTo(FilterPattern)
    case remoteIP(FilterAddressMatch)
    case senderGroup(FilterPattern)
    case bodySize(FilterSizeComparison, Int)
    case listener(FilterPattern)

    var description: String {
        switch self {
        case .always: "true"
        case .encrypted: "encrypted"
        case .malformed: "malformed"
        case .subject(let pattern): "subject == \(pattern)"
        case .header(let name, nil): "header(\"\(name)\")"
        case .header(let name, let pattern?): "header(\"\(name)\") == \(pattern)"
        case .bodyContains(let pattern): "body-contains(\(pattern))"
        case .onlyBodyContains(let pattern): "only-body-contains(\(pattern))"
        case .attachmentFilename(let pattern): "attachment-filename == \(pattern)"
        case .attachmentType(let pattern): "attachment-type == \(pattern)"
        case .attachmentSize(let comparison, let size): "attachment-size \(comparison.rawValue) \(size)"
        case .mailFrom(let pattern): "mail-from == \(pattern)"
        case .rcptTo(let pattern): "rcpt-to == \(pattern)"
        case .remoteIP(let match): "remote-ip == \(match)"
        case .senderGroup(let pattern): "sendergroup == \(pattern)"
        case .bodySize(let comparison, let size): "body-size \(comparison.rawValue) \(size)"
        case .listener(let pattern): "recv-listener == \(pattern)"
        }
    }

    var readsBodies: Bool {
        switch self {
        case .bodyContains, .onlyBodyContains: true
        default: false
        }
    }

    var cost: Int {
        switch self {
        case .always, .encrypted, .malformed, .bodySize: 0
        case .subject, .mailFrom, .senderGroup, .listener, .remoteIP: 1
        case .header, .rcptTo, .attachmentFilename, .attachmentType, .attachmentSize: 4
        case .bodyContains, .onlyBodyContains: 1000
        }
    }
}

/// One action of a filter's `{ ... }` block.
enum FilterAction: Hashable, Sendable {
    case quarantine(String)
    case duplicateQuarantine(String)
    case drop
    case bounce
    case deliver
    case skipFilters
    case insertHeader(name: String, value: String)
    case stripHeader(String)
    case alternateRecipient(String)
    case notify(recipient: String, subject: String?)
    case logEntry(String)

    /// Final actions end the evaluation; nothing may follow them in a block.
    var isFinal: Bool {
        switch self {
        case .drop, .bounce, .deliver, .skipFilters: true
        default: false
        }
    }
}
