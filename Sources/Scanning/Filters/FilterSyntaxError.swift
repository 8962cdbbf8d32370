/// Why a filter text was refused by `FilterSet.parse(_:allowedQuarantines:)`.
///
/// Every error names the place (line and column, both counted from 1; columns
/// count Unicode scalars, a tab is one) and, once the parser has read it, the
/// filter's name. `message` says what is wrong and what to write instead.
/// The description reads like
/// `filter "block_exe", line 2, column 27: expected ')' after the condition, found '{'`.
public struct FilterSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The name of the filter being read, when the parser got that far.
    public var filter: String?
    /// The line of the offending text, from 1.
    public var line: Int
    /// The column of the offending text, from 1. An error at the end of the
    /// input points just after the last thing written.
    public var column: Int
    /// What is wrong and what to do about it.
    public var message: String

    /// An error at `line`/`column` of the filter text, inside filter `filter` when known.
    public init(filter: String?, line: Int, column: Int, message: String) {
        self.filter = filter
        self.line = line
        self.column = column
        self.message = message
    }

    /// `filter "name", line L, column C: message`, or `line L, column C: message` before any filter name.
    public var description: String {
        let place = "line \(line), column \(column): \(message)"
        guard let filter else { return place }
        return "filter \"\(filter)\", " + place
    }
}
