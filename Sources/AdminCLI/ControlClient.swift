import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Who is expected on a control socket, for the error when nothing answers there.
public struct ControlPeer: Hashable, Sendable {
    /// The role, e.g. `manager`.
    public var name: String
    /// How to start it, e.g. `start it with lazaret up or lazaret manager --config FILE`.
    public var startHint: String

    public init(name: String, startHint: String) {
        self.name = name
        self.startHint = startHint
    }

    /// The manager role (`DIR/manager/control.sock`).
    public static let manager = ControlPeer(name: "manager",
                                            startHint: "start it with lazaret up or lazaret manager --config FILE")
}

/// Sends one command to a running role over its control socket.
public enum ControlClient {
    /// How long to wait for the answer (2 minutes: a command may wait on the store).
    public static let defaultTimeout: TimeAmount = .minutes(2)

    /// Sends `args` to the server on `socketPath` and returns its answer.
    ///
    /// - Throws: `ControlError` `.notRunning` when nothing answers there (the message says
    ///   how to start `peer`), `.socketPath` when the socket cannot be used (permissions),
    ///   `.timedOut`, `.malformedResponse`, `.io`.
    public static func send(_ args: [String], socketPath: String, peer: ControlPeer = .manager,
                            timeout: TimeAmount = defaultTimeout,
                            group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> ControlResponse {
        let promise = group.next().makePromise(of: [UInt8].self)
        let answer = promise.futureResult
        let channel: any Channel
        do {
            channel = try await connect(socketPath: socketPath, peer: peer, group: group) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ControlResponseCollector(promise: promise, limit: ControlWire.maxResponseBytes))
                }
            }
        } catch {
            promise.fail(error)
            throw error
        }
        let timedOut = NIOLockedValueBox(false)
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            timedOut.withLockedValue { $0 = true }
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        let request = channel.allocator.buffer(bytes: ControlWire.encodeLine(ControlRequest(args: args)))
        do {
            try await channel.writeAndFlush(request).get()
            let bytes = try await answer.get()
            if timedOut.withLockedValue({ $0 }) {
                throw ControlError(.timedOut, "no answer on \(socketPath) within \(timeout.nanoseconds / 1_000_000_000) s: the \(peer.name) may be overloaded or stuck; look at its log")
            }
            return try ControlWire.decodeResponse(bytes)
        } catch let error as ControlError {
            channel.close(promise: nil)
            throw error
        } catch {
            channel.close(promise: nil)
            throw ControlError(.io, "the connection to \(socketPath) failed (\(error)); try again, or look at the \(peer.name)'s log")
        }
    }

    /// True when a live process accepts connections on `socketPath`.
    public static func isAnswering(socketPath: String,
                                   group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async -> Bool {
        guard let channel = try? await connect(socketPath: socketPath, peer: .manager, group: group) else { return false }
        try? await channel.close()
        return true
    }

    private static func connect(socketPath: String, peer: ControlPeer, group: any EventLoopGroup,
                                initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void> = { $0.eventLoop.makeSucceededVoidFuture() })
        async throws -> any Channel
    {
        do {
            return try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(5))
                .channelInitializer(initializer)
                .connect(unixDomainSocketPath: socketPath).get()
        } catch {
            switch errnoCode(of: error) {
            case ENOENT?, ECONNREFUSED?, ENOTDIR?:
                throw ControlError(.notRunning, "no running \(peer.name) answers on \(socketPath): \(peer.startHint)")
            case EACCES?, EPERM?:
                throw ControlError(.socketPath, "permission denied on \(socketPath): run this as the user that runs the \(peer.name) (the socket is mode 0600)")
            default:
                if case SocketAddressError.unixDomainSocketPathTooLong? = error as? SocketAddressError {
                    throw ControlError(.socketPath, "\(socketPath) is too long for a unix socket path (at most 107 bytes): use a shorter --home or --socket")
                }
                throw ControlError(.notRunning, "cannot connect to \(socketPath) (\(error)): is the \(peer.name) running? \(peer.startHint)")
            }
        }
    }

    private static func errnoCode(of error: any Error) -> Int32? {
        if let error = error as? IOError { return error.errnoCode }
        if let error = error as? NIOConnectionError { return error.connectionErrors.lazy.compactMap { errnoCode(of: $0.error) }.first }
        return nil
    }
}

/// Collects the server's answer until it closes the connection.
final class ControlResponseCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let promise: EventLoopPromise<[UInt8]>
    private let limit: Int
    private var bytes: [UInt8] = []
    private var finished = false

    init(promise: EventLoopPromise<[UInt8]>, limit: Int) {
        self.promise = promise
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        bytes.append(contentsOf: unwrapInboundIn(data).readableBytesView)
        if bytes.count > limit {
            finish(.failure(ControlError(.malformedResponse, "the answer is over \(limit) bytes; ask for less (e.g. --limit)")))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.success(bytes))
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish(.success(bytes))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.close(promise: nil)
    }

    private func finish(_ result: Result<[UInt8], any Error>) {
        guard !finished else { return }
        finished = true
        promise.completeWith(result)
    }
}

extension ControlPeer {
    /// The gateway role (`DIR/control.sock` under `lazaret up`).
    public static let gateway = ControlPeer(name: "gateway",
                                            startHint: "start it with lazaret up or lazaret gateway --config FILE")
}
