/// A shortcut in front of ICU for patterns that need a literal text to match.
///
/// ICU (through `NSRegularExpression`) first copies the whole subject to
/// UTF-16, which alone costs about 20 µs for a 10 KB body on Linux. Most
/// filter patterns contain a literal outside any group that every match must
/// contain (`@partner\.example$` needs `@partner.example`,
/// `(?i)\bpassw(or)?d\b` needs `passw`): when the subject does not contain
/// it, the pattern cannot match and ICU is skipped. When a pattern *is* just
/// literals (`(?i)viagra|free money`), the search also decides a match.
/// Groups are not looked into: `\b(password|passwort)\b` gets no shortcut.
///
/// The analysis is conservative: anything it does not fully understand (flag
/// groups other than a leading `(?i)`, `\Q`, `\x`, `\p`, back references, ...)
/// gives no shortcut and ICU decides alone. A search under `(?i)` only
/// decides for ASCII subjects (ASCII case-folding equals ICU's there);
/// others go to ICU.
struct FilterLiteralSearch: Hashable, Sendable {
    /// The literal one alternative of the pattern requires, and whether that
    /// alternative is exactly "contains the literal".
    struct Requirement: Hashable, Sendable {
        /// UTF-8 bytes; lower case when `caseInsensitive`.
        var bytes: [UInt8]
        /// 0x20 where `bytes` has a letter and the search ignores case, else 0.
        var foldMask: [UInt8]
        var isWholeAlternative: Bool
    }

    enum Outcome: Hashable, Sendable {
        case match
        case noMatch
        case undecided
    }

    var caseInsensitive: Bool
    /// One per top-level alternative; the pattern can only match if one is found.
    var requirements: [Requirement]

    /// Analyses a pattern that ICU compiled. Nil when there is no usable shortcut.
    init?(pattern: String) {
        var scalars = Array(pattern.unicodeScalars)[...]
        caseInsensitive = scalars.starts(with: "(?i)".unicodeScalars)
        if caseInsensitive { scalars = scalars.dropFirst(4) }
        guard let alternatives = Self.alternatives(scalars, caseInsensitive: caseInsensitive) else { return nil }
        var requirements: [Requirement] = []
        for (runs, isWhole) in alternatives {
            guard let longest = runs.max(by: { $0.count < $1.count }), !longest.isEmpty else { return nil }
            var bytes = Array(String(String.UnicodeScalarView(longest)).utf8)
            var foldMask = [UInt8](repeating: 0, count: bytes.count)
            if caseInsensitive {
                for index in bytes.indices where Self.isASCIILetter(bytes[index]) {
                    bytes[index] |= 0x20
                    foldMask[index] = 0x20
                }
            }
            requirements.append(Requirement(bytes: bytes, foldMask: foldMask, isWholeAlternative: isWhole))
        }
        self.requirements = requirements
    }

    private static func isASCIILetter(_ byte: UInt8) -> Bool {
        (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }

    /// Decides from a literal search, when it can.
    func decide(_ text: String) -> Outcome {
        var text = text
        return text.withUTF8 { subject in
            if caseInsensitive, !Self.isASCII(subject) { return .undecided }
            var found = false
            for requirement in requirements where Self.contains(subject, requirement) {
                if requirement.isWholeAlternative { return .match }
                found = true
            }
            return found ? .undecided : .noMatch
        }
    }

    static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let raw = UnsafeRawPointer(base)
        var accumulated: UInt64 = 0
        var index = 0
        while index + 8 <= bytes.count {
            accumulated |= raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            index += 8
        }
        while index < bytes.count {
            accumulated |= UInt64(bytes[index])
            index += 1
        }
        return accumulated & 0x8080_8080_8080_8080 == 0
    }

    /// Substring search; `foldMask` bytes are OR-ed into the subject's bytes before comparing.
    /// Skips 8 bytes at a time while none of them can start a match.
    static func contains(_ subject: UnsafeBufferPointer<UInt8>, _ requirement: Requirement) -> Bool {
        let needle = requirement.bytes
        let mask = requirement.foldMask
        let count = needle.count
        guard count <= subject.count, let base = subject.baseAddress else { return count == 0 }
        let raw = UnsafeRawPointer(base)
        let last = subject.count - count
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highBits: UInt64 = 0x8080_8080_8080_8080
        let first = needle[0]
        let firstMask = mask[0]
        let maskWord = UInt64(firstMask) &* ones
        let firstWord = UInt64(first) &* ones
        var index = 0
        candidates: while index <= last {
            while index + 8 <= last + 1 {
                let difference = (raw.loadUnaligned(fromByteOffset: index, as: UInt64.self) | maskWord) ^ firstWord
                if (difference &- ones) & ~difference & highBits != 0 { break }
                index += 8
            }
            guard index <= last else { return false }
            if subject[index] | firstMask == first {
                var offset = 1
                while offset < count {
                    if subject[index + offset] | mask[offset] != needle[offset] {
                        index += 1
                        continue candidates
                    }
                    offset += 1
                }
                return true
            }
            index += 1
        }
        return false
    }

    // MARK: - Pattern analysis

    private static let meta: Set<Unicode.Scalar> = ["\\", "^", "$", ".", "|", "?", "*", "+", "(", ")", "[", "]", "{", "}"]
    /// Escapes of one letter that stand for a class or an anchor (no arguments).
    private static let opaqueEscapes: Set<Unicode.Scalar> = [
        "b", "B", "d", "D", "w", "W", "s", "S", "h", "H", "v", "V", "R", "X", "A", "Z", "z", "G",
        "e", "f", "n", "r", "t", "a",
    ]

