import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Testing

/// A next hop that answers from a script, for client tests: it can misbehave
/// in ways our own server never does (354 for nobody, plaintext injected after
/// STARTTLS, silence). Listens on 127.0.0.1, an ephemeral port; records every
/// line it reads (`<data N lines>` for a message); `close()` stops it and
/// drops its connections.
final class ScriptedSMTPPeer: Sendable {
    struct Script: Sendable {
        /// nil: never greet.
        var greeting: String? = "220 peer.test ESMTP\r\n"
        var ehlo = "250-peer.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n"
        /// The EHLO reply once TLS is up.
        var ehloAfterTLS = "250-peer.test after TLS\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"
        var mail = "250 2.1.0 Ok\r\n"
        var rcpt = "250 2.1.5 Ok\r\n"
        var data = "354 go ahead\r\n"
        var endOfData = "250 2.0.0 queued\r\n"
        /// The reply to STARTTLS; nil: say nothing.
        var startTLS: String? = "220 2.0.0 Ready to start TLS\r\n"
        /// Plaintext written in the same write as the STARTTLS reply.
        var injectedAfterStartTLS = ""
        /// Server context for the handshake; nil: never answer the ClientHello.
        var tlsContext: NIOSSLContext?
        /// The reply to QUIT; nil: never answer.
        var quit: String? = "221 2.0.0 bye\r\n"
    }

    let port: Int
    private let server: Channel
    private let state = PeerState()

    /// Every line read so far, in order, over all connections.
    var received: [String] { state.lines }
    var connections: Int { state.children.count }

    final class PeerState: @unchecked Sendable {
        private let lock = NSLock()
        private var _lines: [String] = []
        private var _children: [Channel] = []
        var lines: [String] { lock.withLock { _lines } }
        var children: [Channel] { lock.withLock { _children } }
        func record(_ line: String) { lock.withLock { _lines.append(line) } }
        func add(_ channel: Channel) { lock.withLock { _children.append(channel) } }
    }

    init(_ script: Script, group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws {
        let state = self.state
        server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                state.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(PeerHandler(script: script) { state.record($0) })
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = server.localAddress!.port!
    }

    func close() async {
        try? await server.close()
        for child in state.children { try? await child.close() }
    }

    private final class PeerHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        let script: Script
        let record: @Sendable (String) -> Void
        var pending = ByteBuffer()
        var inData = false
        var dataLines = 0
        var tls = false
        var waitingForHandshake = false

        init(script: Script, record: @escaping @Sendable (String) -> Void) {
            self.script = script
            self.record = record
        }

        func channelActive(context: ChannelHandlerContext) {
            if let greeting = script.greeting { send(greeting, context: context) }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            if waitingForHandshake {
                record("<\(bytes.readableBytes) octets after STARTTLS>")
                return
            }
            pending.writeBuffer(&bytes)
            while let lf = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                let view = pending.readableBytesView
                var bytes = Array(view[view.startIndex..<lf])
                if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
                pending.moveReaderIndex(forwardBy: lf - view.startIndex + 1)
                let line = String(decoding: bytes, as: UTF8.self)
                handle(line, context: context)
                if waitingForHandshake { return }
            }
        }

        func handle(_ line: String, context: ChannelHandlerContext) {
            if inData {
                if line == "." {
                    inData = false
                    record("<data \(dataLines) lines>")
                    send(script.endOfData, context: context)
                } else {
                    dataLines += 1
                }
                return
            }
            record(line)
            switch line.prefix(4).uppercased() {
            case "EHLO": send(tls ? script.ehloAfterTLS : script.ehlo, context: context)
            case "HELO": send("250 peer.test\r\n", context: context)
            case "MAIL": send(script.mail, context: context)
            case "RCPT": send(script.rcpt, context: context)
            case "DATA":
                inData = true
                dataLines = 0
                send(script.data, context: context)
            case "RSET", "NOOP": send("250 2.0.0 Ok\r\n", context: context)
            case "QUIT":
                if let quit = script.quit {
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: quit))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
                }
            case "STAR":
                guard let reply = script.startTLS else { return }
                send(reply + script.injectedAfterStartTLS, context: context)
                guard reply.hasPrefix("220") else { return }
                pending.clear()
                if let tlsContext = script.tlsContext {
                    try? context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext), position: .first)
                    tls = true
                } else {
                    waitingForHandshake = true
                }
            default: send("500 5.5.2 unknown\r\n", context: context)
            }
        }

        func send(_ text: String, context: ChannelHandlerContext) {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}

/// Runs `operation`; if it has not finished after `seconds`, records an issue
/// and calls `unblock` (which must make it finish, e.g. by closing its peer),
/// then returns its result anyway. Never asserts how long anything took.
func finishing<T: Sendable>(within seconds: Double, unblock: @escaping @Sendable () async -> Void,
                            _ operation: @escaping @Sendable () async throws -> T) async -> Result<T, any Error> {
    await withTaskGroup(of: Result<T, any Error>?.self) { group in
        group.addTask {
            do { return .success(try await operation()) } catch { return .failure(error) }
        }
        group.addTask {
            try? await Task.sleep(for: .seconds(seconds))
            return nil
        }
        if let first = await group.next(), let result = first {
            group.cancelAll()
            return result
        }
        Issue.record("the operation did not finish within \(seconds) s")
        await unblock()
        while let next = await group.next() {
            if let result = next { return result }
        }
        return .failure(CancellationError())
    }
}

/// A client context that does not verify the peer (opportunistic TLS).
func unverifiedClientContext() throws -> NIOSSLContext {
    var configuration = TLSConfiguration.makeClientConfiguration()
    configuration.certificateVerification = .none
    return try NIOSSLContext(configuration: configuration)
}
