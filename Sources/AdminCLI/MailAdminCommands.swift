import Foundation

/// The mail commands of both roles, over a `MailAdminSystem`: `status`, `tophosts`,
/// `hoststatus`, `showrecipients`, `deleterecipients`, `suspendlisteners`,
/// `resumelisteners`, `suspend`, `resume`, `delivernow`, `listenerconfig`,
/// `interfaceconfig`, `version`, `tail mail_logs`, `grep PATTERN mail_logs`
/// (docs/ADMIN-CLI.md). The texts are made by the pure functions of `AdminTexts`.
public struct MailAdminCommands: Sendable {
    public let system: any MailAdminSystem
    /// The clock (tests pass a fixed one).
    public var now: @Sendable () -> Date

    public init(system: any MailAdminSystem, now: @escaping @Sendable () -> Date = { Date() }) {
        self.system = system
        self.now = now
    }

    /// The commands, for a `CommandTable`.
    public var commands: [ControlCommand] {
        [
            ControlCommand(["status"], summary: "Online/Offline, uptime, counters, queue sizes and the oldest queued message", run: status),
            ControlCommand(["tophosts"], arguments: "[\(AdminTexts.TopHostsOrder.allCases.map(\.rawValue).joined(separator: "|"))]",
                           summary: "delivery queues by active recipients (or the column named); * marks a host that is down", run: tophosts),
            ControlCommand(["hoststatus"], arguments: "HOST", summary: "counters and gauges of one delivery queue (the.cpq.host, smarthost...)",
                           run: hoststatus),
            ControlCommand(["showrecipients"], arguments: "[\(RecipientSelection.usage)]",
                           summary: "queued messages and their recipients still to deliver (all by default)", run: showrecipients),
            ControlCommand(["deleterecipients"], arguments: "\(RecipientSelection.usage) [--yes]",
                           summary: "delete queued recipients: they are not delivered (logged to mail_logs with who did it)",
                           permission: .admin,
                           confirmation: "Delete the selected queued recipients? They will not be delivered.",
                           run: deleterecipients),
            ControlCommand(["suspendlisteners"], arguments: "[NAME|all]",
                           summary: "the listener (all by default) refuses new connections with 421 4.3.2 until resumelisteners",
                           permission: .operate, run: { args, context in await self.listenersCommand(args, context, suspend: true) }),
            ControlCommand(["resumelisteners"], arguments: "[NAME|all]", summary: "the listener (all by default) accepts connections again",
                           permission: .operate, run: { args, context in await self.listenersCommand(args, context, suspend: false) }),
            ControlCommand(["suspend"], summary: "Offline: every listener refuses new connections and delivery pauses, until resume",
                           permission: .operate, run: { args, context in await self.systemCommand(args, context, suspend: true) }),
            ControlCommand(["resume"], summary: "Online: listeners accept and delivery goes on (ends suspend and suspendlisteners)",
                           permission: .operate, run: { args, context in await self.systemCommand(args, context, suspend: false) }),
            ControlCommand(["delivernow"], arguments: "[HOST|all]",
                           summary: "retry the queue (all by default) at once, forgetting backoff and host-down marks",
                           permission: .operate, run: delivernow),
            ControlCommand(["listenerconfig"], arguments: "[--json]", summary: "the listeners with their ports, HAT and RAT",
                           run: listenerconfig),
            ControlCommand(["interfaceconfig"], arguments: "[--json]",
                           summary: "the interfaces: name, address, and the listeners and ports on each", run: interfaceconfig),
            ControlCommand(["version"], summary: "the Lazaret version and role", run: version),
            ControlCommand(["tail"], arguments: "mail_logs [N]",
                           summary: "the last N lines of mail_logs (\(MailLogReader.defaultTailLines) by default, at most \(MailLogReader.maxLines))",
                           run: tail),
            ControlCommand(["grep"], arguments: "PATTERN mail_logs [--limit N]",
                           summary: "the latest mail_logs lines matching PATTERN (a case-insensitive regular expression; at most \(MailLogReader.maxLines))",
                           run: grep),
        ]
    }

    // MARK: Looking

    public func status(_ args: [String], _ context: CommandContext) async -> ControlResponse {
        guard args.isEmpty else { return .failure("status takes no arguments; usage: status") }
        return .success(AdminTexts.status(role: system.roleName, hostname: system.hostname, state: system.suspension.state,
                                          startedAt: system.startedAt, counters: await system.counters(),
                                          hosts: await system.hostStatuses(), now: now()))
    }