    /// Splits the pattern into its top-level alternatives, each as the runs of
    /// literal characters every match of it contains, and whether the
    /// alternative is one plain run. Nil when something is not understood.
    private static func alternatives(
        _ pattern: ArraySlice<Unicode.Scalar>, caseInsensitive: Bool
    ) -> [(runs: [[Unicode.Scalar]], isWhole: Bool)]? {
        var result: [(runs: [[Unicode.Scalar]], isWhole: Bool)] = []
        var runs: [[Unicode.Scalar]] = []
        var run: [Unicode.Scalar] = []
        var plain = true  // only literal characters so far in this alternative
        var index = pattern.startIndex

        func endRun() {
            if !run.isEmpty { runs.append(run) }
            run = []
        }

        while index < pattern.endIndex {
            let scalar = pattern[index]
            index += 1
            switch scalar {
            case "|":
                endRun()
                result.append((runs, plain && runs.count == 1))
                runs = []
                plain = true
                continue
            case "\\":
                guard index < pattern.endIndex else { return nil }
                let escaped = pattern[index]
                index += 1
                if escaped.isASCII, !escaped.properties.isAlphabetic, !("0"..."9").contains(escaped) {
                    // An escaped symbol is that symbol.
                    if !appendLiteral(escaped) { return nil }
                } else if opaqueEscapes.contains(escaped) {
                    endRun()
                    plain = false
                } else {
                    return nil
                }
            case "[":
                guard let end = endOfClass(pattern, from: index) else { return nil }
                index = end
                endRun()
                plain = false
            case "(":
                guard let end = endOfGroup(pattern, from: index) else { return nil }
                index = end
                endRun()
                plain = false
            case "^", "$", ".":
                endRun()
                plain = false
            case "?", "*", "+", "{":
                // A repetition makes its atom optional or repeated: drop the
                // last literal character from the run and end the run.
                if scalar == "{" {
                    // Only {n}, {n,} and {n,m}.
                    guard let close = pattern[index...].firstIndex(of: "}") else { return nil }
                    let bounds = pattern[index..<close].split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false)
                    guard let minimum = bounds.first, !minimum.isEmpty,
                          bounds.allSatisfy({ $0.allSatisfy { ("0"..."9").contains($0) } })
                    else { return nil }
                    index = close + 1
                }
                if index < pattern.endIndex, pattern[index] == "?" || pattern[index] == "+" { index += 1 }
                if !run.isEmpty { run.removeLast() }
                endRun()
                plain = false
            case ")", "]", "}":
                return nil
            default:
                if !appendLiteral(scalar) { return nil }
            }
        }
        endRun()
        result.append((runs, plain && runs.count == 1))
        return result

        func appendLiteral(_ literal: Unicode.Scalar) -> Bool {
            if caseInsensitive, !literal.isASCII {
                // Case folding beyond ASCII is ICU's business.
                endRun()
                plain = false
            } else {
                run.append(literal)
            }
            return true
        }
    }

    /// The index after the `]` that closes a class opened just before `start`.
    private static func endOfClass(_ pattern: ArraySlice<Unicode.Scalar>, from start: Int) -> Int? {
        var index = start
        if index < pattern.endIndex, pattern[index] == "^" { index += 1 }
        // A ']' right after '[' or '[^' is read differently by different engines: give up.
        if index < pattern.endIndex, pattern[index] == "]" { return nil }
        var depth = 1
        while index < pattern.endIndex {
            let scalar = pattern[index]
            index += 1
            switch scalar {
            case "\\":
                guard index < pattern.endIndex else { return nil }
                let escaped = pattern[index]
                // \p{...}, \N{...}, \x{...} take braces: give up rather than guess.
                if escaped.properties.isAlphabetic, !opaqueEscapes.contains(escaped) { return nil }
                index += 1
            case "[":
                if index < pattern.endIndex, pattern[index] == "]" { return nil }
                depth += 1
            case "]":
                depth -= 1
                if depth == 0 { return index }
            default:
                break
            }
        }
        return nil
    }

    /// The index after the `)` that closes a group opened just before `start`.
    /// Only plain, non-capturing and look-around groups are understood.
    private static func endOfGroup(_ pattern: ArraySlice<Unicode.Scalar>, from start: Int) -> Int? {
        guard isUnderstoodGroup(pattern, at: start) else { return nil }
        var index = start
        var depth = 1
        while index < pattern.endIndex {
            let scalar = pattern[index]
            index += 1
            switch scalar {
            case "\\":
                guard index < pattern.endIndex else { return nil }
                let escaped = pattern[index]
                if escaped.properties.isAlphabetic, !opaqueEscapes.contains(escaped) { return nil }
                index += 1
            case "[":
                guard let end = endOfClass(pattern, from: index) else { return nil }
                index = end
            case "(":
                guard isUnderstoodGroup(pattern, at: index) else { return nil }
                depth += 1
            case ")":
                depth -= 1
                if depth == 0 { return index }
            default:
                break
            }
        }
        return nil
    }

    /// True for a plain `(`, `(?:`, look-arounds and `(?>`: groups that change no flags.
    /// `start` is the index just after the `(`.
    private static func isUnderstoodGroup(_ pattern: ArraySlice<Unicode.Scalar>, at start: Int) -> Bool {
        guard start < pattern.endIndex, pattern[start] == "?" else { return true }
        let next = Array(pattern[(start + 1)...].prefix(2))
        guard let first = next.first else { return false }
        return first == ":" || first == "=" || first == "!" || first == ">" || next == ["<", "="] || next == ["<", "!"]
    }
}
