import AdminCLI
import MailLog
import QuarantineStore

extension Manager {
    /// The commands the manager's control socket answers (today `audit ...`; quarantined
    /// mail is handled over the API, which `lazaret quarantine ...` uses).
    public static func controlCommands(store: QuarantineStore) -> CommandTable {
        CommandTable(AuditCommands(store: store).commands)
    }

    /// Starts the control socket (`control_socket`, default `HOME/control.sock`), serving
    /// `controlCommands`. Close it before the store.
    ///
    /// - Throws: `ControlError` when another manager answers on the socket or the path
    ///   cannot be bound; the message names the path.
    public static func startControl(configuration: ManagerConfiguration, store: QuarantineStore,
                                    log: MailLog) async throws -> ControlServer {
        let table = controlCommands(store: store)
        let server = try await ControlServer.start(socketPath: configuration.resolve(configuration.controlSocket)) { args in
            await table.handle(args)
        }
        log.info("Control socket \(server.socketPath) ready")
        return server
    }
}
