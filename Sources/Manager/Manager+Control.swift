import AdminCLI
import MailLog
import QuarantineStore

extension Manager {
    /// The commands the manager's control socket answers (today `quarantine ...` and `audit ...`).
    public static func controlCommands(store: QuarantineStore,
                                       onReleased: @escaping @Sendable (ReleaseRequest) async -> Void,
                                       log: MailLog) -> CommandTable {
        CommandTable(QuarantineCommands(store: store, onReleased: onReleased, mailLog: { log.info($0) }).commands
                     + AuditCommands(store: store).commands)
    }

    /// Starts the control socket (`control_socket`, default `HOME/control.sock`) that
    /// `lazaret quarantine ...` talks to, serving `controlCommands`. Close it before the store.
    ///
    /// - Throws: `ControlError` when another manager answers on the socket or the path
    ///   cannot be bound; the message names the path.
    public static func startControl(configuration: ManagerConfiguration, store: QuarantineStore,
                                    onReleased: @escaping @Sendable (ReleaseRequest) async -> Void,
                                    log: MailLog) async throws -> ControlServer {
        let table = controlCommands(store: store, onReleased: onReleased, log: log)
        let server = try await ControlServer.start(socketPath: configuration.resolve(configuration.controlSocket)) { args in
            await table.handle(args)
        }
        log.info("Control socket \(server.socketPath) ready")
        return server
    }
}
