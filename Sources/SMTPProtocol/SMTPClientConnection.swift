import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Why a client connection or transaction could not go on.
public enum SMTPClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// TCP connect failed (refused, unreachable, timed out).
    case connectFailed(String)
    /// The server did not answer within the deadline.
    case timeout(String)
    /// The server closed the connection while replies were outstanding.
    case connectionClosed
    /// The server sent something that is not an SMTP reply.
    case protocolError(String)
    /// The greeting, EHLO or STARTTLS was refused.
    case refused(stage: String, reply: SMTPReply)
    /// TLS was required but the server does not offer it, or the handshake failed.
    case tlsFailed(String)

    public var description: String {
        switch self {
        case .connectFailed(let why): "connection failed: \(why)"
        case .timeout(let stage): "timed out waiting for the reply to \(stage)"
        case .connectionClosed: "connection closed by the server"
        case .protocolError(let why): "protocol error: \(why)"
        case .refused(let stage, let reply): "\(stage) refused: \(reply)"
        case .tlsFailed(let why): "TLS failed: \(why)"
        }
    }
}

/// Options for one outbound connection.
public struct SMTPClientOptions: Sendable {
    /// Our name in EHLO.
    public var localHostname: String
    /// STARTTLS context; nil means plain text only.
    public var tlsContext: NIOSSLContext?
    /// Name to verify in the server certificate (SNI), when TLS is used.
    public var tlsServerName: String?
    /// Fail instead of sending in plain text when the server offers no STARTTLS
    /// (or when `tlsContext` is nil: then nothing is sent at all).
    public var tlsRequired: Bool
    /// Deadline for the TCP connect.
    public var connectTimeout: TimeAmount
    /// Deadline for each reply (RFC 5321 §4.5.3.2 suggests minutes; we stay shorter).
    public var replyTimeout: TimeAmount
    /// Deadline for the reply after the body (RFC 5321 §4.5.3.2.6: 10 minutes).
    public var dataTimeout: TimeAmount
    /// Deadline for the TLS handshake after the server's 220 to STARTTLS.
    public var tlsHandshakeTimeout: TimeAmount
    /// Deadline for the whole setup once TCP is up: greeting, EHLO, STARTTLS
    /// and its handshake, EHLO again; a server that answers each step just in
    /// time cannot hold the connection longer than this.
    public var setupTimeout: TimeAmount
    /// Deadline for the 221 after QUIT; the connection is closed either way.
    public var quitTimeout: TimeAmount
    /// Makes the TLS handler for STARTTLS from `tlsContext` and the server name,
    /// e.g. with a custom certificate verification (CPQ pins its manager); nil means
    /// `NIOSSLClientHandler(context:serverHostname:)`.
    public var makeTLSHandler: (@Sendable (NIOSSLContext, String?) throws -> NIOSSLClientHandler)?
    /// Turns a TLS handshake error into the words after `TLS failed: ` (CPQ:
    /// `verify error: no certificate from server`); nil means the built-in wording.
    public var describeTLSError: (@Sendable (any Error) -> String)?

    public init(localHostname: String, tlsContext: NIOSSLContext? = nil, tlsServerName: String? = nil, tlsRequired: Bool = false,
                connectTimeout: TimeAmount = .seconds(30), replyTimeout: TimeAmount = .seconds(300), dataTimeout: TimeAmount = .seconds(600),
                tlsHandshakeTimeout: TimeAmount = .seconds(60), setupTimeout: TimeAmount = .seconds(300), quitTimeout: TimeAmount = .seconds(5)) {
        self.localHostname = localHostname
        self.tlsContext = tlsContext
        self.tlsServerName = tlsServerName
        self.tlsRequired = tlsRequired
        self.connectTimeout = connectTimeout
        self.replyTimeout = replyTimeout
        self.dataTimeout = dataTimeout
        self.tlsHandshakeTimeout = tlsHandshakeTimeout
        self.setupTimeout = setupTimeout
        self.quitTimeout = quitTimeout
    }
}

