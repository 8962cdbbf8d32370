/// One command of a control socket, e.g. `quarantine list`.
public struct ControlCommand: Sendable {
    /// The words that name it, e.g. `["quarantine", "list"]`.
    public var words: [String]
    /// What follows the words, e.g. `[--quarantine NAME] [--limit N]`.
    public var arguments: String
    /// One line for `help`.
    public var summary: String
    /// What the caller's role must allow (`.read` by default).
    public var permission: CommandPermission
    /// When set, the question asked before the command runs, e.g. `Delete 12 recipients
    /// for the.cpq.host?`-style text; `--yes` among the arguments answers it
    /// (non-interactive callers must give it). The table strips `--yes` before `run`.
    public var confirmation: String?
    /// Runs it with the arguments after `words` and who asked.
    public var run: @Sendable ([String], CommandContext) async -> ControlResponse

    public init(_ words: [String], arguments: String = "", summary: String,
                permission: CommandPermission = .read, confirmation: String? = nil,
                run: @escaping @Sendable ([String], CommandContext) async -> ControlResponse) {
        self.words = words
        self.arguments = arguments
        self.summary = summary
        self.permission = permission
        self.confirmation = confirmation
        self.run = run
    }

    /// A command that does not need to know who runs it.
    public init(_ words: [String], arguments: String = "", summary: String,
                permission: CommandPermission = .read, confirmation: String? = nil,
                run: @escaping @Sendable ([String]) async -> ControlResponse) {
        self.init(words, arguments: arguments, summary: summary, permission: permission,
                  confirmation: confirmation) { args, _ in await run(args) }
    }

    /// `quarantine list [--quarantine NAME] ...`
    public var usage: String {
        (words + (arguments.isEmpty ? [] : [arguments])).joined(separator: " ")
    }
}

/// The commands a control socket answers, found by their first words. `help` (alone or
/// followed by words) lists them; unknown or incomplete commands get the usage of the
/// commands they could mean. Later commands plug in with `add`.
public struct CommandTable: Sendable {
    public private(set) var commands: [ControlCommand]

    public init(_ commands: [ControlCommand] = []) {
        self.commands = []
        for command in commands { add(command) }
    }

    /// Adds `command`; a command with the same words replaces the earlier one.
    public mutating func add(_ command: ControlCommand) {
        commands.removeAll { $0.words == command.words }
        commands.append(command)
    }

    /// Runs the command `args` names (the longest matching words win) for `context`:
    /// refuses it when the caller's role does not allow it, and asks (interactive) or
    /// requires `--yes` (non-interactive) for commands with a confirmation.
    public func handle(_ args: [String], context: CommandContext = .local) async -> ControlResponse {
        if args.isEmpty { return .failure("no command given.\n" + help()) }
        if args[0] == "help" { return .success(help(Array(args.dropFirst()), role: context.role)) }
        let match = commands.filter { args.starts(with: $0.words) }.max { $0.words.count < $1.words.count }
        if let match {
            var rest = Array(args.dropFirst(match.words.count))
            if rest == ["--help"] || rest == ["-h"] { return .success(help(match.words)) }
            let name = match.words.joined(separator: " ")
            guard context.role.allows(match.permission) else {
                return .failure("\(name): permission denied: the \(context.role.rawValue) role cannot run it; ask an admin")
            }
            if let question = match.confirmation {
                let confirmed = rest.contains("--yes")
                rest.removeAll { $0 == "--yes" }
                if !confirmed {
                    guard context.interactive else {
                        return .failure("\(name) needs confirmation: add --yes to run it without a prompt")
                    }
                    guard await context.confirm(question) else {
                        return .failure("\(name): not confirmed; nothing was changed")
                    }
                }
            }
            return await match.run(rest, context)
        }
        let typed = Array(args.prefix { !$0.hasPrefix("-") })
        let candidates = commands.filter { !typed.isEmpty && $0.words.starts(with: typed) }
        if !candidates.isEmpty {
            return .failure("\"\(typed.joined(separator: " "))\" is incomplete; one of:\n" + Self.lines(candidates))
        }
        let related = commands.filter { $0.words.first == args[0] }
        return .failure("unknown command \"\(args.joined(separator: " "))\"; "
            + (related.isEmpty ? "the commands are:\n" + Self.lines(commands) : "did you mean one of:\n" + Self.lines(related)))
    }

    /// Usage and summary of every command starting with `words` (all when empty); for a
    /// `role` that may not run some of them, those are named apart at the end.
    public func help(_ words: [String] = [], role: AdminRole = .admin) -> String {
        let chosen = commands.filter { $0.words.starts(with: words) }
        guard !chosen.isEmpty else {
            return "no command starts with \"\(words.joined(separator: " "))\"; the commands are:\n" + Self.lines(commands)
        }
        let allowed = chosen.filter { role.allows($0.permission) }
        let refused = chosen.filter { !role.allows($0.permission) }
        var text = "commands:\n" + Self.lines(allowed)
        if !refused.isEmpty {
            text += (allowed.isEmpty ? "" : "\n") + "not for the \(role.rawValue) role (ask an admin): "
                + refused.map { $0.words.joined(separator: " ") }.joined(separator: ", ")
        }
        return text
    }

    private static func lines(_ commands: [ControlCommand]) -> String {
        commands.map { "  \($0.usage)\n      \($0.summary)" }.joined(separator: "\n")
    }
}
