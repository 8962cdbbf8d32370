import Foundation
import NIOCore
import NIOPosix

/// Binds SMTP listeners.
public enum SMTPServer {
    /// Binds a TCP listener on `host:port` whose connections each run an
    /// ``SMTPServerHandler`` with a fresh delegate from `makeDelegate`
    /// (called on the connection's event loop).
    ///
    /// The listening socket uses `SO_REUSEADDR` and the given `backlog`;
    /// connections use `TCP_NODELAY`. Beyond `maxConnections` concurrent
    /// connections a new one gets `421 4.3.2` and is closed (RFC 5321 §3.8).
    /// The caller owns the returned server channel and closes it to stop.
    public static func bind(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        configuration: SMTPServerConfiguration,
        maxConnections: Int = 1000,
        backlog: Int32 = 256,
        makeDelegate: @escaping @Sendable () -> any SMTPServerDelegate
    ) -> EventLoopFuture<any Channel> {
        let counter = SMTPConnectionCounter()
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if counter.increment(limit: maxConnections) {
                        channel.closeFuture.whenComplete { _ in counter.decrement() }
                        let handler = SMTPServerHandler(configuration: configuration, delegate: makeDelegate())
                        try channel.pipeline.syncOperations.addHandler(handler)
                    } else {
                        try channel.pipeline.syncOperations.addHandler(SMTPTooManyConnectionsHandler())
                    }
                }
            }
            .bind(host: host, port: port)
    }
}

/// Counts open connections of one listener.
final class SMTPConnectionCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    /// Adds one connection unless `limit` is reached.
    func increment(limit: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard count < limit else { return false }
        count += 1
        return true
    }

    func decrement() {
        lock.lock()
        defer { lock.unlock() }
        count -= 1
    }
}

/// Answers `421 4.3.2` and closes (a listener over its connection limit).
final class SMTPTooManyConnectionsHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelActive(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 80)
        buffer.writeString(SMTPServerReplies.tooManyConnections.wireFormat)
        context.writeAndFlush(wrapOutboundOut(buffer))
            .assumeIsolated()
            .whenComplete { _ in context.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