/// One SMTP client connection to a next hop, kept open for many transactions.
/// All I/O runs on the channel's event loop; the async methods may be called
/// from any task, one at a time.
public final class SMTPClientConnection: Sendable {
    public let channel: Channel
    /// The server's 220 greeting.
    public let greeting: SMTPReply
    /// What the server announced after the last EHLO.
    public let extensions: SMTPServerExtensions
    /// `TLSv1.3 cipher ...` when STARTTLS succeeded, else nil.
    public let tlsProtocol: String?
    /// What the TLS handshake negotiated, with the server's certificate; nil without TLS.
    public let tls: SMTPTLSInfo?
    private let handler: NIOLoopBound<SMTPClientHandler>
    private let options: SMTPClientOptions

    private init(channel: Channel, handler: NIOLoopBound<SMTPClientHandler>, greeting: SMTPReply,
                 extensions: SMTPServerExtensions, tls: SMTPTLSInfo?, options: SMTPClientOptions) {
        self.channel = channel
        self.handler = handler
        self.greeting = greeting
        self.extensions = extensions
        self.tls = tls
        self.tlsProtocol = tls?.protocolVersion
        self.options = options
    }

    /// The server's certificate after STARTTLS (its SHA-256 fingerprint
    /// identifies a paired peer); nil without TLS.
    public var peerCertificate: SMTPPeerCertificate? { tls?.peerCertificate }

    /// The local address of the connection, for mail_logs (`interface ...`).
    public var localAddress: String { channel.localAddress?.ipAddress ?? "unknown" }

