import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Testing
@testable import SMTPProtocol

/// What the per-connection delegates of a real listener saw.
final class SharedRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var _tls: [String] = []
    private var _mailFroms: [SMTPTransaction] = []
    private var _closed: [String] = []

    var tls: [String] { lock.withLock { _tls } }
    var mailFroms: [SMTPTransaction] { lock.withLock { _mailFroms } }
    var closed: [String] { lock.withLock { _closed } }

    func recordTLS(_ text: String) { lock.withLock { _tls.append(text) } }
    func recordMail(_ transaction: SMTPTransaction) { lock.withLock { _mailFroms.append(transaction) } }
    func recordClosed(_ reason: String) { lock.withLock { _closed.append(reason) } }
}

final class LoopbackDelegate: SMTPServerDelegate {
    let recorder: SharedRecorder

    init(recorder: SharedRecorder) {
        self.recorder = recorder
    }

    func connectionOpened(_ info: SMTPConnectionInfo, eventLoop: any EventLoop) -> EventLoopFuture<SMTPConnectionDecision> {
        eventLoop.makeSucceededFuture(.accept(SMTPSessionPolicy(), greeting: "loopback"))
    }

    func tlsEstablished(protocolVersion: String, cipher: String) {
        recorder.recordTLS(protocolVersion)
    }

    func mailFrom(_ transaction: SMTPTransaction, eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
        recorder.recordMail(transaction)
        return eventLoop.makeSucceededFuture(SMTPReply(250, .init(2, 1, 0), "Ok"))
    }

    func rcptTo(_ recipient: String, transaction: SMTPTransaction, eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
        eventLoop.makeSucceededFuture(SMTPReply(250, .init(2, 1, 5), "Ok"))
    }

    func messageReceived(_ transaction: SMTPTransaction, body: ByteBuffer, eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
        eventLoop.makeSucceededFuture(SMTPReply(250, .init(2, 0, 0), "Ok: queued"))
    }

    func transactionAborted(_ transaction: SMTPTransaction) {}

    func connectionClosed(reason: String) {
        recorder.recordClosed(reason)
    }
}

