import Foundation

/// The arguments of one control command: positional words and `--name VALUE` (or
/// `--name=VALUE`) options, checked against the options the command knows. Errors name
/// the option and say what is allowed.
public struct CommandArguments: Hashable, Sendable {
    public private(set) var positional: [String] = []
    private var values: [String: String] = [:]

    /// Parses `args` for a command that takes the options in `options` (names without `--`).
    ///
    /// - Throws: `CommandArgumentError` for an unknown option, a missing value or an
    ///   option given twice.
    public init(_ args: [String], options: Set<String>) throws {
        var index = 0
        while index < args.count {
            let word = args[index]
            index += 1
            guard word.hasPrefix("--"), word.count > 2 else {
                positional.append(word)
                continue
            }
            var name = String(word.dropFirst(2))
            var value: String?
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard options.contains(name) else {
                let known = options.sorted().map { "--\($0)" }.joined(separator: ", ")
                throw CommandArgumentError("unknown option --\(name)" + (known.isEmpty ? "; this command takes none" : " (known here: \(known))"))
            }
            if value == nil {
                guard index < args.count else { throw CommandArgumentError("--\(name) needs a value") }
                value = args[index]
                index += 1
            }
            guard values[name] == nil else { throw CommandArgumentError("--\(name) is given twice") }
            values[name] = value
        }
    }

    /// The value of `--name`, or nil when not given.
    public func value(_ name: String) -> String? { values[name] }

    /// The value of `--name` as an integer in `range`; nil when not given.
    public func integer(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text = values[name] else { return nil }
        guard let number = Int(text), range.contains(number) else {
            throw CommandArgumentError("--\(name) \(text) is not a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    /// The value of `--name` as a comma-separated list (empty items dropped); nil when not given.
    public func list(_ name: String) throws -> [String]? {
        guard let text = values[name] else { return nil }
        let items = text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !items.isEmpty else { throw CommandArgumentError("--\(name) needs at least one name (NAME1,NAME2)") }
        return items
    }

    /// Exactly `count` positional arguments, named in `usage` for the error.
    public func requirePositional(_ count: Int, usage: String) throws -> [String] {
        guard positional.count == count else {
            throw CommandArgumentError(positional.count < count ? "missing argument; usage: \(usage)"
                                                                : "unexpected argument \"\(positional[count])\"; usage: \(usage)")
        }
        return positional
    }
}

/// A bad argument of a control command; the message says what is wrong and what is allowed.
public struct CommandArgumentError: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