    /// Connects, reads the greeting, says EHLO (falling back to HELO), and runs STARTTLS when configured.
    /// `onConnected` runs once TCP is up (with the local address), before the
    /// greeting is read, so that logs show the connection before what follows.
    ///
    /// With `tlsRequired` nothing is ever sent in plain text beyond EHLO and
    /// STARTTLS: no TLS context, no STARTTLS offered, a refusal or a failed
    /// handshake all throw ``SMTPClientError/tlsFailed(_:)``. Everything after
    /// TCP connect must finish within `setupTimeout`.
    public static func connect(host: String, port: Int, group: EventLoopGroup, options: SMTPClientOptions,
                               onConnected: @Sendable (String) -> Void = { _ in }) async throws -> SMTPClientConnection {
        if options.tlsRequired, options.tlsContext == nil {
            throw SMTPClientError.tlsFailed("TLS is required but no TLS client context is available")
        }
        let channel: Channel
        // The handler as it was added: once the setup deadline closed the channel it is no
        // longer in the pipeline, and its greeting future holds the reason (the timeout).
        let added = NIOLockedValueBox<NIOLoopBound<SMTPClientHandler>?>(nil)
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(options.connectTimeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler = SMTPClientHandler(replyTimeout: options.replyTimeout, setupTimeout: options.setupTimeout)
                        try channel.pipeline.syncOperations.addHandler(handler)
                        added.withLockedValue { $0 = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            throw SMTPClientError.connectFailed("\(error)")
        }
        onConnected(channel.localAddress?.ipAddress ?? "unknown")
        guard let handler = added.withLockedValue({ $0 }) else {
            channel.close(promise: nil)
            throw SMTPClientError.connectionClosed
        }
        do {
            let greeting = try await expectReply(channel: channel, handler: handler)
            guard greeting.code == 220 else { throw SMTPClientError.refused(stage: "greeting", reply: greeting) }
            var extensions = try await ehlo(channel: channel, handler: handler, hostname: options.localHostname)
            var tls: SMTPTLSInfo?
            if let tlsContext = options.tlsContext {
                if extensions.startTLS {
                    tls = try await startTLS(channel: channel, handler: handler, context: tlsContext,
                                             serverName: options.tlsServerName, handshakeTimeout: options.tlsHandshakeTimeout,
                                             makeHandler: options.makeTLSHandler, describeError: options.describeTLSError)
                    extensions = try await ehlo(channel: channel, handler: handler, hostname: options.localHostname)
                } else if options.tlsRequired {
                    throw SMTPClientError.tlsFailed("the server does not offer STARTTLS")
                }
            }
            try await channel.eventLoop.submit { handler.value.setupFinished() }.get()
            return SMTPClientConnection(channel: channel, handler: handler, greeting: greeting,
                                        extensions: extensions, tls: tls, options: options)
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }

    /// Runs one transaction: envelope (pipelined when the server allows), body,
    /// final reply. Returns a result per recipient; never throws for a refusal,
    /// only records it. A broken connection defers every open recipient.
    ///
    /// `preamble` holds extension command lines (without CRLF, such as
    /// `XCPQ TRANSFER ...`) sent before MAIL, pipelined among themselves when
    /// the server allows; the envelope follows only once every one of them got
    /// a 2xx. The first other reply ends the transaction: every recipient gets
    /// it (5xx failed, else deferred) and RSET follows. A line holding CR or
    /// LF fails every recipient with `501 5.5.4` before anything is sent.
    public func deliver(mailFrom: String, recipients: [String], parameters: [String] = [], preamble: [String] = [],
                        body: ByteBuffer) async -> [SMTPRecipientResult] {
        if preamble.contains(where: Self.hasLineBreak) {
            let reply = SMTPReply(501, EnhancedStatusCode(5, 5, 4), "preamble command line holds CR or LF; nothing sent")
            return recipients.map { _ in .failed(reply) }
        }
        var transaction = SMTPClientTransaction(mailFrom: mailFrom, recipients: recipients, parameters: parameters,
                                                preamble: preamble, pipelining: extensions.pipelining)
        do {
            if !preamble.isEmpty {
                if extensions.pipelining {
                    for reply in try await Self.send(transaction.preambleCommands, channel: channel, handler: handler) {
                        _ = transaction.receive(reply)
                    }
                } else {
                    for command in transaction.preambleCommands {
                        _ = transaction.receive(try await Self.send([command], channel: channel, handler: handler)[0])
                        if transaction.state != .preamble { break }
                    }
                }
            }
            if transaction.state == .envelope {
                try await runEnvelope(&transaction, body: body)
            }
            if transaction.needsReset {
                _ = try? await Self.send(["RSET\r\n"], channel: channel, handler: handler)
            }
        } catch {
            transaction.connectionFailed(SMTPReply(451, EnhancedStatusCode(4, 4, 2), "\(error)"))
            channel.close(promise: nil)
        }
        return transaction.results.map { $0 ?? .deferred(SMTPReply(451, EnhancedStatusCode(4, 4, 2), "no reply")) }
    }

    /// Sends one command line (without CRLF) outside a transaction, such as
    /// `XCPQ REPORT ...`, and returns the server's reply whatever its code.
    /// Throws ``SMTPClientError`` when the line holds CR or LF (nothing is
    /// sent) or the connection fails (it is closed then).
    public func send(command: String) async throws -> SMTPReply {
        guard !Self.hasLineBreak(command) else {
            throw SMTPClientError.protocolError("command line holds CR or LF; nothing sent")
        }
        do {
            return try await Self.send([command + "\r\n"], channel: channel, handler: handler)[0]
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }

    private static func hasLineBreak(_ line: String) -> Bool {
        line.utf8.contains { $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }
    }

    /// MAIL, RCPT..., DATA, the body and the final reply.
    private func runEnvelope(_ transaction: inout SMTPClientTransaction, body: ByteBuffer) async throws {
        let commands = transaction.envelopeCommands
        var action = SMTPClientTransaction.Action.awaitMoreReplies
        if extensions.pipelining {
            for reply in try await Self.send(commands, channel: channel, handler: handler) {
                action = transaction.receive(reply)
            }
        } else {
            for command in commands {
                action = transaction.receive(try await Self.send([command], channel: channel, handler: handler)[0])
                if action != .awaitMoreReplies { break }
            }
        }
        switch action {
        case .sendBody:
            var out = channel.allocator.buffer(capacity: body.readableBytes + 64)
            SMTPClientTransaction.writeDotStuffed(body, into: &out)
            let final = try await Self.send(raw: out, channel: channel, handler: handler, timeout: options.dataTimeout)
            transaction.bodySent()
            _ = transaction.receive(final)
        case .abortData:
            // 354 for nobody: end DATA with an empty message, then RSET below.
            let reply = try await Self.send(raw: channel.allocator.buffer(string: ".\r\n"), channel: channel, handler: handler,
                                            timeout: options.replyTimeout)
            _ = transaction.receive(reply)
        case .awaitMoreReplies, .finished:
            break
        }
    }

    /// True while the TCP connection is open.
    public var isActive: Bool { channel.isActive }

    /// Says QUIT (waiting at most `quitTimeout` for 221) and closes.
    public func quit() async {
        _ = try? await Self.send(["QUIT\r\n"], channel: channel, handler: handler, timeout: options.quitTimeout)
        try? await channel.close()
    }

    // MARK: - I/O helpers (everything touching the handler hops onto its loop)

    private static func ehlo(channel: Channel, handler: NIOLoopBound<SMTPClientHandler>, hostname: String) async throws -> SMTPServerExtensions {
        let reply = try await send(["EHLO \(hostname)\r\n"], channel: channel, handler: handler)[0]
        if reply.isPositiveCompletion { return SMTPServerExtensions(ehloReply: reply) }
        let helo = try await send(["HELO \(hostname)\r\n"], channel: channel, handler: handler)[0]
        guard helo.isPositiveCompletion else { throw SMTPClientError.refused(stage: "HELO", reply: helo) }
        return SMTPServerExtensions()
    }

    private static func expectReply(channel: Channel, handler: NIOLoopBound<SMTPClientHandler>) async throws -> SMTPReply {
        try await channel.eventLoop.flatSubmit {
            handler.value.greeting ?? channel.eventLoop.makeFailedFuture(SMTPClientError.connectionClosed)
        }.get()
    }

    static func send(_ commands: [String], channel: Channel, handler: NIOLoopBound<SMTPClientHandler>,
                     timeout: TimeAmount? = nil) async throws -> [SMTPReply] {
        let futures = try await channel.eventLoop.submit {
            var buffer = channel.allocator.buffer(capacity: commands.reduce(0) { $0 + $1.utf8.count })
            for command in commands { buffer.writeString(command) }
            let futures = handler.value.expectReplies(commands.count, timeout: timeout)
            channel.writeAndFlush(buffer, promise: nil)
            return futures
        }.get()
        var replies: [SMTPReply] = []
        replies.reserveCapacity(futures.count)
        for future in futures { replies.append(try await future.get()) }
        return replies
    }

    static func send(raw: ByteBuffer, channel: Channel, handler: NIOLoopBound<SMTPClientHandler>, timeout: TimeAmount) async throws -> SMTPReply {
        try await channel.eventLoop.flatSubmit {
            let future = handler.value.expectReplies(1, timeout: timeout)[0]
            channel.writeAndFlush(raw, promise: nil)
            return future
        }.get()
    }

    /// Sends STARTTLS; on 220 the handler drops any plaintext already
    /// received and starts the handshake before reading on (RFC 3207 §4.2).
    private static func startTLS(channel: Channel, handler: NIOLoopBound<SMTPClientHandler>, context: NIOSSLContext,
                                 serverName: String?, handshakeTimeout: TimeAmount,
                                 makeHandler: (@Sendable (NIOSSLContext, String?) throws -> NIOSSLClientHandler)?,
                                 describeError: (@Sendable (any Error) -> String)?) async throws -> SMTPTLSInfo {
        try await channel.eventLoop.flatSubmit {
            let done = handler.value.expectStartTLS(context: context, serverName: serverName, handshakeTimeout: handshakeTimeout,
                                                    makeHandler: makeHandler, describeError: describeError)
            channel.writeAndFlush(channel.allocator.buffer(string: "STARTTLS\r\n"), promise: nil)
            return done
        }.get()
    }
}

/// The thin NIO side of the client: parses replies and completes the oldest
/// waiting promise with each; a deadline per outstanding reply, for the TLS
/// handshake, and for the whole connection setup.
final class SMTPClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    /// What STARTTLS needs once the server said 220.
    struct StartTLSRequest {
        var context: NIOSSLContext
        var serverName: String?
        var handshakeTimeout: TimeAmount
        var promise: EventLoopPromise<SMTPTLSInfo>
        var makeHandler: (@Sendable (NIOSSLContext, String?) throws -> NIOSSLClientHandler)?
        var describeError: (@Sendable (any Error) -> String)?
    }

    /// Where STARTTLS stands (RFC 3207).
    enum TLSStep {
        /// STARTTLS was sent; its reply is the next one.
        case awaitingReply(StartTLSRequest)
        /// The handshake is running.
        case handshaking(EventLoopPromise<SMTPTLSInfo>, timeout: TimeAmount)
    }

    private var parser = SMTPClientReplyParser()
    private var waiting = CircularBuffer<EventLoopPromise<SMTPReply>>()
    private var tlsStep: TLSStep?
    private var buffer: ByteBuffer?
    private var context: ChannelHandlerContext?
    private var timer: Scheduled<Void>?
    private var setupTimer: Scheduled<Void>?
    private let replyTimeout: TimeAmount
    private let setupTimeout: TimeAmount?
    private var pendingTimeout: TimeAmount?

    init(replyTimeout: TimeAmount, setupTimeout: TimeAmount? = nil) {
        self.replyTimeout = replyTimeout
        self.setupTimeout = setupTimeout
    }

    /// The server's greeting: registered before the first byte can arrive.
    private(set) var greeting: EventLoopFuture<SMTPReply>?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let promise = context.eventLoop.makePromise(of: SMTPReply.self)
        waiting.append(promise)
        greeting = promise.futureResult
    }

    func channelActive(context: ChannelHandlerContext) {
        armTimer()
        if let setupTimeout {
            setupTimer = context.eventLoop.assumeIsolated().scheduleTask(in: setupTimeout) { [weak self] in
                self?.setupTimer = nil
                self?.failAll(SMTPClientError.timeout("connection setup (greeting, EHLO, STARTTLS)"))
                self?.context?.close(promise: nil)
            }
        }
        context.fireChannelActive()
    }

    /// The connection is set up: the setup deadline no longer applies.
    func setupFinished() {
        setupTimer?.cancel()
        setupTimer = nil
    }

    func expectReplies(_ count: Int, timeout: TimeAmount?) -> [EventLoopFuture<SMTPReply>] {
        guard let context else { return [] }
        var futures: [EventLoopFuture<SMTPReply>] = []
        for _ in 0..<count {
            let promise = context.eventLoop.makePromise(of: SMTPReply.self)
            if !context.channel.isActive {
                promise.fail(SMTPClientError.connectionClosed)
            } else {
                waiting.append(promise)
            }
            futures.append(promise.futureResult)
        }
        pendingTimeout = timeout
        armTimer()
        return futures
    }

    /// Registers for the reply to a STARTTLS the caller writes next; the
    /// future gives the TLS version once the handshake completed.
    func expectStartTLS(context tlsContext: NIOSSLContext, serverName: String?, handshakeTimeout: TimeAmount,
                        makeHandler: (@Sendable (NIOSSLContext, String?) throws -> NIOSSLClientHandler)? = nil,
                        describeError: (@Sendable (any Error) -> String)? = nil) -> EventLoopFuture<SMTPTLSInfo> {
        guard let context else { preconditionFailure("SMTPClientHandler is not in a pipeline") }
        let promise = context.eventLoop.makePromise(of: SMTPTLSInfo.self)
        guard context.channel.isActive else {
            promise.fail(SMTPClientError.connectionClosed)
            return promise.futureResult
        }
        guard tlsStep == nil, waiting.isEmpty else {
            promise.fail(SMTPClientError.protocolError("STARTTLS while other replies are outstanding"))
            return promise.futureResult
        }
        tlsStep = .awaitingReply(StartTLSRequest(context: tlsContext, serverName: serverName,
                                                 handshakeTimeout: handshakeTimeout, promise: promise, makeHandler: makeHandler,
                                                 describeError: describeError))
        pendingTimeout = nil
        armTimer()
        return promise.futureResult
    }

    private func armTimer() {
        timer?.cancel()
        timer = nil
        guard let context else { return }
        let timeout: TimeAmount
        switch tlsStep {
        case .handshaking(_, let handshakeTimeout):
            timeout = handshakeTimeout
        case .awaitingReply:
            timeout = replyTimeout
        case nil:
            guard !waiting.isEmpty else { return }
            timeout = pendingTimeout ?? replyTimeout
        }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            self?.timedOut(after: timeout)
        }
    }

