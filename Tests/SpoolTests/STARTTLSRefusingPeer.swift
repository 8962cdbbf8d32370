import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A next hop on 127.0.0.1 that announces STARTTLS but cannot do it: it
/// refuses the command, or says 220 and answers the handshake with garbage.
/// In plain text it takes any message. Counts connections and messages.
final class STARTTLSRefusingPeer: Sendable {
    enum Behaviour: Sendable, CaseIterable {
        /// `454 4.7.0 TLS not available`
        case refuse
        /// `220`, then plain text where the ServerHello should be.
        case brokenHandshake
    }

    let port: Int
    private let server: Channel
    private let state = NIOLockedValueBox((connections: 0, messages: 0, startTLS: 0, children: [Channel]()))

    var connections: Int { state.withLockedValue { $0.connections } }
    var messages: Int { state.withLockedValue { $0.messages } }
    var startTLSAttempts: Int { state.withLockedValue { $0.startTLS } }

    init(_ behaviour: Behaviour) async throws {
        let state = self.state
        server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                state.withLockedValue {
                    $0.connections += 1
                    $0.children.append(channel)
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Handler(behaviour: behaviour, state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = server.localAddress!.port!
    }

    func close() async {
        try? await server.close()
        for child in state.withLockedValue({ $0.children }) { try? await child.close() }
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        let behaviour: Behaviour
        let state: NIOLockedValueBox<(connections: Int, messages: Int, startTLS: Int, children: [Channel])>
        var pending = ByteBuffer()
        var inData = false
        var tlsStarted = false

        init(behaviour: Behaviour, state: NIOLockedValueBox<(connections: Int, messages: Int, startTLS: Int, children: [Channel])>) {
            self.behaviour = behaviour
            self.state = state
        }

        func channelActive(context: ChannelHandlerContext) {
            send("220 peer.test ESMTP\r\n", context: context)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            if tlsStarted {
                // The ClientHello: answer with something that is not TLS.
                send("this is not a ServerHello\r\n", context: context)
                return
            }
            pending.writeBuffer(&bytes)
            while let lf = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                let view = pending.readableBytesView
                let line = String(decoding: view[view.startIndex..<lf], as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                pending.moveReaderIndex(forwardBy: lf - view.startIndex + 1)
                handle(line, context: context)
                if tlsStarted { return }
            }
        }

        func handle(_ line: String, context: ChannelHandlerContext) {
            if inData {
                if line == "." {
                    inData = false
                    state.withLockedValue { $0.messages += 1 }
                    send("250 2.0.0 queued\r\n", context: context)
                }
                return
            }
            switch line.prefix(4).uppercased() {
            case "EHLO": send("250-peer.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n", context: context)
            case "STAR":
                state.withLockedValue { $0.startTLS += 1 }
                switch behaviour {
                case .refuse:
                    send("454 4.7.0 TLS not available\r\n", context: context)
                case .brokenHandshake:
                    send("220 2.0.0 Ready to start TLS\r\n", context: context)
                    tlsStarted = true
                }
            case "DATA":
                inData = true
                send("354 go ahead\r\n", context: context)
            case "QUIT":
                send("221 2.0.0 bye\r\n", context: context)
                context.close(promise: nil)
            default:
                send("250 2.0.0 Ok\r\n", context: context)
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
