import Foundation
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOSSL
import Testing
@testable import SMTPProtocol

/// A delegate for the extension points: extension verbs, EHLO keywords by
/// TLS state, session resets, the TLS info with the peer certificate.
final class ExtensionDelegate: SMTPServerDelegate {
    var keywords: (Bool) -> [String] = { tls in tls ? ["XTEST 1 2"] : [] }
    var answer: (String, String, SMTPTransaction?) -> SMTPReply = { verb, argument, _ in
        SMTPReply(250, .init(2, 0, 0), "\(verb) \(argument) ok")
    }
    /// When set, extension commands are answered only when the test completes `held`.
    var holdExtension = false
    var held: EventLoopPromise<SMTPReply>?

    var extensionCalls: [(verb: String, argument: String, inTransaction: Bool)] = []
    var events: [String] = []
    var tlsInfos: [SMTPTLSInfo] = []
    var messages: [ByteBuffer] = []

    func connectionOpened(_ info: SMTPConnectionInfo, eventLoop: any EventLoop) -> EventLoopFuture<SMTPConnectionDecision> {
        eventLoop.makeSucceededFuture(.accept(SMTPSessionPolicy(), greeting: "ext"))
    }

    func tlsEstablished(protocolVersion: String, cipher: String) {
        events.append("old tlsEstablished")
    }

    func tlsEstablished(_ info: SMTPTLSInfo) {
        tlsInfos.append(info)
        events.append("tls")
    }

    func ehloKeywords(tls: Bool) -> [String] {
        events.append("keywords tls=\(tls)")
        return keywords(tls)
    }

    func extensionCommand(_ verb: String, argument: String, transaction: SMTPTransaction?,
                          eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
        extensionCalls.append((verb, argument, transaction != nil))
        if holdExtension {
            let promise = eventLoop.makePromise(of: SMTPReply.self)
            held = promise
            return promise.futureResult
        }
        return eventLoop.makeSucceededFuture(answer(verb, argument, transaction))
    }

    func sessionReset() {
        events.append("reset")
    }

    func mailFrom(_ transaction: SMTPTransaction, eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
        events.append("mail")
        return eventLoop.makeSucceededFuture(SMTPReply(250, .init(2, 1, 0), "Ok"))
    }

    func rcptTo(_ recipient: String, transaction: SMTPTransaction, eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
        eventLoop.makeSucceededFuture(SMTPReply(250, .init(2, 1, 5), "Ok"))
    }

    func messageReceived(_ transaction: SMTPTransaction, body: ByteBuffer, eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
        messages.append(body)
        return eventLoop.makeSucceededFuture(SMTPReply(250, .init(2, 0, 0), "Ok: queued"))
    }

    func transactionAborted(_ transaction: SMTPTransaction) {
        events.append("aborted")
    }

    func connectionClosed(reason: String) {
        events.append("closed \(reason)")
    }
}

/// The same delegate shared by the connections of a real listener.
final class SharedExtensionDelegate: @unchecked Sendable {
    let lock = NSLock()
    private var _delegates: [ExtensionDelegate] = []
    var delegates: [ExtensionDelegate] { lock.withLock { _delegates } }

    func make(_ configure: (ExtensionDelegate) -> Void = { _ in }) -> ExtensionDelegate {
        let delegate = ExtensionDelegate()
        configure(delegate)
        lock.withLock { _delegates.append(delegate) }
        return delegate
    }
}

@Suite struct SMTPExtensionPointsTests {
    func embedded(_ delegate: ExtensionDelegate = ExtensionDelegate(), requireTLS: Bool = false,
                  extensionVerbs: Set<String> = ["XTEST"], maxBadCommands: Int = 10) throws -> (EmbeddedChannel, ExtensionDelegate) {
        let configuration = SMTPServerConfiguration(listenerName: "L", hostname: "mx.test", maxBadCommands: maxBadCommands,
                                                    requireTLS: requireTLS, extensionVerbs: extensionVerbs)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(SMTPServerHandler(configuration: configuration, delegate: delegate))
        try channel.connect(to: SocketAddress(ipAddress: "192.0.2.7", port: 40000)).wait()
        return (channel, delegate)
    }

