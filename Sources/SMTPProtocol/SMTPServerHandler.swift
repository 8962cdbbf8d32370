import NIOCore
import NIOSSL
import NIOTLS

/// The NIO side of one SMTP server connection: it feeds bytes, delegate
/// answers, TLS and timer events into an ``SMTPServerStateMachine`` and
/// carries out the actions that come back. One handler (and one delegate)
/// per connection; not Sendable, it stays on its channel's event loop.
///
/// Add it as the only handler of an accepted channel (see
/// ``SMTPServer/bind(host:port:group:configuration:maxConnections:backlog:makeDelegate:)``).
/// STARTTLS inserts a `NIOSSLServerHandler` in front of it.
///
/// Replies to pipelined commands (RFC 2920) are written in order and flushed
/// once the input buffer is drained. While the delegate decides on MAIL, RCPT
/// or a message, the handler stops reading from the socket; it also stops
/// reading (and processing buffered commands) while the channel is not
/// writable, so a client that pipelines without reading our replies cannot
/// make them pile up in memory. A closing reply that cannot be written within
/// ``SMTPServerConfiguration/closeTimeout`` is abandoned and the connection closed.
public final class SMTPServerHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let configuration: SMTPServerConfiguration
    private let delegate: any SMTPServerDelegate
    private var machine: SMTPServerStateMachine

    private var isPumping = false
    private var hasUnflushedWrites = false
    private var isReadHeld = false
    private var closeReason: String?
    /// The words for TLS failures of this connection (``SMTPServerConfiguration/makeTLSSession``).
    private var sessionTLSErrorDescriber: (@Sendable (any Error) -> String)?
    private var closeReported = false

    private var idleDeadline = NIODeadline.uptimeNanoseconds(0)
    private var idleTimer: Scheduled<Void>?
    private var observedCommandCount = 0
    private var rateTimer: Scheduled<Void>?
    private var bytesInRateWindow = 0
    private var greetingTimer: Scheduled<Void>?
    private var closeTimer: Scheduled<Void>?

    /// A handler for one connection; `delegate` is used by this connection only.
    public init(configuration: SMTPServerConfiguration, delegate: any SMTPServerDelegate) {
        self.configuration = configuration
        self.delegate = delegate
        self.machine = SMTPServerStateMachine(configuration: .init(
            hostname: configuration.hostname,
            tlsAvailable: configuration.tlsContext != nil,
            maxBadCommands: configuration.maxBadCommands,
            requireTLS: configuration.requireTLS,
            extensionVerbs: configuration.extensionVerbs
        ))
    }

    /// Input octets buffered and not yet processed (for tests and metrics).
    public var bufferedByteCount: Int { machine.framer.bufferedByteCount }

    /// Message octets kept for the message being received (for tests).
    var messageByteCount: Int { machine.framer.messageByteCount }

    // MARK: - Inbound

    public func channelActive(context: ChannelHandlerContext) {
        let info = SMTPConnectionInfo(
            listenerName: configuration.listenerName,
            remoteAddress: context.channel.remoteAddress?.ipAddress ?? "unknown",
            remotePort: context.channel.remoteAddress?.port ?? 0,
            localAddress: context.channel.localAddress?.ipAddress ?? "unknown",
            localPort: context.channel.localAddress?.port ?? 0
        )
        machine.connectionOpened()
        armIdleTimer(context: context)
        delegate.connectionOpened(info, eventLoop: context.eventLoop)
            .hop(to: context.eventLoop)
            .assumeIsolated()
            .whenComplete { result in
                if case .success(.accept) = result {
                    self.machine.setAdditionalEHLOKeywords(self.delegate.ehloKeywords(tls: false))
                }
                self.perform(self.machine.connectionDecision(result), context: context)
                self.pump(context: context)
            }
        context.fireChannelActive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        bytesInRateWindow += bytes.readableBytes
        if let action = machine.receivedBytes(bytes) {
            perform(action, context: context)
            return
        }
        pump(context: context)
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is SMTPServerShutdownEvent {
            perform(machine.shutdownRequested(), context: context)
            pump(context: context)
            return
        }
        if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent {
            let ssl = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
            let peer = (try? ssl?.peerCertificate?.toDERBytes()).map { SMTPPeerCertificate(der: $0) }
            machine.tlsEstablished()
            delegate.sessionReset()
            delegate.tlsEstablished(SMTPTLSInfo(protocolVersion: Self.name(of: ssl?.tlsVersion), cipher: "unknown", peerCertificate: peer))
            machine.setAdditionalEHLOKeywords(delegate.ehloKeywords(tls: true))
            idleDeadline = context.eventLoop.now + configuration.commandTimeout
            pump(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        cancelTimers()
        closeTimer?.cancel()
        closeTimer = nil
        if let open = machine.connectionClosed() {
            delegate.transactionAborted(open)
        }
        reportClosed(closeReason ?? "connection lost")
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if closeReason == nil {
            if error is NIOSSLError || error is BoringSSLError {
                let describe = sessionTLSErrorDescriber ?? configuration.describeTLSError
                closeReason = "TLS failed: " + (describe?(error) ?? "\(error)")
            } else {
                closeReason = "error: \(error)"
            }
        }
        context.close(promise: nil)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            // The client read our replies: go on with what it pipelined, then read again.
            pump(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        closeTimer?.cancel()
        closeTimer = nil
    }

    // MARK: - Outbound

    public func read(context: ChannelHandlerContext) {
        if machine.shouldPauseReading || !context.channel.isWritable {
            isReadHeld = true
        } else {
            context.read()
        }
    }

    /// Reads again if a read was held and nothing holds it any more.
    private func resumeReading(context: ChannelHandlerContext) {
        guard isReadHeld, !machine.shouldPauseReading, context.channel.isWritable else { return }
        isReadHeld = false
        context.read()
    }

    // MARK: - Driving the state machine

    private func pump(context: ChannelHandlerContext) {
        guard !isPumping else { return }
        isPumping = true
        defer { isPumping = false }
        while true {
            guard context.channel.isWritable else {
                // Back-pressure: the rest waits for channelWritabilityChanged.
                flushReplies(context: context)
                updateTimers(context: context)
                return
            }
            let action = machine.nextAction()
            switch action {
            case .wait:
                updateTimers(context: context)
                return
            case .readMore:
                perform(action, context: context)
                updateTimers(context: context)
                return
            default:
                perform(action, context: context)
            }
        }
    }

    private func perform(_ action: SMTPServerStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .wait:
            break

        case .readMore:
            flushReplies(context: context)
            resumeReading(context: context)

        case .scheduleGreeting:
            if configuration.greetingDelay <= .zero {
                sendGreeting(context: context)
            } else {
                greetingTimer = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.greetingDelay) {
                    self.greetingTimer = nil
                    self.sendGreeting(context: context)
                    self.pump(context: context)
                }
            }

        case .send(let reply):
            write(reply, context: context)

        case .sendAndAbortTransaction(let reply, let transaction):
            delegate.transactionAborted(transaction)
            write(reply, context: context)

        case .resetSession(let reply, let transaction):
            if let transaction { delegate.transactionAborted(transaction) }
            delegate.sessionReset()
            write(reply, context: context)

        case .askExtension(let verb, let argument, let transaction):
            delegate.extensionCommand(verb, argument: argument, transaction: transaction, eventLoop: context.eventLoop)
                .hop(to: context.eventLoop)
                .assumeIsolated()
                .whenComplete { result in
                    self.perform(self.machine.extensionAnswered(result), context: context)
                    self.pump(context: context)
                }

        case .askMailFrom(let transaction):
            delegate.mailFrom(transaction, eventLoop: context.eventLoop)
                .hop(to: context.eventLoop)
                .assumeIsolated()
                .whenComplete { result in
                    self.perform(self.machine.mailFromAnswered(result), context: context)
                    self.pump(context: context)
                }

        case .askRcptTo(let recipient, let transaction):
            delegate.rcptTo(recipient, transaction: transaction, eventLoop: context.eventLoop)
                .hop(to: context.eventLoop)
                .assumeIsolated()
                .whenComplete { result in
                    self.perform(self.machine.rcptToAnswered(result), context: context)
                    self.pump(context: context)
                }

        case .askMessage(let transaction, let body):
            delegate.messageReceived(transaction, body: body, eventLoop: context.eventLoop)
                .hop(to: context.eventLoop)
                .assumeIsolated()
                .whenComplete { result in
                    self.perform(self.machine.messageAnswered(result), context: context)
                    self.pump(context: context)
                }

        case .startTLS(let reply):
            write(reply, context: context)
            flushReplies(context: context)
            guard let tlsContext = configuration.tlsContext else {
                closeReason = "TLS failed: no TLS context"
                context.close(promise: nil)
                return
            }
            // Added synchronously, before any further read is delivered: every
            // byte after the 220 goes through TLS (RFC 3207 §4.2).
            do {
                let ssl: NIOSSLServerHandler
                if let makeSession = configuration.makeTLSSession {
                    let session = try makeSession(tlsContext)
                    ssl = session.handler
                    sessionTLSErrorDescriber = session.describeError
                } else {
                    ssl = try configuration.makeTLSHandler?(tlsContext) ?? NIOSSLServerHandler(context: tlsContext)
                }
                try context.pipeline.syncOperations.addHandler(ssl, position: .first)
            } catch {
                closeReason = "TLS failed: \(error)"
                context.close(promise: nil)
            }

        case .close(let reply, let reason, let transaction):
            cancelTimers()
            if let transaction { delegate.transactionAborted(transaction) }
            if closeReason == nil { closeReason = reason }
            if let reply {
                hasUnflushedWrites = false
                // A client that does not read can keep the write pending for
                // ever: close anyway after closeTimeout.
                closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.closeTimeout) {
                    self.closeTimer = nil
                    context.close(promise: nil)
                }
                context.writeAndFlush(wrapOutboundOut(encode(reply, context: context)))
                    .assumeIsolated()
                    .whenComplete { _ in
                        self.closeTimer?.cancel()
                        self.closeTimer = nil
                        context.close(promise: nil)
                    }
            } else {
                flushReplies(context: context)
                context.close(promise: nil)
            }
        }
    }

    private func sendGreeting(context: ChannelHandlerContext) {
        let action = machine.greetingDue()
        perform(action, context: context)
        flushReplies(context: context)
        idleDeadline = context.eventLoop.now + configuration.commandTimeout
    }

    private func encode(_ reply: SMTPReply, context: ChannelHandlerContext) -> ByteBuffer {
        let wire = reply.wireFormat
        var buffer = context.channel.allocator.buffer(capacity: wire.utf8.count)
        buffer.writeString(wire)
        return buffer
    }

    private func write(_ reply: SMTPReply, context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(encode(reply, context: context)), promise: nil)
        hasUnflushedWrites = true
    }

    private func flushReplies(context: ChannelHandlerContext) {
        if hasUnflushedWrites {
            hasUnflushedWrites = false
            context.flush()
        }
    }

    private func reportClosed(_ reason: String) {
        guard !closeReported else { return }
        closeReported = true
        delegate.connectionClosed(reason: reason)
    }

    private static func name(of version: TLSVersion?) -> String {
        switch version {
        case .tlsv1: "TLSv1"
        case .tlsv11: "TLSv1.1"
        case .tlsv12: "TLSv1.2"
        case .tlsv13: "TLSv1.3"
        case nil: "unknown"
        }
    }

    // MARK: - Timers

    /// The command deadline moves on with every complete command; the timer
    /// itself is rescheduled lazily when it fires, so no per-command allocation.
    private func armIdleTimer(context: ChannelHandlerContext) {
        idleDeadline = context.eventLoop.now + configuration.commandTimeout
        scheduleIdleTimer(context: context, at: idleDeadline)
    }

    private func scheduleIdleTimer(context: ChannelHandlerContext, at deadline: NIODeadline) {
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.idleTimerFired(context: context)
        }
    }

    private func idleTimerFired(context: ChannelHandlerContext) {
        idleTimer = nil
        guard !machine.isClosed else { return }
        let now = context.eventLoop.now
        if machine.isReceivingMessage || machine.isAwaitingDelegate {
            idleDeadline = now + configuration.commandTimeout
        }
        if now < idleDeadline {
            scheduleIdleTimer(context: context, at: idleDeadline)
            return
        }
        perform(machine.commandTimedOut(), context: context)
    }

    private func updateTimers(context: ChannelHandlerContext) {
        if machine.completedCommandCount != observedCommandCount {
            observedCommandCount = machine.completedCommandCount
            idleDeadline = context.eventLoop.now + configuration.commandTimeout
        }
        if machine.isReceivingMessage, rateTimer == nil, !machine.isClosed {
            bytesInRateWindow = 0
            scheduleRateTimer(context: context)
        }
    }

    private func scheduleRateTimer(context: ChannelHandlerContext) {
        rateTimer = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.dataRateWindow) {
            self.rateTimerFired(context: context)
        }
    }

    private func rateTimerFired(context: ChannelHandlerContext) {
        rateTimer = nil
        guard machine.isReceivingMessage, !machine.isClosed else { return }
        let required = Int64(configuration.minimumDataRate) * configuration.dataRateWindow.nanoseconds / 1_000_000_000
        if Int64(bytesInRateWindow) < required {
            perform(machine.dataRateTooLow(), context: context)
            return
        }
        bytesInRateWindow = 0
        scheduleRateTimer(context: context)
    }

    private func cancelTimers() {
        idleTimer?.cancel()
        idleTimer = nil
        rateTimer?.cancel()
        rateTimer = nil
        greetingTimer?.cancel()
        greetingTimer = nil
    }
}

@available(*, unavailable)
extension SMTPServerHandler: Sendable {}

/// Fire this user event into a connection's pipeline when the server shuts
/// down: the session ends with `421 4.3.2` at once, or right after the
/// transaction in progress (see ``SMTPServerStateMachine/shutdownRequested()``).
/// ``SMTPServerConnections/drain(timeout:)`` does it for every connection.
public struct SMTPServerShutdownEvent: Sendable, Hashable {
    public init() {}
}
