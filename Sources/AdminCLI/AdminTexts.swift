import Foundation

/// The texts of the mail commands, in the tabular form admins of mail appliances know.
/// Pure functions of snapshots: no I/O.
public enum AdminTexts {
    /// The columns `tophosts` sorts by (largest first).
    public enum TopHostsOrder: String, CaseIterable, Sendable {
        case activeRecipients = "active_rcpts"
        case deliveredRecipients = "deliv_rcpts"
        case softBounced = "soft_bounced"
        case hardBounced = "hard_bounced"
        case connectionsOut = "conn_out"

        func value(_ host: HostQueueStatus) -> Int {
            switch self {
            case .activeRecipients: host.activeRecipients
            case .deliveredRecipients: host.deliveredRecipients
            case .softBounced: host.softBouncedRecipients
            case .hardBounced: host.hardBouncedRecipients
            case .connectionsOut: host.connectionsOut
            }
        }
    }

    /// `2026-12-07 08:01:02 UTC`
    public static func timestamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss 'UTC'"
        return formatter.string(from: date)
    }

    /// `1d 2h 3m 4s`, `5m 0s`, `12s`.
    public static func duration(_ seconds: Double) -> String {
        var rest = max(0, Int(seconds))
        let days = rest / 86_400; rest %= 86_400
        let hours = rest / 3600; rest %= 3600
        let minutes = rest / 60; rest %= 60
        if days > 0 { return "\(days)d \(hours)h \(minutes)m \(rest)s" }
        if hours > 0 { return "\(hours)h \(minutes)m \(rest)s" }
        if minutes > 0 { return "\(minutes)m \(rest)s" }
        return "\(rest)s"
    }

    /// `status`
    public static func status(role: String, hostname: String, state: SuspensionState, startedAt: Date,
                              counters: [StatusCounter], hosts: [HostQueueStatus], now: Date) -> String {
        var lines = [
            "Status as of:                  \(timestamp(now))",
            "Role:                          \(role) (\(hostname))",
            "Up since:                      \(timestamp(startedAt)) (\(duration(now.timeIntervalSince(startedAt))))",
            "System status:                 " + (state.isOnline ? "Online" : "Offline (suspended by the administrator: resume brings it back)"),
        ]
        if state.isOnline, !state.listeners.isEmpty {
            lines.append("Listeners suspended:           \(state.listeners.sorted().joined(separator: ", "))")
        }
        lines.append("")
        lines.append("Counters (since start)")
        for counter in counters {
            lines.append("  " + pad(counter.name, 28) + "\(counter.value)")
        }
        lines.append("")
        lines.append("Gauges")
        lines.append("  " + pad("Active recipients", 28) + "\(hosts.reduce(0) { $0 + $1.activeRecipients })")
        lines.append("  " + pad("Messages in queues", 28) + "\(hosts.reduce(0) { $0 + $1.activeMessages })")
        lines.append("  " + pad("Connections out", 28) + "\(hosts.reduce(0) { $0 + $1.connectionsOut })")
        let oldest = hosts.compactMap(\.oldest).min()
        lines.append("  " + pad("Oldest message", 28) + (oldest.map { "\(timestamp($0)) (\(duration(now.timeIntervalSince($0))) ago)" } ?? "none queued"))
        lines.append("")
        lines.append("Queues")
        var table = TextTable(["Queue", "Address", "Active Recip.", "Messages", "State"], maxCellWidth: 60)
        for host in hosts {
            table.append([host.name + (host.note.map { " (\($0))" } ?? ""), host.address, "\(host.activeRecipients)",
                          "\(host.activeMessages)", stateWord(host)])
        }
        lines.append(contentsOf: table.render().split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 })
        return lines.joined(separator: "\n")
    }

    /// `tophosts`: one row per queue, largest `order` first; `*` before a host that is down.
    public static func tophosts(_ hosts: [HostQueueStatus], order: TopHostsOrder, now: Date) -> String {
        let sorted = hosts.enumerated().sorted { a, b in
            let (x, y) = (order.value(a.element), order.value(b.element))
            return x != y ? x > y : (a.element.name, a.offset) < (b.element.name, b.offset)
        }.map(\.element)
        var table = TextTable(["#", "Recipient Host", "Active Recip.", "Conn. Out", "Deliv. Recip.", "Soft Bounced", "Hard Bounced"], maxCellWidth: 60)
        for (index, host) in sorted.enumerated() {
            let name = (host.isDown ? "*" : " ") + host.name + (host.note.map { " (\($0))" } ?? "")
            table.append(["\(index + 1)", name, "\(host.activeRecipients)", "\(host.connectionsOut)", "\(host.deliveredRecipients)",
                          "\(host.softBouncedRecipients)", "\(host.hardBouncedRecipients)"])
        }
        return "Status as of: \(timestamp(now))\nSorted by \(order.rawValue). Hosts marked with '*' were down as of the last delivery attempt.\n\n"
            + table.render()
    }

    /// `hoststatus HOST`: one block per queue of that name (the manager has one release
    /// queue per gateway).
    public static func hoststatus(_ hosts: [HostQueueStatus], now: Date) -> String {
        hosts.map { host in
            var lines = [
                "Host mail status for: '\(host.name)'" + (host.note.map { " (\($0))" } ?? ""),
                "Status as of:         \(timestamp(now))",
                "Address:              \(host.address)",
                "Host up/down:         \(host.isDown ? "down" : "up")",
                "Delivery:             \(host.isPaused ? "paused (suspend)" : "running")",
                "",
                "Counters:",
                "  " + pad("Delivered Recipients", 26) + "\(host.deliveredRecipients)",
                "  " + pad("Soft Bounced Events", 26) + "\(host.softBouncedRecipients)",
                "  " + pad("Hard Bounced Recipients", 26) + "\(host.hardBouncedRecipients)",
                "Gauges:",
                "  " + pad("Active Recipients", 26) + "\(host.activeRecipients)",
                "  " + pad("Active Messages", 26) + "\(host.activeMessages)",
                "  " + pad("Outgoing Connections", 26) + "\(host.connectionsOut)",
            ]
            lines.append("  " + pad("Oldest Message", 26) + (host.oldest.map { "\(timestamp($0)) (\(duration(now.timeIntervalSince($0))) ago)" } ?? "none"))
            return lines.joined(separator: "\n")
        }.joined(separator: "\n\n")
    }

    /// Most messages `showrecipients` lists.
    public static let maxListedMessages = 1000

    /// `showrecipients`: one row per message, oldest first.
    public static func showrecipients(_ messages: [QueuedMessageInfo], selection: RecipientSelection) -> String {
        guard !messages.isEmpty else { return "No recipients queued for \(selection)." }
        let sorted = messages.sorted { ($0.received, $0.mid) < ($1.received, $1.mid) }
        var table = TextTable(["MID", "Bytes", "Received", "Host", "Sender", "Recipients"], maxCellWidth: 70)
        for message in sorted.prefix(maxListedMessages) {
            table.append(["\(message.mid)", "\(message.size)", timestamp(message.received),
                          message.host + (message.note.map { " (\($0))" } ?? ""),
                          message.sender.isEmpty ? "<>" : TextTable.printable(message.sender),
                          TextTable.printable(message.recipients.joined(separator: ", "))])
        }
        let recipients = messages.reduce(0) { $0 + $1.recipients.count }
        var text = table.render() + "\n\(messages.count) message(s), \(recipients) recipient(s) queued for \(selection)"
        if messages.count > maxListedMessages { text += " (the oldest \(maxListedMessages) messages are shown)" }
        return text
    }

    /// `listenerconfig`
    public static func listenerconfig(_ listeners: [ListenerInfo], state: SuspensionState) -> String {
        guard !listeners.isEmpty else { return "No listeners are configured." }
        return "Currently configured listeners:\n" + listeners.enumerated().map { index, listener in
            var lines = ["\(index + 1). \(listener.name) (on \(listener.interface), \(listener.address)) \(listener.kind.rawValue.uppercased()) port \(listener.port) \(listener.type)"
                + (listener.maxConnections.map { ", max \($0) connections" } ?? "")
                + (state.isRefusing(listener.name) && listener.canSuspend ? " [suspended]" : "")]
            if let hat = listener.hat {
                lines.append("   HAT:")
                lines.append(contentsOf: indented(hat, by: 5))
            }
            if let rat = listener.rat {
                lines.append("   RAT:")
                lines.append(contentsOf: indented(rat, by: 5))
            }
            return lines.joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// `interfaceconfig`
    public static func interfaceconfig(_ interfaces: [InterfaceInfo], listeners: [ListenerInfo]) -> String {
        var table = TextTable(["#", "Interface", "Address", "Ports"], maxCellWidth: 100)
        for (index, interface) in interfaces.enumerated() {
            let ports = listeners.filter { $0.interface == interface.name }
                .map { "\($0.port) (\($0.name), \($0.kind.rawValue))" }.joined(separator: ", ")
            table.append(["\(index + 1)", interface.name, interface.address, ports.isEmpty ? "-" : ports])
        }
        return "Currently configured interfaces:\n" + table.render()
    }

    /// `listenerconfig --json`: `{"listeners":[{"name":…,"kind":"smtp","interface":…,"address":…,"port":…,…}]}`.
    public static func listenersJSON(_ listeners: [ListenerInfo], state: SuspensionState) -> String {
        struct Entry: Encodable {
            var name, kind, interface, address, type: String
            var port: Int
            var max_connections: Int?
            var suspended: Bool
            var hat, rat: String?
        }
        let entries = listeners.map {
            Entry(name: $0.name, kind: $0.kind.rawValue, interface: $0.interface, address: $0.address, type: $0.type, port: $0.port,
                  max_connections: $0.maxConnections, suspended: $0.canSuspend && state.isRefusing($0.name), hat: $0.hat, rat: $0.rat)
        }
        return json(["listeners": entries])
    }

    /// `interfaceconfig --json`: `{"interfaces":[{"name","address"}],"listeners":[{"name","kind","interface","address","port"}]}`
    /// — what the manager reads over SSH to find a gateway's cpq_listener.
    public static func interfacesJSON(_ interfaces: [InterfaceInfo], listeners: [ListenerInfo]) -> String {
        struct Listener: Encodable { var name, kind, interface, address: String; var port: Int }
        struct Document: Encodable { var interfaces: [InterfaceInfo]; var listeners: [Listener] }
        return json(Document(interfaces: interfaces, listeners: listeners.map {
            Listener(name: $0.name, kind: $0.kind.rawValue, interface: $0.interface, address: $0.address, port: $0.port)
        }))
    }

    private static func json<Value: Encodable>(_ value: Value) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    private static func stateWord(_ host: HostQueueStatus) -> String {
        [host.isDown ? "down" : "up", host.isPaused ? "paused" : nil].compactMap { $0 }.joined(separator: ", ")
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    private static func indented(_ text: String, by spaces: Int) -> [String] {
        let prefix = String(repeating: " ", count: spaces)
        return text.split(separator: "\n", omittingEmptySubsequences: true).map { prefix + TextTable.printable(String($0)) }
    }
}