/// Client side: yields each complete reply (all its lines).
final class ReplyCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let continuation: AsyncStream<String>.Continuation
    var pending = ""
    var reply = ""

    init(_ continuation: AsyncStream<String>.Continuation) {
        self.continuation = continuation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending += String(buffer: unwrapInboundIn(data))
        while let range = pending.range(of: "\r\n") {
            let line = String(pending[..<range.lowerBound])
            pending.removeSubrange(..<range.upperBound)
            reply += line + "\r\n"
            if line.count >= 4, line[line.index(line.startIndex, offsetBy: 3)] == " " {
                continuation.yield(reply)
                reply = ""
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
    }
}

@Suite struct SMTPServerLoopbackTests {
    func connect(group: any EventLoopGroup, port: Int) async throws -> (any Channel, AsyncStream<String>) {
        let (stream, continuation) = AsyncStream<String>.makeStream()
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ReplyCollector(continuation))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        return (channel, stream)
    }

    @Test(.timeLimit(.minutes(1)))
    func startTLSHandshakeThenSecondStartTLSIs503() async throws {
        let certificate = try TestCertificate()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let recorder = SharedRecorder()
        let configuration = SMTPServerConfiguration(listenerName: "IncomingMail", hostname: "mx.test", tlsContext: try certificate.serverContext())
        let server = try await SMTPServer.bind(host: "127.0.0.1", port: 0, group: group, configuration: configuration) {
            LoopbackDelegate(recorder: recorder)
        }.get()
        let port = try #require(server.localAddress?.port)
        let (client, stream) = try await connect(group: group, port: port)
        var replies = stream.makeAsyncIterator()

        #expect(await replies.next() == "220 mx.test ESMTP loopback\r\n")
        try await client.writeAndFlush(ByteBuffer(string: "EHLO client\r\n")).get()
        #expect(await replies.next()?.contains("250-STARTTLS\r\n") == true)
        try await client.writeAndFlush(ByteBuffer(string: "STARTTLS\r\n")).get()
        #expect(await replies.next() == "220 2.0.0 Ready to start TLS\r\n")

        let clientContext = try certificate.clientContext()
        try await client.eventLoop.submit {
            let tls = try NIOSSLClientHandler(context: clientContext, serverHostname: "localhost")
            try client.pipeline.syncOperations.addHandler(tls, position: .first)
        }.get()

        try await client.writeAndFlush(ByteBuffer(string: "EHLO client\r\n")).get()
        let ehlo = await replies.next()
        #expect(ehlo?.hasPrefix("250-mx.test Hello client") == true)
        #expect(ehlo?.contains("STARTTLS") == false)
        try await client.writeAndFlush(ByteBuffer(string: "STARTTLS\r\nMAIL FROM:<a@b.example>\r\n")).get()
        #expect(await replies.next() == "503 5.5.1 Error: TLS already active\r\n")
        #expect(await replies.next() == "250 2.1.0 Ok\r\n")
        try await client.writeAndFlush(ByteBuffer(string: "QUIT\r\n")).get()
        #expect(await replies.next() == "221 2.0.0 mx.test closing connection\r\n")
        #expect(await replies.next() == nil)

        #expect(recorder.tls.first?.hasPrefix("TLSv1.") == true)
        #expect(recorder.mailFroms.first?.tls == true)
        try await server.close()
        try await group.shutdownGracefully()
    }

    @Test(.timeLimit(.minutes(1)))
    func aSuspendedGateRefusesNewConnectionsAndOpenSessionsGoOn() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let recorder = SharedRecorder()
        let gate = SMTPListenerGate()
        let configuration = SMTPServerConfiguration(listenerName: "IncomingMail", hostname: "mx.test")
        let server = try await SMTPServer.bind(host: "127.0.0.1", port: 0, group: group, configuration: configuration, gate: gate) {
            LoopbackDelegate(recorder: recorder)
        }.get()
        let port = try #require(server.localAddress?.port)
        let (open, openStream) = try await connect(group: group, port: port)
        var openReplies = openStream.makeAsyncIterator()
        #expect(await openReplies.next()?.hasPrefix("220 ") == true)

        gate.suspend(reply: SMTPListenerGate.suspendedReply(hostname: "mx.test", listener: "IncomingMail"))
        let (_, refusedStream) = try await connect(group: group, port: port)
        var refused = refusedStream.makeAsyncIterator()
        #expect(await refused.next() == "421 4.3.2 mx.test Service not available, listener IncomingMail suspended by the administrator, try again later\r\n")
        #expect(await refused.next() == nil)
        // The session opened before goes on.
        try await open.writeAndFlush(ByteBuffer(string: "NOOP\r\n")).get()
        #expect(await openReplies.next()?.hasPrefix("250 ") == true)

        gate.resume()
        let (again, againStream) = try await connect(group: group, port: port)
        var againReplies = againStream.makeAsyncIterator()
        #expect(await againReplies.next()?.hasPrefix("220 ") == true)
        try await again.close()
        try await open.close()
        try await server.close()
        try await group.shutdownGracefully()
    }

    @Test(.timeLimit(.minutes(1)))
    func connectionLimit() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let recorder = SharedRecorder()
        let configuration = SMTPServerConfiguration(listenerName: "IncomingMail", hostname: "mx.test")
        let server = try await SMTPServer.bind(host: "127.0.0.1", port: 0, group: group, configuration: configuration, maxConnections: 1) {
            LoopbackDelegate(recorder: recorder)
        }.get()
        let port = try #require(server.localAddress?.port)
        let (first, firstStream) = try await connect(group: group, port: port)
        var firstReplies = firstStream.makeAsyncIterator()
        #expect(await firstReplies.next()?.hasPrefix("220 ") == true)
        let (_, secondStream) = try await connect(group: group, port: port)
        var secondReplies = secondStream.makeAsyncIterator()
        #expect(await secondReplies.next() == "421 4.3.2 Too many concurrent connections, try again later\r\n")
        #expect(await secondReplies.next() == nil)
        try await first.close()
        try await server.close()
        try await group.shutdownGracefully()
    }
}