    func replies(_ channel: EmbeddedChannel) throws -> [String] {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return EmbeddedSMTPServer.finalLines(text)
    }

    func output(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    // MARK: - Parser

    @Test func extensionVerbsParseAsExtended() throws {
        #expect(try SMTPCommandParser.parse("XTEST a  b=c ", extensionVerbs: ["XTEST"]) == .extended(verb: "XTEST", argument: "a  b=c "))
        #expect(try SMTPCommandParser.parse("xtest", extensionVerbs: ["XTEST"]) == .extended(verb: "XTEST", argument: ""))
        #expect(try SMTPCommandParser.parse("XTEST a") == .unknown(verb: "XTEST"), "not declared: unknown")
        #expect(try SMTPCommandParser.parse("NOOP", extensionVerbs: ["NOOP"]) == .noop, "standard verbs stay standard")
        #expect(throws: SMTPCommandParseError.self) { try SMTPCommandParser.parse(bytes: Array("XTEST \u{FF}".utf8) + [0xFF], extensionVerbs: ["XTEST"]) }
    }

    // MARK: - Server

    @Test func extensionCommandsGoToTheDelegateInOrder() throws {
        let (channel, delegate) = try embedded()
        try channel.writeInbound(ByteBuffer(string: "EHLO c\r\nXTEST one\r\nMAIL FROM:<a@b.example>\r\nxtest two 2\r\nNOOP\r\n"))
        #expect(try replies(channel) == ["220 mx.test ESMTP ext", "250 HELP", "250 2.0.0 XTEST one ok", "250 2.1.0 Ok",
                                         "250 2.0.0 XTEST two 2 ok", "250 2.0.0 Ok"])
        #expect(delegate.extensionCalls.map(\.argument) == ["one", "two 2"])
        #expect(delegate.extensionCalls.map(\.inTransaction) == [false, true])
    }

    @Test func pipelinedCommandsWaitForTheExtensionAnswer() throws {
        let delegate = ExtensionDelegate()
        delegate.holdExtension = true
        let (channel, _) = try embedded(delegate)
        try channel.writeInbound(ByteBuffer(string: "EHLO c\r\nXTEST slow\r\nNOOP\r\n"))
        #expect(try replies(channel) == ["220 mx.test ESMTP ext"], "the EHLO reply waits in the batch; NOOP waits for XTEST")
        try #require(delegate.held).succeed(SMTPReply(250, .init(2, 0, 0), "done"))
        #expect(try replies(channel) == ["250 HELP", "250 2.0.0 done", "250 2.0.0 Ok"])
    }

    @Test func defaultAnswerIs502AndRefusalsCountAsBadCommands() throws {
        final class Minimal: SMTPServerDelegate {
            func connectionOpened(_ info: SMTPConnectionInfo, eventLoop: any EventLoop) -> EventLoopFuture<SMTPConnectionDecision> {
                eventLoop.makeSucceededFuture(.accept(SMTPSessionPolicy(), greeting: ""))
            }
            func tlsEstablished(protocolVersion: String, cipher: String) {}
            func mailFrom(_ transaction: SMTPTransaction, eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
                eventLoop.makeSucceededFuture(SMTPReply(250, nil, "ok"))
            }
            func rcptTo(_ recipient: String, transaction: SMTPTransaction, eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
                eventLoop.makeSucceededFuture(SMTPReply(250, nil, "ok"))
            }
            func messageReceived(_ transaction: SMTPTransaction, body: ByteBuffer, eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
                eventLoop.makeSucceededFuture(SMTPReply(250, nil, "ok"))
            }
            func transactionAborted(_ transaction: SMTPTransaction) {}
            func connectionClosed(reason: String) {}
        }
        let configuration = SMTPServerConfiguration(listenerName: "L", hostname: "mx.test", maxBadCommands: 2, extensionVerbs: ["XTEST"])
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(SMTPServerHandler(configuration: configuration, delegate: Minimal()))
        try channel.connect(to: SocketAddress(ipAddress: "192.0.2.7", port: 40000)).wait()
        try channel.writeInbound(ByteBuffer(string: "EHLO c\r\nXTEST 1\r\nXTEST 2\r\nXTEST 3\r\nNOOP\r\n"))
        #expect(try replies(channel) == ["220 mx.test ESMTP", "250 HELP", "502 5.5.1 Command not implemented",
                                         "502 5.5.1 Command not implemented", "421 4.7.0 Too many errors, closing connection"])
        #expect(!channel.isActive)
    }

    @Test func a4xxExtensionAnswerIsNotABadCommand() throws {
        let delegate = ExtensionDelegate()
        delegate.answer = { _, _, _ in SMTPReply(452, .init(4, 3, 1), "full") }
        let (channel, _) = try embedded(delegate, maxBadCommands: 1)
        try channel.writeInbound(ByteBuffer(string: "XTEST 1\r\nXTEST 2\r\nXTEST 3\r\nNOOP\r\n"))
        #expect(try replies(channel) == ["220 mx.test ESMTP ext", "452 4.3.1 full", "452 4.3.1 full", "452 4.3.1 full", "250 2.0.0 Ok"])
    }

    @Test func extensionLinesKeepTheCommandLineLimit() throws {
        let (channel, delegate) = try embedded()
        _ = try output(channel)
        try channel.writeInbound(ByteBuffer(string: "XTEST " + String(repeating: "a", count: 510) + "\r\nNOOP\r\n"))
        #expect(try replies(channel) == ["500 5.5.2 Line too long", "250 2.0.0 Ok"])
        #expect(delegate.extensionCalls.isEmpty)
    }

    @Test func requireTLSRefusesEverythingButTheGreetingCommands() throws {
        let (channel, delegate) = try embedded(requireTLS: true)
        _ = try output(channel)
        try channel.writeInbound(ByteBuffer(string: "EHLO c\r\nHELO c\r\nNOOP\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<a@b.example>\r\n"
                                            + "DATA\r\nRSET\r\nVRFY x\r\nHELP\r\nXTEST 1\r\nBDAT 5 LAST\r\nhello"))
        let mustStartTLS = "530 5.7.0 Must issue a STARTTLS command first"
        #expect(try replies(channel) == ["250 HELP", "250 mx.test Hello c", "250 2.0.0 Ok"] + Array(repeating: mustStartTLS, count: 8))
        #expect(delegate.extensionCalls.isEmpty)
        #expect(!delegate.events.contains("mail"))
        try channel.writeInbound(ByteBuffer(string: "STARTTLS\r\n"))
        #expect(try replies(channel) == ["454 4.7.0 TLS not available"], "no TLS context: STARTTLS is not available")
        try channel.writeInbound(ByteBuffer(string: "QUIT\r\n"))
        #expect(try replies(channel) == ["221 2.0.0 mx.test closing connection"])
    }

    @Test func ehloKeywordsByTLSStateAndResets() throws {
        let delegate = ExtensionDelegate()
        delegate.keywords = { tls in tls ? ["XTEST 1"] : ["XPLAIN", "BAD\r\nINJECTED"] }
        let (channel, _) = try embedded(delegate)
        _ = try output(channel)
        try channel.writeInbound(ByteBuffer(string: "EHLO c\r\n"))
        #expect(try output(channel) == "250-mx.test Hello c\r\n250-PIPELINING\r\n250-SIZE 10485760\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
            + "250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-XPLAIN\r\n250 HELP\r\n")
        try channel.writeInbound(ByteBuffer(string: "MAIL FROM:<a@b.example>\r\nRSET\r\nRSET\r\nHELO d\r\n"))
        _ = try output(channel)
        #expect(delegate.events == ["keywords tls=false", "reset", "mail", "aborted", "reset", "reset", "reset"])
    }

    @Test func stateMachineAdditionalKeywordsAndExtensionAnswers() {
        var machine = SMTPServerStateMachine(configuration: .init(hostname: "mx.test", tlsAvailable: false, maxBadCommands: 1,
                                                                  extensionVerbs: ["xtest"]))
        machine.connectionOpened()
        _ = machine.connectionDecision(.success(.accept(SMTPSessionPolicy(), greeting: "")))
        _ = machine.greetingDue()
        machine.setAdditionalEHLOKeywords(["XTEST 1", "", "A\u{7}B"])
        #expect(machine.additionalEHLOKeywords == ["XTEST 1"])
        _ = machine.receivedBytes(ByteBuffer(string: "XTEST go\r\nXTEST again\r\n"))
        guard case .askExtension(let verb, let argument, let transaction) = machine.nextAction() else {
            Issue.record("expected askExtension")
            return
        }
        #expect(verb == "XTEST" && argument == "go" && transaction == nil)
        #expect(machine.shouldPauseReading && machine.isAwaitingDelegate)
        if case .wait = machine.nextAction() {} else { Issue.record("expected wait while the delegate decides") }
        guard case .send(let failed) = machine.extensionAnswered(.failure(ExtensionTestFailure())) else {
            Issue.record("expected a reply")
            return
        }
        #expect(failed.code == 451, "a failed future is a local error, not a bad command")
        guard case .askExtension = machine.nextAction() else {
            Issue.record("expected askExtension")
            return
        }
        guard case .send(let refused) = machine.extensionAnswered(.success(SMTPReply(501, .init(5, 5, 4), "no"))) else {
            Issue.record("expected a reply")
            return
        }
        #expect(refused.code == 501 && machine.badCommandCount == 1)
    }

    // MARK: - Client

    @Test func preambleTransactionStates() {
        var t = SMTPClientTransaction(mailFrom: "a@x", recipients: ["b@y", "c@y"], preamble: ["XTEST 1", "XTEST 2"], pipelining: true)
        #expect(t.state == .preamble)
        #expect(t.preambleCommands == ["XTEST 1\r\n", "XTEST 2\r\n"])
        #expect(t.receive(SMTPReply(250, nil, "ok")) == .awaitMoreReplies)
        #expect(t.state == .preamble)
        #expect(t.receive(SMTPReply(250, nil, "ok")) == .awaitMoreReplies)
        #expect(t.state == .envelope)

        var refused = SMTPClientTransaction(mailFrom: "a@x", recipients: ["b@y", "c@y"], preamble: ["XTEST 1", "XTEST 2"], pipelining: true)
        let no = SMTPReply(501, .init(5, 5, 4), "bad")
        #expect(refused.receive(no) == .finished)
        #expect(refused.state == .done && refused.needsReset)
        #expect(refused.results == [.failed(no), .failed(no)])
        #expect(refused.receive(SMTPReply(250, nil, "late")) == .finished, "the rest of a pipelined preamble is read and ignored")
        #expect(refused.results == [.failed(no), .failed(no)])

        var later = SMTPClientTransaction(mailFrom: "a@x", recipients: ["b@y"], preamble: ["XTEST 1"], pipelining: false)
        let busy = SMTPReply(452, .init(4, 3, 1), "full")
        #expect(later.receive(busy) == .finished)
        #expect(later.results == [.deferred(busy)])
    }

    @Test(.timeLimit(.minutes(1)))
    func clientPreambleSendCommandKeywordsAndPeerCertificates() async throws {
        let server = try TestCertificate()
        let client = try TestCertificate()
        var serverTLS = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(server.certificatePath).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: server.keyPath, format: .pem)))
        serverTLS.certificateVerification = .noHostnameVerification
        serverTLS.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(client.certificatePath))
        var clientTLS = TLSConfiguration.makeClientConfiguration()
        clientTLS.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(server.certificatePath))
        clientTLS.certificateChain = try NIOSSLCertificate.fromPEMFile(client.certificatePath).map { .certificate($0) }
        clientTLS.privateKey = .privateKey(try NIOSSLPrivateKey(file: client.keyPath, format: .pem))

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let shared = SharedExtensionDelegate()
        let configuration = SMTPServerConfiguration(listenerName: "L", hostname: "mx.test", tlsContext: try NIOSSLContext(configuration: serverTLS),
                                                    requireTLS: true, extensionVerbs: ["XTEST"])
        let listener = try await SMTPServer.bind(host: "127.0.0.1", port: 0, group: group, configuration: configuration) {
            shared.make { delegate in
                delegate.answer = { _, argument, _ in
                    argument == "refuse" ? SMTPReply(554, .init(5, 7, 1), "refused") : SMTPReply(250, .init(2, 0, 0), "noted \(argument)")
                }
            }
        }.get()
        let port = try #require(listener.localAddress?.port)
        let connection = try await SMTPClientConnection.connect(
            host: "127.0.0.1", port: port, group: group,
            options: SMTPClientOptions(localHostname: "client.test", tlsContext: try NIOSSLContext(configuration: clientTLS),
                                       tlsServerName: "localhost", tlsRequired: true))

        #expect(connection.extensions.parameters(of: "xtest") == ["1", "2"], "the keyword the delegate adds after TLS")
        #expect(connection.extensions.keywords["PIPELINING"] == [])
        #expect(connection.peerCertificate?.der == (try NIOSSLCertificate.fromPEMFile(server.certificatePath)[0].toDERBytes()))
        #expect(connection.peerCertificate?.fingerprint.count == 64)

        let ok = await connection.deliver(mailFrom: "a@x.test", recipients: ["b@y.test"], preamble: ["XTEST one", "XTEST two"],
                                          body: ByteBuffer(string: "Subject: x\r\n\r\nhi\r\n"))
        #expect(ok == [.delivered(SMTPReply(250, .init(2, 0, 0), "Ok: queued"))])
        let refused = await connection.deliver(mailFrom: "a@x.test", recipients: ["b@y.test", "c@y.test"],
                                               preamble: ["XTEST one", "XTEST refuse", "XTEST three"],
                                               body: ByteBuffer(string: "never\r\n"))
        #expect(refused == Array(repeating: .failed(SMTPReply(554, .init(5, 7, 1), "refused")), count: 2))
        let local = await connection.deliver(mailFrom: "a@x.test", recipients: ["b@y.test"], preamble: ["XTEST a\r\nMAIL FROM:<>"],
                                             body: ByteBuffer(string: "never\r\n"))
        #expect(local.first?.reply.code == 501)
        #expect(try await connection.send(command: "XTEST report") == SMTPReply(250, .init(2, 0, 0), "noted report"))
        await #expect(throws: SMTPClientError.self) { try await connection.send(command: "NOOP\r\nQUIT") }
        await connection.quit()

        let delegate = try #require(shared.delegates.first)
        let clientDER = try NIOSSLCertificate.fromPEMFile(client.certificatePath)[0].toDERBytes()
        let info = try #require(delegate.tlsInfos.first)
        #expect(info.protocolVersion.hasPrefix("TLSv1."))
        #expect(info.peerCertificate == SMTPPeerCertificate(der: clientDER))
        #expect(!delegate.events.contains("old tlsEstablished"), "the new callback replaces the old one when implemented")
        #expect(delegate.messages.count == 1, "the refused preamble was never followed by a message")
        #expect(delegate.extensionCalls.map(\.argument) == ["one", "two", "one", "refuse", "three", "report"],
                "the pipelined preamble is read to its end, then RSET; no MAIL after a refusal")
        #expect(delegate.events.filter { $0 == "mail" }.count == 1)
        try await listener.close()
        try await group.shutdownGracefully()
    }

    @Test func fingerprintFormats() {
        let certificate = SMTPPeerCertificate(der: Array("abc".utf8))
        #expect(certificate.fingerprint == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(certificate.opensslFingerprint.hasPrefix("BA:78:16:BF:"))
        #expect(certificate.opensslFingerprint.count == 95)
    }
}

struct ExtensionTestFailure: Error {}
