/// The condition names of the filter language and how each is written.
enum FilterConditionName: String, CaseIterable, Sendable {
    case subject
    case header
    case bodyContains = "body-contains"
    case onlyBodyContains = "only-body-contains"
    case attachmentFilename = "attachment-filename"
    case attachmentType = "attachment-type"
    case attachmentSize = "attachment-size"
    case mailFrom = "mail-from"
    case rcptTo = "rcpt-to"
    case remoteIP = "remote-ip"
    case senderGroup = "sendergroup"
    case bodySize = "body-size"
    case listener = "recv-listener"
    case encrypted
    case malformed
    case `true`

    enum Form {
        /// `encrypted`, `malformed`, `true`: a condition by itself.
        case flag
        /// `header("Name")` with an optional `== 'regex'`.
        case header
        /// `body-contains('regex')`.
        case function
        /// `name == 'regex'` / `name != 'regex'`.
        case text
        /// `remote-ip == 'address, network or regex'`.
        case address
        /// `name > 10M` and the other comparisons.
        case size
    }

    var form: Form {
        switch self {
        case .encrypted, .malformed, .true: .flag
        case .header: .header
        case .bodyContains, .onlyBodyContains: .function
        case .subject, .attachmentFilename, .attachmentType, .mailFrom, .rcptTo, .senderGroup, .listener: .text
        case .remoteIP: .address
        case .attachmentSize, .bodySize: .size
        }
    }

    /// How to write it, for error messages (in filter text, so regex backslashes are doubled).
    var example: String {
        switch self {
        case .subject: "subject == '(?i)invoice'"
        case .header: "header(\"X-Spam-Flag\") == '(?i)^yes$'"
        case .bodyContains: "body-contains('(?i)confidential')"
        case .onlyBodyContains: "only-body-contains('(?i)unsubscribe')"
        case .attachmentFilename: "attachment-filename == '(?i)\\\\.exe$'"
        case .attachmentType: "attachment-type == '^application/x-msdownload$'"
        case .attachmentSize: "attachment-size > 5M"
        case .mailFrom: "mail-from == '@example\\\\.com$'"
        case .rcptTo: "rcpt-to == '^postmaster@'"
        case .remoteIP: "remote-ip == '10.0.0.0/8'"
        case .senderGroup: "sendergroup == '^BLOCKED$'"
        case .bodySize: "body-size > 10M"
        case .listener: "recv-listener == '^IncomingMail$'"
        case .encrypted: "encrypted"
        case .malformed: "malformed"
        case .true: "true"
        }
    }

    /// The test for `name == pattern` of a `.text` condition.
    func textTest(_ pattern: FilterPattern) -> FilterTest {
        switch self {
        case .subject: .subject(pattern)
        case .attachmentFilename: .attachmentFilename(pattern)
        case .attachmentType: .attachmentType(pattern)
        case .mailFrom: .mailFrom(pattern)
        case .rcptTo: .rcptTo(pattern)
        case .senderGroup: .senderGroup(pattern)
        case .listener: .listener(pattern)
        case .bodyContains: .bodyContains(pattern)
        case .onlyBodyContains: .onlyBodyContains(pattern)
        default: preconditionFailure("\(rawValue) is not a text condition")
        }
    }

    /// The test for `name <op> size` of a `.size` condition.
    func sizeTest(_ comparison: FilterSizeComparison, _ size: Int) -> FilterTest {
        switch self {
        case .attachmentSize: .attachmentSize(comparison, size)
        case .bodySize: .bodySize(comparison, size)
        default: preconditionFailure("\(rawValue) is not a size condition")
        }
    }

    /// "subject, header(...), ..." for messages that list them all.
    static let list = allCases.map { name in
        switch name.form {
        case .header: "header(\"Name\")"
        case .function: "\(name.rawValue)('regex')"
        default: name.rawValue
        }
    }.joined(separator: ", ")
}

/// The action names of the filter language and their arguments.
enum FilterActionName: String, CaseIterable, Sendable {
    case quarantine
    case duplicateQuarantine = "duplicate-quarantine"
    case drop
    case bounce
    case deliver
    case skipFilters = "skip-filters"
    case insertHeader = "insert-header"
    case stripHeader = "strip-header"
    case altRcptTo = "alt-rcpt-to"
    case notify
    case logEntry = "log-entry"

    /// How many quoted arguments it takes.
    var arity: ClosedRange<Int> {
        switch self {
        case .drop, .bounce, .deliver, .skipFilters: 0...0
        case .quarantine, .duplicateQuarantine, .stripHeader, .altRcptTo, .logEntry: 1...1
        case .insertHeader: 2...2
        case .notify: 1...2
        }
    }

    /// How to write it, for error messages.
    var usage: String {
        switch self {
        case .quarantine: "quarantine(\"Policy\")"
        case .duplicateQuarantine: "duplicate-quarantine(\"Policy\")"
        case .drop: "drop()"
        case .bounce: "bounce()"
        case .deliver: "deliver()"
        case .skipFilters: "skip-filters()"
        case .insertHeader: "insert-header(\"X-Scanned\", \"yes\")"
        case .stripHeader: "strip-header(\"X-Spam-Flag\")"
        case .altRcptTo: "alt-rcpt-to(\"security@example.com\")"
        case .notify: "notify(\"admin@example.com\") or notify(\"admin@example.com\", \"Blocked attachment\")"
        case .logEntry: "log-entry(\"partner mail\")"
        }
    }

    /// "takes no arguments", "takes 1 argument", ...
    var arityText: String {
        switch arity {
        case 0...0: "takes no arguments"
        case 1...1: "takes 1 argument"
        case 1...2: "takes 1 or 2 arguments"
        default: "takes \(arity.lowerBound) arguments"
        }
    }

    static let list = allCases.map(\.rawValue).joined(separator: ", ")
}

/// Suggestions for misspelt names.
enum FilterSpelling {
    /// The candidate closest to `word` (ignoring case) when it is close enough to be a typo.
    static func suggestion(for word: String, among candidates: some Sequence<String>) -> String? {
        let lowered = Array(word.lowercased().unicodeScalars)
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(lowered, Array(candidate.lowercased().unicodeScalars))
            if distance < (best?.distance ?? Int.max) { best = (candidate, distance) }
        }
        guard let best else { return nil }
        let allowed = lowered.count <= 4 ? 1 : 2
        return best.distance <= allowed ? best.candidate : nil
    }

    /// Levenshtein distance (insertions, deletions, substitutions).
    static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
