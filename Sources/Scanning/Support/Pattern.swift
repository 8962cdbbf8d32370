/// A regular expression for configuration outside the filter text (outbreak rules,
/// mail policy senders and recipients): the filters' own engine (ICU, `(?i)` for
/// case-insensitive), matched anywhere unless anchored.
public struct Pattern: Sendable, Hashable, CustomStringConvertible {
    let compiled: FilterPattern

    /// - Throws: `PatternError` saying what is wrong when `source` is not a valid regex.
    public init(_ source: String) throws {
        do {
            compiled = try FilterPattern(source)
        } catch {
            throw PatternError(description: "'\(source)' is not a valid regular expression: \(error.reason)")
        }
    }

    public var source: String { compiled.source }
    public func matches(_ subject: String) -> Bool { compiled.matches(subject) }
    public var description: String { compiled.source }
}

/// A pattern that does not compile.
public struct PatternError: Error, CustomStringConvertible, Sendable {
    public let description: String
}