    private func timedOut(after timeout: TimeAmount) {
        timer = nil
        switch tlsStep {
        case .handshaking:
            failAll(SMTPClientError.tlsFailed("handshake failed: no answer within \(timeout.nanoseconds / 1_000_000) ms"))
        case .awaitingReply:
            failAll(SMTPClientError.timeout("STARTTLS"))
        case nil:
            failAll(SMTPClientError.timeout("command"))
        }
        context?.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffer == nil { buffer = incoming } else { buffer!.writeBuffer(&incoming) }
        do {
            if case .awaitingReply(let request) = tlsStep {
                guard let reply = try parser.parse(&buffer!, maxReplies: 1).first else {
                    compactBuffer()
                    return
                }
                // Whatever else arrived in plain text is dropped unread: a man in
                // the middle must not get replies into the TLS session (RFC 3207 §4.2).
                buffer = nil
                parser = SMTPClientReplyParser()
                tlsStep = nil
                startTLSAnswered(reply, request: request, context: context)
                return
            }
            let replies = try parser.parse(&buffer!)
            if !replies.isEmpty {
                for reply in replies {
                    guard let promise = waiting.popFirst() else {
                        throw SMTPClientReplyParser.ParseError.malformed("unexpected reply \(reply)")
                    }
                    promise.succeed(reply)
                }
                pendingTimeout = nil
                armTimer()
            }
            compactBuffer()
        } catch {
            failAll(SMTPClientError.protocolError("\(error)"))
            context.close(promise: nil)
        }
    }

