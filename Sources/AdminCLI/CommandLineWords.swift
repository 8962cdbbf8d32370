/// Splits a command line the way a shell would, without running one: words are separated by
/// blanks, `'...'` keeps everything literally, `"..."` keeps blanks and honours `\"` and
/// `\\`, and a backslash outside quotes escapes the next character.
/// `deleterecipients --host "the.cpq.host" --yes` → `["deleterecipients", "--host", "the.cpq.host", "--yes"]`.
public enum CommandLineWords {
    /// A line that cannot be split (an unclosed quote, a trailing backslash).
    public struct SplitError: Error, Hashable, Sendable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    public static func split(_ line: String) throws -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
                continue
            }
            switch quote {
            case "'":
                if character == "'" { quote = nil } else { current.append(character) }
            case "\"":
                if character == "\"" {
                    quote = nil
                } else if character == "\\" {
                    escaped = true
                } else {
                    current.append(character)
                }
            default:
                if character == " " || character == "\t" || character.isNewline {
                    if inWord { words.append(current) }
                    current = ""
                    inWord = false
                } else if character == "'" || character == "\"" {
                    quote = character
                    inWord = true
                } else if character == "\\" {
                    escaped = true
                    inWord = true
                } else {
                    current.append(character)
                    inWord = true
                }
            }
        }
        if let quote { throw SplitError(reason: "the command line has an unclosed \(quote) quote") }
        if escaped { throw SplitError(reason: "the command line ends with a backslash") }
        if inWord { words.append(current) }
        return words
    }
}
