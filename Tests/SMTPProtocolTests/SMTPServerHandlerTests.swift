import NIOCore
import NIOEmbedded
import NIOSSL
import Testing
@testable import SMTPProtocol

@Suite struct SMTPServerHandlerTests {
    static let envelope = "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"

    func configuration(
        tlsContext: NIOSSLContext? = nil,
        maxBadCommands: Int = SMTPDefaults.maxBadCommands,
        commandTimeout: TimeAmount = .seconds(300),
        greetingDelay: TimeAmount = .zero
    ) -> SMTPServerConfiguration {
        SMTPServerConfiguration(
            listenerName: "IncomingMail", hostname: "mx.test", tlsContext: tlsContext,
            maxBadCommands: maxBadCommands, commandTimeout: commandTimeout,
            minimumDataRate: 100, dataRateWindow: .seconds(30), greetingDelay: greetingDelay
        )
    }

    @Test func greetingAndConnectionInfo() throws {
        let server = try EmbeddedSMTPServer()
        #expect(try server.output() == "220 mx.test ESMTP Lazaret\r\n")
        #expect(server.delegate.infos.first?.listenerName == "IncomingMail")
        #expect(server.delegate.infos.first?.remoteAddress == "192.0.2.7")
        #expect(server.delegate.infos.first?.remotePort == 40000)
    }