    public func tophosts(_ args: [String], _ context: CommandContext) async -> ControlResponse {
        let order: AdminTexts.TopHostsOrder
        switch args.count {
        case 0: order = .activeRecipients
        case 1:
            guard let chosen = AdminTexts.TopHostsOrder(rawValue: args[0]) else {
                return .failure("tophosts: \"\(args[0])\" is not a column to sort by; use one of: \(AdminTexts.TopHostsOrder.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            order = chosen
        default: return .failure("tophosts: too many arguments; usage: tophosts [\(AdminTexts.TopHostsOrder.allCases.map(\.rawValue).joined(separator: "|"))]")
        }
        return .success(AdminTexts.tophosts(await system.hostStatuses(), order: order, now: now()))
    }

    public func hoststatus(_ args: [String], _ context: CommandContext) async -> ControlResponse {
        guard args.count == 1 else { return .failure("hoststatus: name one host; usage: hoststatus HOST (tophosts lists them)") }
        let hosts = await system.hostStatuses().filter { $0.name.lowercased() == args[0].lowercased() }
        guard !hosts.isEmpty else { return .failure("No record of host: \(args[0])") }
        return .success(AdminTexts.hoststatus(hosts, now: now()))
    }

    public func showrecipients(_ args: [String], _ context: CommandContext) async -> ControlResponse {
        do {
            let selection = try RecipientSelection(parsing: args, command: "showrecipients", allowEmpty: true)
            let messages = await system.queuedMessages().filter { selection.matches(host: $0.host, sender: $0.sender) }
            return .success(AdminTexts.showrecipients(messages, selection: selection))
        } catch {
            return .failure("\(error)")
        }
    }

    // MARK: Changing

    public func deleterecipients(_ args: [String], _ context: CommandContext) async -> ControlResponse {
        let selection: RecipientSelection
        do {
            selection = try RecipientSelection(parsing: args, command: "deleterecipients", allowEmpty: false)
        } catch {
            return .failure("\(error)")
        }
        let deleted = await system.deleteRecipients(selection)
        let recipients = deleted.reduce(0) { $0 + $1.recipients }
        let messages = deleted.reduce(0) { $0 + $1.messages }
        let detail = deleted.map { "\($0.recipients) recipient(s) of \($0.messages) message(s) on \($0.host)" }.joined(separator: ", ")
        system.logInfo("deleterecipients \(selection) by \(context.who): \(recipients == 0 ? "nothing matched" : detail)")
        var text = recipients == 0
            ? "No recipients matched \(selection); nothing was deleted."
            : "Deleted \(recipients) recipient(s) of \(messages) message(s): \(detail)."
        if recipients > 0, let note = system.deletionNote { text += "\n" + note }
        return .success(text)
    }

    func listenersCommand(_ args: [String], _ context: CommandContext, suspend: Bool) async -> ControlResponse {
        let command = suspend ? "suspendlisteners" : "resumelisteners"
        guard args.count <= 1 else { return .failure("\(command): too many arguments; usage: \(command) [NAME|all]") }
        let all = system.listeners()
        let target = args.first ?? "all"
        if !target.isEmpty, target != "all", let fixed = all.first(where: { $0.name.lowercased() == target.lowercased() && !$0.canSuspend }) {
            return .failure("\(command): the \(fixed.name) listener (\(fixed.kind.rawValue)) cannot be suspended from the CLI; stop the role to close it")
        }
        let names: [String]
        do {
            names = try SuspensionState.select(target, known: all.filter(\.canSuspend).map(\.name), command: command)
        } catch {
            return .failure("\(error)")
        }
        let state = system.suspension.update { state in
            if suspend { state.listeners.formUnion(names) } else { state.listeners.subtract(names) }
        }
        await system.apply(state)
        let list = names.joined(separator: ", ")
        system.logInfo("\(command) \(target) by \(context.who): \(suspend ? "suspended" : "resumed") listener(s) \(list)")
        if suspend {
            return .success("Suspended listener(s): \(list). New connections get 421 4.3.2 until resumelisteners or resume; open sessions finish.")
        }
        let stillRefusing = names.filter(state.isRefusing)
        return .success("Resumed listener(s): \(list)."
            + (stillRefusing.isEmpty ? "" : " The system is suspended: they refuse connections until resume."))
    }

    func systemCommand(_ args: [String], _ context: CommandContext, suspend: Bool) async -> ControlResponse {
        let command = suspend ? "suspend" : "resume"
        guard args.isEmpty else { return .failure("\(command) takes no arguments; usage: \(command)") }
        let state = system.suspension.update { state in
            state.system = suspend
            if !suspend { state.listeners.removeAll() }
        }
        await system.apply(state)
        if suspend {
            system.logInfo("suspend by \(context.who): listeners refuse new connections, delivery paused; the system is Offline")
            return .success("The \(system.roleName) is Offline: listeners refuse new connections (421 4.3.2) and delivery is paused. Mail stays queued; resume brings it back Online.")
        }
        system.logInfo("resume by \(context.who): listeners accept connections, delivery resumed; the system is Online")
        return .success("The \(system.roleName) is Online: listeners accept connections and delivery goes on.")
    }

    public func delivernow(_ args: [String], _ context: CommandContext) async -> ControlResponse {
        guard args.count <= 1 else { return .failure("delivernow: too many arguments; usage: delivernow [HOST|all]") }
        let target = args.first ?? "all"
        let touched = await system.deliverNow(host: target == "all" ? nil : target)
        guard !touched.isEmpty else {
            let names = Set(await system.hostStatuses().map(\.name)).sorted().joined(separator: ", ")
            return .failure("delivernow: no delivery queue called \"\(target)\"; the queues are: \(names) (or all)")
        }
        system.logInfo("delivernow \(target) by \(context.who): retrying \(touched.joined(separator: ", ")) now")
        let paused = system.suspension.state.system ? " (the system is suspended: delivery starts on resume)" : ""
        return .success("Delivery is retried now for: \(touched.joined(separator: ", "))\(paused).")
    }

    // MARK: Configuration and logs

    public func listenerconfig(_ args: [String], _ context: CommandContext) async -> ControlResponse {
        do {
            let json = try Self.jsonFlag(args, command: "listenerconfig")
            let listeners = system.listeners()
            let state = system.suspension.state
            return .success(json ? AdminTexts.listenersJSON(listeners, state: state) : AdminTexts.listenerconfig(listeners, state: state))
        } catch {
            return .failure("\(error)")
        }
    }

    public func interfaceconfig(_ args: [String], _ context: CommandContext) async -> ControlResponse {
        do {
            let json = try Self.jsonFlag(args, command: "interfaceconfig")
            let interfaces = system.interfaces()
            let listeners = system.listeners()
            return .success(json ? AdminTexts.interfacesJSON(interfaces, listeners: listeners)
                                 : AdminTexts.interfaceconfig(interfaces, listeners: listeners))
        } catch {
            return .failure("\(error)")
        }
    }

    public func version(_ args: [String], _ context: CommandContext) async -> ControlResponse {
        guard args.isEmpty else { return .failure("version takes no arguments") }
        return .success("Lazaret \(LazaretVersion.current)\nRole: \(system.roleName) (\(system.hostname))")
    }

    public func tail(_ args: [String], _ context: CommandContext) async -> ControlResponse {
        guard let first = args.first, first == "mail_logs", args.count <= 2 else {
            return .failure("tail: usage: tail mail_logs [N] (mail_logs is the only log here)")
        }
        var count = MailLogReader.defaultTailLines
        if args.count == 2 {
            guard let number = Int(args[1]), (1...MailLogReader.maxLines).contains(number) else {
                return .failure("tail: \"\(args[1])\" is not a number of lines from 1 to \(MailLogReader.maxLines)")
            }
            count = number
        }
        do {
            let lines = try MailLogReader(path: system.mailLogPath).tail(count)
            return .success(lines.isEmpty ? "mail_logs is empty" : lines.joined(separator: "\n"))
        } catch {
            return .failure("\(error)")
        }
    }

    public func grep(_ args: [String], _ context: CommandContext) async -> ControlResponse {
        do {
            let arguments = try CommandArguments(args, options: ["limit"])
            let words = arguments.positional
            guard words.count == 2, words[1] == "mail_logs", !words[0].isEmpty else {
                throw CommandArgumentError("grep: usage: grep PATTERN mail_logs [--limit N] (quote a PATTERN with spaces)")
            }
            let limit = try arguments.integer("limit", in: 1...MailLogReader.maxLines) ?? MailLogReader.maxLines
            let (lines, truncated) = try MailLogReader(path: system.mailLogPath).grep(words[0], limit: limit)
            guard !lines.isEmpty else { return .success("no line of mail_logs matches \"\(words[0])\"") }
            return .success(lines.joined(separator: "\n")
                + (truncated ? "\n(only the last \(limit) matching lines are shown; narrow the pattern)" : ""))
        } catch {
            return .failure("\(error)")
        }
    }

    static func jsonFlag(_ args: [String], command: String) throws -> Bool {
        switch args {
        case []: return false
        case ["--json"]: return true
        default: throw CommandArgumentError("\(command): unexpected \"\(args.joined(separator: " "))\"; usage: \(command) [--json]")
        }
    }
}
