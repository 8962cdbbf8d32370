import AdminCLI
import MailLog
import QuarantineStore

extension Manager {
    /// The commands the manager's control socket answers: `audit ...` (quarantined mail is
    /// handled over the API, which `lazaret quarantine ...` uses).
    public static func controlCommands(store: QuarantineStore) -> CommandTable {
        CommandTable(AuditCommands(store: store).commands)
    }

    /// `audit ...`, the mail commands over the release queue and listeners (`status`,
    /// `tophosts`, `showrecipients`, `suspend`..., docs/ADMIN-CLI.md) and `quarantineconfig`.
    static func controlCommands(store: QuarantineStore, admin: ManagerAdmin) -> CommandTable {
        var table = controlCommands(store: store)
        for command in MailAdminCommands(system: admin).commands { table.add(command) }
        table.add(ControlCommand(["quarantineconfig"],
                                 summary: "the quarantines: retention, default action, free up space, messages held; and the store's usage",
                                 run: admin.quarantineconfig))
        return table
    }

    /// Starts the control socket (`control_socket`, default `HOME/control.sock`), serving
    /// `table` (`controlCommands`). Close it before the store.
    ///
    /// - Throws: `ControlError` when another manager answers on the socket or the path
    ///   cannot be bound; the message names the path.
    static func startControl(configuration: ManagerConfiguration, table: CommandTable,
                             log: MailLog) async throws -> ControlServer {
        let server = try await ControlServer.start(socketPath: configuration.resolve(configuration.controlSocket)) { args in
            await table.handle(args)
        }
        log.info("Control socket \(server.socketPath) ready")
        return server
    }
}
