/// What one evaluation works out once and counts, next to the (borrowed) facts.
struct FilterEvaluationState {
    /// How many body conditions were evaluated (tests check laziness with it).
    var bodyReads = 0
    private var parsedRemoteAddress: FilterIPAddress??

    /// The client address, parsed on first use; nil when it is not an address.
    mutating func remoteAddress(of facts: MessageFacts) -> FilterIPAddress? {
        if let parsedRemoteAddress { return parsedRemoteAddress }
        let address = FilterIPAddress(facts.remoteIP)
        parsedRemoteAddress = .some(address)
        return address
    }

    /// ASCII case-insensitive comparison of header names, without allocating.
    static func sameHeaderName(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        for (x, y) in zip(a.utf8, b.utf8) where x != y {
            let lowerX = (0x41...0x5A).contains(x) ? x | 0x20 : x
            let lowerY = (0x41...0x5A).contains(y) ? y | 0x20 : y
            if lowerX != lowerY { return false }
        }
        return true
    }
}

extension FilterCondition {
    func evaluate(_ facts: MessageFacts, _ state: inout FilterEvaluationState) -> Bool {
        switch self {
        case .test(let test):
            return test.evaluate(facts, &state)
        case .not(let condition):
            return !condition.evaluate(facts, &state)
        case .all(let conditions):
            for condition in conditions where !condition.evaluate(facts, &state) { return false }
            return true
        case .any(let conditions):
            for condition in conditions where condition.evaluate(facts, &state) { return true }
            return false
        }
    }
}

extension FilterTest {
    func evaluate(_ facts: MessageFacts, _ state: inout FilterEvaluationState) -> Bool {
        switch self {
        case .always:
            return true
        case .encrypted:
            return facts.isEncrypted
        case .malformed:
            return facts.isMalformed
        case .subject(let pattern):
            return pattern.matches(facts.subject ?? "")
        case .header(let name, let pattern):
            return facts.headers.contains { header in
                FilterEvaluationState.sameHeaderName(header.name, name) && (pattern?.matches(header.value) ?? true)
            }
        case .bodyContains(let pattern):
            state.bodyReads += 1
            return facts.textBodies.contains { pattern.matches($0) }
        case .onlyBodyContains(let pattern):
            state.bodyReads += 1
            return !facts.textBodies.isEmpty && facts.textBodies.allSatisfy { pattern.matches($0) }
        case .attachmentFilename(let pattern):
            return facts.attachments.contains { $0.filename.map(pattern.matches) ?? false }
        case .attachmentType(let pattern):
            return facts.attachments.contains { pattern.matches($0.contentType) }
        case .attachmentSize(let comparison, let size):
            return facts.attachments.contains { comparison.holds($0.size, size) }
        case .mailFrom(let pattern):
            return pattern.matches(facts.mailFrom)
        case .rcptTo(let pattern):
            return facts.recipients.contains { pattern.matches($0) }
        case .remoteIP(.address(let address)):
            return state.remoteAddress(of: facts)?.unmapped == address
        case .remoteIP(.network(let network, let prefixLength)):
            return state.remoteAddress(of: facts)?.isInside(network, prefixLength: prefixLength) ?? false
        case .remoteIP(.pattern(let pattern)):
            return pattern.matches(facts.remoteIP)
        case .senderGroup(let pattern):
            return pattern.matches(facts.senderGroup ?? "")
        case .bodySize(let comparison, let size):
            return comparison.holds(facts.bodySize, size)
        case .listener(let pattern):
            return pattern.matches(facts.listener)
        }
    }
}