    private func compactBuffer() {
        guard buffer != nil else { return }
        if buffer!.readableBytes == 0 { buffer = nil } else { buffer!.discardReadBytes() }
    }

    /// 220: the TLS handler goes in front before anything else is read; anything else is a refusal.
    private func startTLSAnswered(_ reply: SMTPReply, request: StartTLSRequest, context: ChannelHandlerContext) {
        guard reply.code == 220 else {
            request.promise.fail(SMTPClientError.tlsFailed("STARTTLS refused: \(reply)"))
            armTimer()
            return
        }
        do {
            let ssl = try request.makeHandler?(request.context, request.serverName)
                ?? NIOSSLClientHandler(context: request.context, serverHostname: request.serverName)
            describeTLSError = request.describeError
            tlsStep = .handshaking(request.promise, timeout: request.handshakeTimeout)
            armTimer()
            try context.pipeline.syncOperations.addHandler(ssl, position: .first)
        } catch {
            if case .handshaking = tlsStep { tlsStep = nil }
            request.promise.fail(SMTPClientError.tlsFailed("\(error)"))
            armTimer()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls, case .handshaking(let promise, _) = tlsStep {
            var description = "TLS"
            var peer: SMTPPeerCertificate?
            if let ssl = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self) {
                if let version = ssl.tlsVersion { description = version.mailLogName }
                peer = (try? ssl.peerCertificate?.toDERBytes()).map { SMTPPeerCertificate(der: $0) }
            }
            tlsStep = nil
            armTimer()
            promise.succeed(SMTPTLSInfo(protocolVersion: description, cipher: "unknown", peerCertificate: peer))
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if case .handshaking(let promise, _) = tlsStep {
            tlsStep = nil
            promise.fail(SMTPClientError.tlsFailed(describeTLSError?(error) ?? Self.describeTLSFailure(error)))
        }
        failAll(SMTPClientError.protocolError("\(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .handshaking(let promise, _) = tlsStep {
            tlsStep = nil
            promise.fail(SMTPClientError.tlsFailed("handshake failed: the server closed the connection"))
        }
        failAll(SMTPClientError.connectionClosed)
        timer?.cancel()
        timer = nil
        setupFinished()
        context.fireChannelInactive()
    }

    /// Turns a BoringSSL handshake error into the words admins know from
    /// appliance logs (`verify error: certificate verify failed`).
    /// The STARTTLS request's error wording, for the handshake under way.
    private var describeTLSError: (@Sendable (any Error) -> String)?

    static func describeTLSFailure(_ error: Error) -> String {
        let text = "\(error)"
        if text.contains("CERTIFICATE_VERIFY_FAILED") { return "verify error: certificate verify failed (\(text))" }
        if text.contains("NO_CERTIFICATE") || text.contains("PEER_DID_NOT_RETURN_A_CERTIFICATE") {
            return "verify error: no certificate from server"
        }
        return "handshake failed: \(text)"
    }

    /// Fails every outstanding reply and the STARTTLS step with `error`.
    private func failAll(_ error: Error) {
        switch tlsStep {
        case .awaitingReply(let request): request.promise.fail(error)
        case .handshaking(let promise, _): promise.fail(error)
        case nil: break
        }
        tlsStep = nil
        while let promise = waiting.popFirst() { promise.fail(error) }
    }
}

extension TLSVersion {
    /// `TLSv1.3`, as mail_logs and OpenSSL print it.
    public var mailLogName: String {
        switch self {
        case .tlsv1: "TLSv1"
        case .tlsv11: "TLSv1.1"
        case .tlsv12: "TLSv1.2"
        case .tlsv13: "TLSv1.3"
        }
    }
}
