import Foundation

/// A regular expression compiled once (ICU syntax, as in appliance filters: `(?i)` for
/// case-insensitive), matched anywhere in the subject unless anchored.
public struct Pattern: Sendable, Hashable, CustomStringConvertible {
    public let source: String
    private let box: Box

    private final class Box: @unchecked Sendable {
        // NSRegularExpression is immutable and documented thread-safe for matching.
        let regex: NSRegularExpression
        init(_ regex: NSRegularExpression) { self.regex = regex }
    }

    /// - Throws: `PatternError` with the engine's reason when `source` is not a valid regex.
    public init(_ source: String) throws {
        do {
            box = Box(try NSRegularExpression(pattern: source))
        } catch {
            throw PatternError(description: "'\(source)' is not a valid regular expression")
        }
        self.source = source
    }

    public func matches(_ subject: String) -> Bool {
        let range = NSRange(subject.startIndex..., in: subject)
        return box.regex.firstMatch(in: subject, options: [], range: range) != nil
    }

    public var description: String { source }
    public static func == (a: Pattern, b: Pattern) -> Bool { a.source == b.source }
    public func hash(into hasher: inout Hasher) { hasher.combine(source) }
}

public struct PatternError: Error, CustomStringConvertible, Sendable {
    public let description: String
}
