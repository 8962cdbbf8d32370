import Foundation
import NIOCore
import NIOPosix

/// The local control channel of a running role: a unix-domain socket (mode 0600) on which
/// each connection carries one `ControlRequest` line and gets one `ControlResponse` line,
/// then the server closes it. `lazaret cli` and `lazaret manager audit ...` talk to it.
///
/// Only the owner of the process (and root) can connect: the file mode is the access control.
public final class ControlServer: Sendable {
    /// Runs one command: the words of the request in, the answer out. Called concurrently.
    public typealias Handler = @Sendable ([String]) async -> ControlResponse

    /// How long a client has to send its whole request line (10 s).
    public static let defaultReadTimeout: TimeAmount = .seconds(10)

    /// The socket's path.
    public let socketPath: String
    private let channel: any Channel
    /// Device and inode of the socket file this server made: `close()` removes only that one.
    private let identity: FileIdentity?

    private init(socketPath: String, channel: any Channel) {
        self.socketPath = socketPath
        self.channel = channel
        self.identity = FileIdentity(path: socketPath)
    }

    /// Binds `socketPath` (its directory is made if needed) and serves `handler` on it.
    ///
    /// A socket file left over by a process that is gone is replaced.
    ///
    /// - Throws: `ControlError` `.inUse` when a live process answers on `socketPath`,
    ///   `.socketPath` when the path is too long for a unix socket, is not a socket, or
    ///   cannot be bound.
    public static func start(socketPath: String, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                             readTimeout: TimeAmount = defaultReadTimeout,
                             maxRequestBytes: Int = ControlWire.maxRequestBytes,
                             handler: @escaping Handler) async throws -> ControlServer {
        do {
            _ = try SocketAddress(unixDomainSocketPath: socketPath)
        } catch {
            throw ControlError(.socketPath, "control socket \(socketPath): the path is \(socketPath.utf8.count) bytes, too long for a unix socket (at most 107): set control_socket to a shorter path")
        }
        let directory = (socketPath as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                     attributes: [.posixPermissions: 0o700])
        }
        if let kind = FileIdentity.kind(of: socketPath) {
            guard kind == .socket else {
                throw ControlError(.socketPath, "control socket \(socketPath): a file that is not a socket is in the way; remove it or set control_socket to another path")
            }
            if await ControlClient.isAnswering(socketPath: socketPath, group: group) {
                throw ControlError(.inUse, "control socket \(socketPath): another running process answers on it (is a gateway or manager already running with this home?); stop it, or set control_socket to another path")
            }
        }
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { child in
                    child.eventLoop.makeCompletedFuture {
                        try child.pipeline.syncOperations.addHandler(
                            ControlConnectionHandler(handler: handler, readTimeout: readTimeout, maxRequestBytes: maxRequestBytes))
                    }
                }
                .bind(unixDomainSocketPath: socketPath, cleanupExistingSocketFile: true).get()
        } catch {
            throw ControlError(.socketPath, "control socket \(socketPath): cannot bind it (\(error)); check the directory exists and is writable, or set control_socket to another path")
        }
        guard chmod(socketPath, 0o600) == 0 else {
            let reason = String(cString: strerror(errno))
            try? await channel.close()
            throw ControlError(.socketPath, "control socket \(socketPath): cannot make it mode 0600 (\(reason))")
        }
        return ControlServer(socketPath: socketPath, channel: channel)
    }

    /// Stops accepting connections and removes the socket file (if it is still the one
    /// this server made). Requests already being answered finish on their own.
    public func close() async {
        try? await channel.close()
        if let identity, FileIdentity(path: socketPath) == identity {
            unlink(socketPath)
        }
    }
}

/// Which file a path names (device and inode), to tell our socket file from a newer one.
struct FileIdentity: Equatable {
    enum Kind { case socket, other }

    let device: UInt64
    let inode: UInt64

    init?(path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    /// What is at `path`, or nil when nothing is.
    static func kind(of path: String) -> Kind? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return info.st_mode & S_IFMT == S_IFSOCK ? .socket : .other
    }
}
