/// Which queued recipients `showrecipients` and `deleterecipients` act on:
/// `host HOST`, `sender ADDR` or `all` (AsyncOS's words).
public enum RecipientSelection: Hashable, Sendable, CustomStringConvertible {
    /// Every recipient queued for this destination (`the.cpq.host`).
    case host(String)
    /// Every recipient of messages from this envelope sender (`<>` for the null sender).
    case sender(String)
    case all

    /// The usage both commands print.
    public static let usage = "host HOST | sender ADDR | all"

    /// Parses the words after the command; no words means `all` when `allowEmpty`.
    ///
    /// - Throws: `CommandArgumentError` naming `command` and what it takes.
    public init(parsing words: [String], command: String, allowEmpty: Bool) throws {
        if words.isEmpty {
            guard allowEmpty else {
                throw CommandArgumentError("\(command): say which recipients: \(command) \(Self.usage)")
            }
            self = .all
        } else if words == ["all"] {
            self = .all
        } else if words[0] == "host" || words[0] == "sender" {
            guard words.count == 2, !words[1].isEmpty else {
                throw CommandArgumentError(words.count == 1
                    ? "\(command): \(words[0]) needs a value; usage: \(command) \(Self.usage)"
                    : "\(command): unexpected \"\(words[2...].joined(separator: " "))\"; usage: \(command) \(Self.usage)")
            }
            self = words[0] == "host" ? .host(words[1]) : .sender(words[1])
        } else {
            throw CommandArgumentError("\(command): \"\(words.joined(separator: " "))\" is not a selection; usage: \(command) \(Self.usage)")
        }
    }

    /// Whether a message from `sender` waiting for `host` is selected (names compare
    /// case-insensitively; `<>` and the empty string both mean the null sender).
    public func matches(host: String, sender: String) -> Bool {
        switch self {
        case .all: true
        case .host(let name): name.lowercased() == host.lowercased()
        case .sender(let address):
            Self.bare(address).lowercased() == Self.bare(sender).lowercased()
        }
    }

    public var description: String {
        switch self {
        case .all: "all"
        case .host(let name): "host \(name)"
        case .sender(let address): "sender \(address)"
        }
    }

    private static func bare(_ address: String) -> String {
        address.hasPrefix("<") && address.hasSuffix(">") ? String(address.dropFirst().dropLast()) : address
    }
}
