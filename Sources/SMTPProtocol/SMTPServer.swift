import Foundation
import NIOConcurrencyHelpers
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
    /// The caller owns the returned server channel and closes it to stop
    /// accepting; closing it leaves accepted connections open: pass
    /// `connections` and drain them (``SMTPServerConnections/drain(timeout:)``).
    /// While `gate` is suspended (`suspendlisteners`), every new connection gets the
    /// gate's `421` at once and is closed; the listening socket stays bound.
    public static func bind(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        configuration: SMTPServerConfiguration,
        maxConnections: Int = 1000,
        backlog: Int32 = 256,
        connections: SMTPServerConnections? = nil,
        gate: SMTPListenerGate? = nil,
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
                    if let refusal = gate?.refusal {
                        try channel.pipeline.syncOperations.addHandler(SMTPRefusingHandler(reply: refusal))
                    } else if counter.increment(limit: maxConnections) {
                        channel.closeFuture.whenComplete { _ in counter.decrement() }
                        let handler = SMTPServerHandler(configuration: configuration, delegate: makeDelegate())
                        try channel.pipeline.syncOperations.addHandler(handler)
                        connections?.add(channel)
                    } else {
                        try channel.pipeline.syncOperations.addHandler(SMTPRefusingHandler(reply: SMTPServerReplies.tooManyConnections))
                    }
                }
            }
            .bind(host: host, port: port)
    }
}

/// The accepted connections of one or more listeners, so that the owner can
/// end them on shutdown: close the server channels first (no new
/// connections), then ``drain(timeout:)``. Share one across `bind` calls.
public final class SMTPServerConnections: @unchecked Sendable {
    private let lock = NSLock()
    private var open: [ObjectIdentifier: any Channel] = [:]
    private var draining = false

    public init() {}

    /// Connections open now.
    public var count: Int { lock.withLock { open.count } }

    func add(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        let refused = lock.withLock {
            if draining { return true }
            open[key] = channel
            return false
        }
        if refused {
            channel.close(promise: nil)
            return
        }
        channel.closeFuture.whenComplete { _ in
            self.lock.withLock { _ = self.open.removeValue(forKey: key) }
        }
    }

    /// Tells every session that the server is shutting down (an idle one gets
    /// `421 4.3.2` at once, one in a transaction may finish it first), waits
    /// for them to close, and closes what is still open after `timeout`.
    /// Connections accepted from now on are closed at once.
    public func drain(timeout: TimeAmount) async {
        let channels = lock.withLock {
            draining = true
            return Array(open.values)
        }
        let deadline = NIODeadline.now() + timeout
        var forced: [Scheduled<Void>] = []
        for channel in channels {
            channel.eventLoop.execute {
                channel.pipeline.syncOperations.fireUserInboundEventTriggered(SMTPServerShutdownEvent())
            }
            forced.append(channel.eventLoop.scheduleTask(deadline: deadline) { channel.close(promise: nil) })
        }
        for channel in channels { try? await channel.closeFuture.get() }
        for task in forced { task.cancel() }
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
final class SMTPRefusingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let reply: SMTPReply

    init(reply: SMTPReply) {
        self.reply = reply
    }

    func channelActive(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 80)
        buffer.writeString(reply.wireFormat)
        context.writeAndFlush(wrapOutboundOut(buffer))
            .assumeIsolated()
            .whenComplete { _ in context.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// Whether a listener takes new connections: `suspendlisteners` closes the gate, `resume`
/// opens it. While closed, each new connection is answered with the refusal (a `421`) and
/// closed; sessions already open go on. Share one per listener with ``SMTPServer/bind``.
public final class SMTPListenerGate: Sendable {
    private let state = NIOLockedValueBox<SMTPReply?>(nil)

    public init() {}

    /// The reply new connections get now, or nil while the listener accepts them.
    public var refusal: SMTPReply? { state.withLockedValue { $0 } }

    /// Refuses new connections with `reply` from now on.
    public func suspend(reply: SMTPReply) { state.withLockedValue { $0 = reply } }

    /// Accepts new connections again.
    public func resume() { state.withLockedValue { $0 = nil } }

    /// The usual refusal: `421 4.3.2 HOST Service not available, listener NAME suspended by the administrator, try again later`.
    public static func suspendedReply(hostname: String, listener: String) -> SMTPReply {
        SMTPReply(421, EnhancedStatusCode(4, 3, 2), "\(hostname) Service not available, listener \(listener) suspended by the administrator, try again later")
    }
}