    @Test func pipelinedCommandsAnsweredInOrder() throws {
        let server = try EmbeddedSMTPServer()
        _ = try server.output()
        try server.send("EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nRCPT TO:<e@f.example>\r\nDATA\r\n")
        #expect(try server.replies() == [
            "250 HELP",
            "250 2.1.0 Sender ok",
            "250 2.1.5 Recipient ok",
            "250 2.1.5 Recipient ok",
            "354 End data with <CR><LF>.<CR><LF>",
        ])
        try server.send("Subject: hi\r\n\r\n..dot\r\nbody\r\n.\r\n")
        #expect(try server.replies() == ["250 2.0.0 Ok: queued"])
        let (transaction, body) = try #require(server.delegate.messages.first)
        #expect(String(buffer: body) == "Subject: hi\r\n\r\n.dot\r\nbody\r\n")
        #expect(transaction.mailFrom == "a@b.example")
        #expect(transaction.recipients == ["c@d.example", "e@f.example"])
        #expect(transaction.heloName == "client.example")
        #expect(!transaction.tls)
    }

    @Test func pipelinedCommandsWaitForTheDelegate() throws {
        let delegate = RecordingDelegate()
        delegate.holdMail = true
        let server = try EmbeddedSMTPServer(delegate: delegate)
        try server.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nNOOP\r\n")
        #expect(try server.replies() == ["220 mx.test ESMTP Lazaret"], "EHLO reply waits in the batch, nothing after MAIL runs")
        #expect(delegate.recipients.isEmpty)
        #expect(server.handler.bufferedByteCount > 0)
        let promise = try #require(delegate.heldMail)
        promise.succeed(SMTPReply(250, .init(2, 1, 0), "Later"))
        #expect(try server.replies() == ["250 HELP", "250 2.1.0 Later", "250 2.1.5 Recipient ok", "250 2.0.0 Ok"])
        #expect(delegate.recipients == ["c@d.example"])
    }

    @Test func refusedSenderLeavesNoTransaction() throws {
        let delegate = RecordingDelegate()
        delegate.mailReply = SMTPReply(550, .init(5, 7, 1), "Sender refused")
        let server = try EmbeddedSMTPServer(delegate: delegate)
        _ = try server.output()
        try server.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n")
        #expect(try server.replies() == ["250 HELP", "550 5.7.1 Sender refused", "503 5.5.1 Error: need MAIL command"])
        #expect(delegate.recipients.isEmpty)
    }

    @Test(arguments: [
        "line\nbare LF\r\n",
        "a\n.\r\nstill data\r\n",
        "a\n.\nstill data\r\n",
        "a\r.\rstill data\r\n",
    ])
    func bareLineEndingsRejectTheMessageAfterTheRealEnd(body: String) throws {
        let server = try EmbeddedSMTPServer()
        try server.send("EHLO c\r\n" + Self.envelope)
        _ = try server.output()
        try server.send(body)
        #expect(try server.output() == "", "the data must not end at a bare line ending")
        try server.send(".\r\nNOOP\r\n")
        #expect(try server.replies() == [
            "550 5.6.11 Message rejected: bare CR or LF in data (RFC 5321 section 2.3.8); use CRLF line endings",
            "250 2.0.0 Ok",
        ])
        #expect(server.delegate.messages.isEmpty)
        #expect(server.delegate.aborted.count == 1)
    }

    @Test func textLineOf1001OctetsRejected() throws {
        let server = try EmbeddedSMTPServer()
        try server.send("EHLO c\r\n" + Self.envelope)
        _ = try server.output()
        try server.send(String(repeating: "x", count: 999) + "\r\n.\r\n")
        let replies = try server.replies()
        #expect(replies.count == 1)
        #expect(replies.first?.hasPrefix("500 5.5.2") == true)
        #expect(server.delegate.messages.isEmpty)
    }

    @Test func bodyBeforeThe354IsAProtocolViolation() throws {
        let server = try EmbeddedSMTPServer()
        _ = try server.output()
        try server.send("EHLO c\r\n" + Self.envelope + "Subject: too early\r\n")
        let replies = try server.replies()
        #expect(replies.last?.hasPrefix("554 5.5.0") == true)
        #expect(!replies.contains { $0.hasPrefix("354") })
        #expect(!server.channel.isActive)
        #expect(server.delegate.aborted.count == 1)
        #expect(server.delegate.closedReasons.count == 1)
    }

    @Test func earlyTalkerDuringGreetingDelay() throws {
        let server = try EmbeddedSMTPServer(configuration: configuration(greetingDelay: .seconds(2)))
        #expect(try server.output() == "")
        try server.send("EHLO impatient\r\n")
        #expect(try server.replies().first?.hasPrefix("554 5.5.0") == true)
        #expect(!server.channel.isActive)
        server.channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(try server.output() == "", "no greeting after the close")
        #expect(server.delegate.closedReasons == ["early talker"])
    }

    @Test func patientClientGetsDelayedGreeting() throws {
        let server = try EmbeddedSMTPServer(configuration: configuration(greetingDelay: .seconds(2)))
        server.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(try server.output() == "220 mx.test ESMTP Lazaret\r\n")
        try server.send("EHLO patient\r\n")
        #expect(try server.replies() == ["250 HELP"])
    }

    @Test func invalidCharactersInArguments() throws {
        let server = try EmbeddedSMTPServer()
        _ = try server.output()
        try server.send("EHLO a\0b\r\nEHLO a\rb\r\nHELO c\r\nMAIL FROM:<a\0@b.example>\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c\r@d.example>\r\nRCPT TO:<c@d\0.example>\r\n")
        let replies = try server.replies()
        #expect(replies.map { String($0.prefix(9)) } == ["501 5.5.4", "501 5.5.4", "250 mx.te", "501 5.5.4", "250 2.1.0", "501 5.5.4", "501 5.5.4"])
        #expect(server.delegate.mailFroms.count == 1)
        #expect(server.delegate.recipients.isEmpty)
    }

    @Test func sizeOverLimit() throws {
        let server = try EmbeddedSMTPServer(delegate: RecordingDelegate(policy: SMTPSessionPolicy(maxMessageSize: 1000)))
        _ = try server.output()
        try server.send("EHLO c\r\n")
        #expect(try server.output().contains("250-SIZE 1000\r\n"))
        try server.send("MAIL FROM:<a@b.example> SIZE=1001\r\n")
        #expect(try server.replies() == ["552 5.3.4 Message size exceeds fixed maximum message size"])
        #expect(server.delegate.mailFroms.isEmpty)
    }

    @Test func messageOverSizeLimitRejectedAtTheEnd() throws {
        let server = try EmbeddedSMTPServer(delegate: RecordingDelegate(policy: SMTPSessionPolicy(maxMessageSize: 100)))
        try server.send("EHLO c\r\n" + Self.envelope)
        _ = try server.output()
        for _ in 0..<10 { try server.send(String(repeating: "y", count: 50) + "\r\n") }
        #expect(server.handler.messageByteCount == 0)
        try server.send(".\r\n")
        #expect(try server.replies() == ["552 5.3.4 Message size exceeds fixed maximum message size"])
    }

    @Test func tooManyRecipients() throws {
        let server = try EmbeddedSMTPServer(delegate: RecordingDelegate(policy: SMTPSessionPolicy(maxRecipientsPerMessage: 2)))
        _ = try server.output()
        try server.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<1@x.example>\r\nRCPT TO:<2@x.example>\r\nRCPT TO:<3@x.example>\r\n")
        #expect(try server.replies().last == "452 4.5.3 Too many recipients")
        #expect(server.delegate.recipients == ["1@x.example", "2@x.example"])
    }

    @Test func badCommandCap() throws {
        let server = try EmbeddedSMTPServer(configuration: configuration(maxBadCommands: 3))
        _ = try server.output()
        try server.send("FOO\r\nBAR\r\nBAZ\r\nQUUX\r\nNOOP\r\n")
        #expect(try server.replies() == [
            "500 5.5.2 Error: command not recognized",
            "500 5.5.2 Error: command not recognized",
            "500 5.5.2 Error: command not recognized",
            "421 4.7.0 Too many errors, closing connection",
        ])
        #expect(!server.channel.isActive)
        #expect(server.delegate.closedReasons == ["too many errors"])
    }

    @Test func tenMegabyteCommandLineWithoutLF() throws {
        let server = try EmbeddedSMTPServer(configuration: configuration(commandTimeout: .seconds(300)))
        _ = try server.output()
        let piece = ByteBuffer(repeating: UInt8(ascii: "M"), count: 64 * 1024)
        var maxBuffered = 0
        for _ in 0..<160 {
            try server.send(piece)
            maxBuffered = max(maxBuffered, server.handler.bufferedByteCount)
        }
        #expect(maxBuffered <= SMTPDefaults.maxCommandLineLength)
        #expect(try server.output() == "")
        try server.send("\r\nNOOP\r\n")
        #expect(try server.replies() == ["500 5.5.2 Line too long", "250 2.0.0 Ok"])
    }

    @Test func tenMegabyteDataLineWithoutLF() throws {
        let server = try EmbeddedSMTPServer()
        try server.send("EHLO c\r\n" + Self.envelope)
        _ = try server.output()
        let piece = ByteBuffer(repeating: UInt8(ascii: "D"), count: 64 * 1024)
        var maxKept = 0
        for _ in 0..<160 {
            try server.send(piece)
            maxKept = max(maxKept, server.handler.bufferedByteCount + server.handler.messageByteCount)
        }
        #expect(maxKept <= SMTPDefaults.maxTextLineLength + 3)
        try server.send("\r\n.\r\n")
        let replies = try server.replies()
        #expect(replies.count == 1)
        #expect(replies.first?.hasPrefix("500 5.5.2") == true)
        #expect(server.delegate.messages.isEmpty)
    }

    @Test func bdatChunks() throws {
        let server = try EmbeddedSMTPServer()
        _ = try server.output()
        try server.send("EHLO c\r\nMAIL FROM:<a@b.example> BODY=8BITMIME\r\nRCPT TO:<c@d.example>\r\nBDAT 7\r\nhel\r\n.\r")
        try server.send("BDAT 9 LAST\r\n\n world\r\n")
        #expect(try server.replies() == ["250 HELP", "250 2.1.0 Sender ok", "250 2.1.5 Recipient ok", "250 2.0.0 7 octets received", "250 2.0.0 Ok: queued"])
        #expect(String(buffer: try #require(server.delegate.messages.first).1) == "hel\r\n.\r\n world\r\n")
    }

    @Test func binaryMIMEIsRefusedAtMail() throws {
        let server = try EmbeddedSMTPServer()
        _ = try server.output()
        try server.send("EHLO c\r\n")
        #expect(try server.output().contains("BINARYMIME") == false, "not announced")
        try server.send("MAIL FROM:<a@b.example> BODY=BINARYMIME\r\nMAIL FROM:<a@b.example> BODY=8BITMIME\r\n")
        #expect(try server.replies() == [
            "555 5.5.4 BODY=BINARYMIME is not supported; send 8BITMIME with CRLF line endings",
            "250 2.1.0 Sender ok",
        ])
        #expect(server.delegate.mailFroms.count == 1)
    }

    @Test(arguments: ["hel\nlo\r\n", "hel\rlo\r\n", "hello\r"])
    func bdatBareLineEndingsAre550(chunk: String) throws {
        let server = try EmbeddedSMTPServer()
        try server.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n")
        _ = try server.output()
        try server.send("BDAT \(chunk.utf8.count) LAST\r\n\(chunk)NOOP\r\n")
        #expect(try server.replies() == [
            "550 5.6.11 Message rejected: bare CR or LF in data (RFC 5321 section 2.3.8); use CRLF line endings",
            "250 2.0.0 Ok",
        ])
        #expect(server.delegate.messages.isEmpty)
        #expect(server.delegate.aborted.count == 1)
    }

    @Test func bdatSizeLimit() throws {
        let server = try EmbeddedSMTPServer(delegate: RecordingDelegate(policy: SMTPSessionPolicy(maxMessageSize: 10)))
        try server.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n")
        _ = try server.output()
        try server.send("BDAT 8\r\n12345678BDAT 8 LAST\r\n12345678NOOP\r\n")
        #expect(try server.replies() == [
            "250 2.0.0 8 octets received",
            "552 5.3.4 Message size exceeds fixed maximum message size",
            "250 2.0.0 Ok",
        ])
        #expect(server.delegate.messages.isEmpty)
        #expect(server.delegate.aborted.count == 1)
    }

    @Test func delegateFailureIs451() throws {
        let delegate = RecordingDelegate()
        delegate.failMessages = true
        let server = try EmbeddedSMTPServer(delegate: delegate)
        try server.send("EHLO c\r\n" + Self.envelope)
        _ = try server.output()
        try server.send("x\r\n.\r\n")
        #expect(try server.replies() == ["451 4.3.0 Local error in processing, try again later"])
    }

    @Test func quitCloses() throws {
        let server = try EmbeddedSMTPServer()
        _ = try server.output()
        try server.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nQUIT\r\nNOOP\r\n")
        #expect(try server.replies() == ["250 HELP", "250 2.1.0 Sender ok", "221 2.0.0 mx.test closing connection"])
        #expect(!server.channel.isActive)
        #expect(server.delegate.aborted.count == 1)
        #expect(server.delegate.closedReasons == ["QUIT"])
    }

    @Test func rejectDecision() throws {
        let delegate = RecordingDelegate(decision: .reject(SMTPReply(554, .init(5, 7, 1), "Access denied")))
        let server = try EmbeddedSMTPServer(delegate: delegate)
        #expect(try server.replies() == ["554 5.7.1 Access denied"])
        try server.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nQUIT\r\n")
        #expect(try server.replies() == ["503 5.5.1 Bad sequence of commands", "503 5.5.1 Bad sequence of commands", "221 2.0.0 mx.test closing connection"])
        #expect(!server.channel.isActive)
        #expect(delegate.mailFroms.isEmpty)
    }

    @Test func refuseDecisionClosesSilently() throws {
        let server = try EmbeddedSMTPServer(delegate: RecordingDelegate(decision: .refuse))
        #expect(try server.output() == "")
        #expect(!server.channel.isActive)
        #expect(server.delegate.closedReasons == ["refused"])
    }

    @Test func commandTimeout() throws {
        let server = try EmbeddedSMTPServer(configuration: configuration(commandTimeout: .seconds(10)))
        _ = try server.output()
        server.channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        try server.send("NOOP\r\n")
        server.channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        #expect(try server.replies() == ["250 2.0.0 Ok"], "a command resets the deadline")
        try server.send("NO")
        server.channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(try server.replies() == ["421 4.4.2 mx.test Error: timeout exceeded"])
        #expect(!server.channel.isActive)
        #expect(server.delegate.closedReasons == ["timeout"])
    }

    @Test func slowDataIsDropped() throws {
        let server = try EmbeddedSMTPServer()
        try server.send("EHLO c\r\n" + Self.envelope)
        _ = try server.output()
        try server.send("a few bytes\r\n")
        server.channel.embeddedEventLoop.advanceTime(by: .seconds(31))
        #expect(try server.replies() == ["421 4.4.2 mx.test Error: timeout exceeded"])
        #expect(!server.channel.isActive)
        #expect(server.delegate.aborted.count == 1)
    }

    /// Counts the reads that reach the socket side of the pipeline.
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var reads = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    /// Holds every write without completing it (a client that never reads);
    /// the held promises fail when the channel closes.
    final class StuckWrites: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var held: [EventLoopPromise<Void>] = []
        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if let promise { held.append(promise) }
        }
        func flush(context: ChannelHandlerContext) {}
        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            for promise in held { promise.fail(ChannelError.ioOnClosedChannel) }
            held = []
            context.close(mode: mode, promise: promise)
        }
    }

    @Test func unwritableChannelStopsReadingAndProcessingUntilWritable() throws {
        let server = try EmbeddedSMTPServer()
        let counter = ReadCounter()
        try server.channel.pipeline.syncOperations.addHandler(counter, position: .first)
        _ = try server.output()
        server.channel.isWritable = false
        server.channel.pipeline.fireChannelWritabilityChanged()
        try server.send(String(repeating: "NOOP\r\n", count: 100))
        server.channel.read()
        #expect(counter.reads == 0, "no read while our replies cannot be written")
        #expect(try server.replies().isEmpty, "pipelined commands wait instead of piling up replies")
        #expect(server.handler.bufferedByteCount == 600)

        server.channel.isWritable = true
        server.channel.pipeline.fireChannelWritabilityChanged()
        #expect(try server.replies() == Array(repeating: "250 2.0.0 Ok", count: 100))
        #expect(counter.reads == 1, "reading resumes once the client has read")
        server.channel.read()
        #expect(counter.reads == 2)
    }

    @Test func closingReplyThatCannotBeWrittenStillCloses() throws {
        let server = try EmbeddedSMTPServer()
        _ = try server.output()
        try server.channel.pipeline.syncOperations.addHandler(StuckWrites(), position: .first)
        try server.send("QUIT\r\n")
        #expect(server.channel.isActive, "the 221 gets its chance first")
        server.channel.embeddedEventLoop.advanceTime(by: .seconds(SMTPDefaults.closeTimeoutSeconds + 1))
        #expect(!server.channel.isActive, "closed without the 221")
        #expect(server.delegate.closedReasons == ["QUIT"])
    }

    @Test func shutdownEndsAnIdleSessionAtOnce() throws {
        let server = try EmbeddedSMTPServer()
        try server.send("EHLO c\r\n")
        _ = try server.output()
        server.channel.pipeline.fireUserInboundEventTriggered(SMTPServerShutdownEvent())
        #expect(try server.replies() == ["421 4.3.2 mx.test Service shutting down, try again later"])
        #expect(!server.channel.isActive)
        #expect(server.delegate.closedReasons == ["shutdown"])
    }

    @Test func shutdownLetsTheTransactionInProgressFinish() throws {
        let server = try EmbeddedSMTPServer()
        try server.send("EHLO c\r\n" + Self.envelope)
        _ = try server.output()
        server.channel.pipeline.fireUserInboundEventTriggered(SMTPServerShutdownEvent())
        #expect(try server.output() == "")
        #expect(server.channel.isActive)
        try server.send("Subject: late\r\n\r\nbody\r\n.\r\nNOOP\r\n")
        #expect(try server.replies() == ["250 2.0.0 Ok: queued", "421 4.3.2 mx.test Service shutting down, try again later"])
        #expect(server.delegate.messages.count == 1)
        #expect(!server.channel.isActive)
        #expect(server.delegate.aborted.isEmpty)
    }

    @Test func startTLSDiscardsPipelinedCommands() throws {
        let certificate = try TestCertificate()
        let server = try EmbeddedSMTPServer(configuration: configuration(tlsContext: try certificate.serverContext()))
        _ = try server.output()
        try server.send("EHLO c\r\n")
        #expect(try server.output().contains("250-STARTTLS\r\n"))
        try server.send("STARTTLS\r\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<victim@y.example>\r\n")
        let output = try server.output()
        #expect(output == "220 2.0.0 Ready to start TLS\r\n")
        #expect(server.handler.bufferedByteCount == 0)
        #expect(server.delegate.mailFroms.isEmpty)
        #expect(server.delegate.recipients.isEmpty)
        _ = try server.channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
    }

    @Test func startTLSWithoutContextOrWithArguments() throws {
        let server = try EmbeddedSMTPServer()
        _ = try server.output()
        try server.send("EHLO c\r\nSTARTTLS\r\n")
        #expect(try server.replies().last == "454 4.7.0 TLS not available")
        let certificate = try TestCertificate()
        let tlsServer = try EmbeddedSMTPServer(configuration: configuration(tlsContext: try certificate.serverContext()))
        _ = try tlsServer.output()
        try tlsServer.send("EHLO c\r\nSTARTTLS now\r\n")
        #expect(try tlsServer.replies().last?.hasPrefix("501 5.5.4") == true)
    }
}
