/// A configuration that cannot be used: a HAT or RAT that does not parse, a
/// YAML file with a wrong value, or a set of listeners that contradict each
/// other. Each problem names where it is (`HAT line 7: ...`,
/// `listeners[0].port: ...`) and what is wrong, so that an admin can fix it
/// without reading the source.
public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// One message per problem, in the order they were found.
    public var problems: [String]

    /// One problem.
    public init(_ problem: String) {
        self.problems = [problem]
    }

    /// Several problems found in one pass (validation reports all of them at once).
    public init(problems: [String]) {
        self.problems = problems
    }

    /// The problems, one per line.
    public var description: String { problems.joined(separator: "\n") }

    /// The same problems with `prefix` in front of each (`listeners[IncomingMail].hat `).
    func prefixed(_ prefix: String) -> ConfigurationError {
        ConfigurationError(problems: problems.map { prefix + $0 })
    }
}
