import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import X509

@testable import CPQTLS

/// A fresh directory under the temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init(_ label: String = "cpqtls") {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)").path
    }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// What the server side of one TLS connection saw.
enum ServerOutcome: Equatable {
    /// The handshake finished; the verified client's common name.
    case accepted(String?)
    /// The handshake failed: the mail_logs text.
    case refused(String)
}

/// What the client side saw.
enum ClientOutcome: Equatable {
    /// Our "ping" came back through TLS.
    case echoed(serverName: String?)
    /// The handshake or the echo failed: the mail_logs text.
    case failed(String)
}

/// A TLS echo server on 127.0.0.1 with an ephemeral port. It records the
/// outcome of the first connection.
final class EchoServer: Sendable {
    let channel: Channel
    let firstOutcome: EventLoopFuture<ServerOutcome>

    var port: Int { channel.localAddress!.port! }

    /// `addTLS` puts the TLS handler into a new connection's pipeline.
    /// With `closeAfterEcho`, the server closes a connection once it has echoed a line.
    static func start(closeAfterEcho: Bool = false,
                      _ addTLS: @escaping @Sendable (Channel, CPQPeerVerification) throws -> Void) async throws -> EchoServer {
        let group = MultiThreadedEventLoopGroup.singleton
        let promise = group.next().makePromise(of: ServerOutcome.self)
        let claimed = NIOLockedValueBox(false)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let first = claimed.withLockedValue { taken in
                    defer { taken = true }
                    return !taken
                }
                let verification = CPQPeerVerification(role: .server)
                return channel.eventLoop.makeCompletedFuture {
                    try addTLS(channel, verification)
                    try channel.pipeline.syncOperations.addHandler(
                        ServerProbe(verification: verification, promise: first ? promise : nil, closeAfterEcho: closeAfterEcho))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return EchoServer(channel: channel, firstOutcome: promise.futureResult)
    }

    private init(channel: Channel, firstOutcome: EventLoopFuture<ServerOutcome>) {
        self.channel = channel
        self.firstOutcome = firstOutcome
    }

    func outcome() async throws -> ServerOutcome {
        try await firstOutcome.get()
    }

    func stop() async {
        try? await channel.close()
    }
}

final class ServerProbe: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let verification: CPQPeerVerification
    let closeAfterEcho: Bool
    var promise: EventLoopPromise<ServerOutcome>?

    init(verification: CPQPeerVerification, promise: EventLoopPromise<ServerOutcome>?, closeAfterEcho: Bool) {
        self.verification = verification
        self.promise = promise
        self.closeAfterEcho = closeAfterEcho
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            finish(.accepted(verification.peer?.commonName))
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let endsLine = buffer.readableBytesView.last == UInt8(ascii: "\n")
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        if closeAfterEcho && endsLine { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        finish(.refused(verification.failure(for: error).description))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.refused("closed without a handshake"))
        context.fireChannelInactive()
    }

    private func finish(_ outcome: ServerOutcome) {
        promise?.succeed(outcome)
        promise = nil
    }
}

final class ClientProbe: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let verification: CPQPeerVerification
    var promise: EventLoopPromise<ClientOutcome>?
    var received = ""
    var timeout: Scheduled<Void>?

    init(verification: CPQPeerVerification, promise: EventLoopPromise<ClientOutcome>) {
        self.verification = verification
        self.promise = promise
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Only so that a broken test ends; no test asserts on time.
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(in: .seconds(180)) {
            let (probe, context) = loopBound.value
            probe.finish(.failed("test timeout"))
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "ping\n")), promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += String(buffer: unwrapInboundIn(data))
        if received == "ping\n" {
            finish(.echoed(serverName: verification.peer?.commonName))
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        finish(.failed(verification.failure(for: error).description))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failed("closed"))
        context.fireChannelInactive()
    }

    private func finish(_ outcome: ClientOutcome) {
        timeout?.cancel()
        promise?.succeed(outcome)
        promise = nil
    }
}

/// Connects to `port`, handshakes with the TLS handler `addTLS` puts into the
/// pipeline, sends "ping" and waits for it to come back.
func connect(port: Int, _ addTLS: @escaping @Sendable (Channel, CPQPeerVerification) throws -> Void) async throws -> ClientOutcome {
    let group = MultiThreadedEventLoopGroup.singleton
    let promise = group.next().makePromise(of: ClientOutcome.self)
    let verification = CPQPeerVerification(role: .client)
    let channel = try await ClientBootstrap(group: group)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try addTLS(channel, verification)
                try channel.pipeline.syncOperations.addHandler(ClientProbe(verification: verification, promise: promise))
            }
        }
        .connect(host: "127.0.0.1", port: port).get()
    let outcome = try await promise.futureResult.get()
    try? await channel.close()
    return outcome
}

/// One handshake between a server and a client made from CPQ contexts.
func handshake(server: CPQServerTLS, client: CPQClientTLS) async throws -> (server: ServerOutcome, client: ClientOutcome) {
    let echo = try await EchoServer.start { channel, verification in
        try channel.pipeline.syncOperations.addHandler(server.makeHandler(verification: verification))
    }
    let clientOutcome: ClientOutcome
    do {
        clientOutcome = try await connect(port: echo.port) { channel, verification in
            try channel.pipeline.syncOperations.addHandler(try client.makeHandler(serverHostname: "127.0.0.1", verification: verification))
        }
    } catch {
        await echo.stop()
        throw error
    }
    let serverOutcome = try await echo.outcome()
    await echo.stop()
    return (serverOutcome, clientOutcome)
}

/// Runs a command to the end; stdout and stderr together.
struct CommandResult {
    var status: Int32
    var output: String
}

func run(_ arguments: [String], input: String? = nil) async throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    let inputPipe = Pipe()
    process.standardInput = inputPipe
    try process.run()
    // Only so that a broken test ends; no test asserts on time.
    DispatchQueue.global().asyncAfter(deadline: .now() + 60) { [process] in
        if process.isRunning { process.terminate() }
    }
    if let input { inputPipe.fileHandleForWriting.write(Data(input.utf8)) }
    try? inputPipe.fileHandleForWriting.close()
    // Read before waiting, so a full pipe cannot block the child; on a thread of its own,
    // not a Swift concurrency thread, which the in-process server under test needs.
    let data = await withCheckedContinuation { (continuation: CheckedContinuation<Data, Never>) in
        Thread.detachNewThread {
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            continuation.resume(returning: data)
        }
    }
    return CommandResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
}
