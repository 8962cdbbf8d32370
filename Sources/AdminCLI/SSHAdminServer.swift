import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSH

/// The admin CLI over SSH (swift-nio-ssh): `ssh -p 2222 alice@gateway status` runs one
/// command (exec request: output on stdout, errors on stderr, exit status 0 or 1);
/// `ssh -p 2222 alice@gateway` opens an interactive session with a prompt, line editing,
/// history, `help` and `[y/N]` confirmations. Users log in by public key or bcrypt password
/// (`SSHUser`); their role limits the commands (`CommandTable.handle(_:context:)`).
///
/// Logs each login, each failed login with its reason, and each command with its user,
/// role and outcome through `log`.
public final class SSHAdminServer: Sendable {
    /// The port it listens on (the one chosen by the system when started with port 0).
    public let port: Int
    /// The host key clients see: `hostKey.fingerprint`, `hostKey.publicKeyLine`.
    public let hostKey: SSHHostKey
    private let channel: any Channel
    private let connections: NIOLockedValueBox<[ObjectIdentifier: any Channel]>

    private init(port: Int, hostKey: SSHHostKey, channel: any Channel,
                 connections: NIOLockedValueBox<[ObjectIdentifier: any Channel]>) {
        self.port = port
        self.hostKey = hostKey
        self.channel = channel
        self.connections = connections
    }

    /// Listens on `host:port` (0: any free port) and serves `commands`.
    ///
    /// - Parameters:
    ///   - roleName: the role in the prompt (`lazaret gateway> `).
    ///   - log: one line per login, failed login and command.
    /// - Throws: `SSHError` `.configuration` for a bad user, `.bind` when the address
    ///   cannot be used.
    public static func start(host: String, port: Int, hostKey: SSHHostKey, users: [SSHUser], roleName: String,
                             commands: CommandTable,
                             group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                             log: @escaping @Sendable (String) -> Void) async throws -> SSHAdminServer {
        let directory = try SSHUserDirectory(users)
        let nioHostKey = hostKey.nioKey
        let connections = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { connection in
                    let id = ObjectIdentifier(connection)
                    connections.withLockedValue { $0[id] = connection }
                    connection.closeFuture.whenComplete { _ in _ = connections.withLockedValue { $0.removeValue(forKey: id) } }
                    let login = SSHLogin(remote: connection.remoteAddress?.ipAddress ?? "unknown")
                    let authenticator = SSHUserAuthenticator(directory: directory, login: login, log: log)
                    return connection.eventLoop.makeCompletedFuture {
                        let ssh = NIOSSHHandler(
                            role: .server(.init(hostKeys: [nioHostKey], userAuthDelegate: authenticator)),
                            allocator: connection.allocator,
                            inboundChildChannelInitializer: { session, type in
                                guard case .session = type, let user = login.current else {
                                    return session.eventLoop.makeFailedFuture(SSHError(.authenticationRefused, "no session before login"))
                                }
                                return session.eventLoop.makeCompletedFuture {
                                    try session.pipeline.syncOperations.addHandler(
                                        SSHSessionHandler(table: commands, user: user, roleName: roleName, log: log))
                                }
                            })
                        try connection.pipeline.syncOperations.addHandler(ssh)
                        try connection.pipeline.syncOperations.addHandler(SSHConnectionErrorHandler())
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            throw SSHError(.bind, "SSH: cannot listen on \(host):\(port) (\(error)); set ssh.listen and ssh.port to a free address, or stop what uses it")
        }
        let boundPort = channel.localAddress?.port ?? port
        return SSHAdminServer(port: boundPort, hostKey: hostKey, channel: channel, connections: connections)
    }

    /// Stops listening and closes every open SSH connection.
    public func close() async {
        try? await channel.close()
        let open = connections.withLockedValue { Array($0.values) }
        for connection in open { try? await connection.close() }
    }
}

/// Closes an SSH connection on a protocol error (bad packet, failed key exchange, too
/// many login attempts) instead of leaving it open.
final class SSHConnectionErrorHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = Any

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
