import NIOCore
import NIOPosix

extension SSHAdminServer {
    /// The user a manager logs in as on its gateways (read-only, by the key the manager
    /// sent in the join bundle).
    public static let managerUserName = "lazaret-manager"

    /// Starts a role's SSH admin server from its `ssh:` section, or returns nil when the
    /// section says `enabled: false`. The host key is read from `ssh.host_key` (under
    /// `home`) or made there on the first start; `extraUsers` (the manager's key on a
    /// gateway) are added unless the configuration has a user of that name.
    ///
    /// - Throws: `SSHError` when the host key cannot be read or made, or the address is in use.
    public static func start(role roleName: String, configuration: SSHConfiguration, home: String, defaultPort: Int,
                             extraUsers: [SSHUser] = [], commands: CommandTable,
                             group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                             log: @escaping @Sendable (String) -> Void) async throws -> SSHAdminServer? {
        guard configuration.enabled else { return nil }
        let hostKey = try SSHHostKey.loadOrCreate(path: configuration.hostKeyPath(home: home))
        let names = Set(configuration.users.map(\.name))
        let users = configuration.users + extraUsers.filter { !names.contains($0.name) }
        let server = try await start(host: configuration.listen, port: configuration.port(roleDefault: defaultPort), hostKey: hostKey,
                                     users: users, roleName: roleName, commands: commands, group: group, log: log)
        log("SSH admin CLI listening on \(configuration.listen) port \(server.port), host key \(hostKey.fingerprint), \(users.count) user(s)")
        return server
    }
}
