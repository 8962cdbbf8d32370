import Foundation
import NIOCore
import NIOEmbedded
import NIOSSL
import Testing
@testable import SMTPProtocol

/// A delegate that records every call and answers from its properties.
final class RecordingDelegate: SMTPServerDelegate {
    var decision: SMTPConnectionDecision
    var mailReply = SMTPReply(250, .init(2, 1, 0), "Sender ok")
    var rcptReply = SMTPReply(250, .init(2, 1, 5), "Recipient ok")
    var messageReply = SMTPReply(250, .init(2, 0, 0), "Ok: queued")
    var failMessages = false
    /// When set, MAIL FROM is answered only when the test completes `heldMail`.
    var holdMail = false
    var heldMail: EventLoopPromise<SMTPReply>?

    var infos: [SMTPConnectionInfo] = []
    var mailFroms: [SMTPTransaction] = []
    var recipients: [String] = []
    var messages: [(SMTPTransaction, ByteBuffer)] = []
    var aborted: [SMTPTransaction] = []
    var tls: [(String, String)] = []
    var closedReasons: [String] = []

    struct Failure: Error {}

    init(policy: SMTPSessionPolicy = SMTPSessionPolicy(), decision: SMTPConnectionDecision? = nil) {
        self.decision = decision ?? .accept(policy, greeting: "Lazaret")
    }

    func connectionOpened(_ info: SMTPConnectionInfo, eventLoop: any EventLoop) -> EventLoopFuture<SMTPConnectionDecision> {
        infos.append(info)
        return eventLoop.makeSucceededFuture(decision)
    }

    func tlsEstablished(protocolVersion: String, cipher: String) {
        tls.append((protocolVersion, cipher))
    }

    func mailFrom(_ transaction: SMTPTransaction, eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
        mailFroms.append(transaction)
        if holdMail {
            let promise = eventLoop.makePromise(of: SMTPReply.self)
            heldMail = promise
            return promise.futureResult
        }
        return eventLoop.makeSucceededFuture(mailReply)
    }

    func rcptTo(_ recipient: String, transaction: SMTPTransaction, eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
        recipients.append(recipient)
        return eventLoop.makeSucceededFuture(rcptReply)
    }

    func messageReceived(_ transaction: SMTPTransaction, body: ByteBuffer, eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
        messages.append((transaction, body))
        if failMessages { return eventLoop.makeFailedFuture(Failure()) }
        return eventLoop.makeSucceededFuture(messageReply)
    }

    func transactionAborted(_ transaction: SMTPTransaction) {
        aborted.append(transaction)
    }

    func connectionClosed(reason: String) {
        closedReasons.append(reason)
    }
}

/// An SMTP server handler in an EmbeddedChannel.
struct EmbeddedSMTPServer {
    let channel: EmbeddedChannel
    let handler: SMTPServerHandler
    let delegate: RecordingDelegate

    init(
        delegate: RecordingDelegate = RecordingDelegate(),
        configuration: SMTPServerConfiguration = SMTPServerConfiguration(listenerName: "IncomingMail", hostname: "mx.test")
    ) throws {
        self.delegate = delegate
        self.handler = SMTPServerHandler(configuration: configuration, delegate: delegate)
        self.channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "192.0.2.7", port: 40000)).wait()
    }

    func send(_ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    func send(_ bytes: ByteBuffer) throws {
        try channel.writeInbound(bytes)
    }

    /// Everything written since the last call.
    func output() throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += String(buffer: buffer)
        }
        return text
    }

    /// The last line of each reply written since the last call.
    func replies() throws -> [String] {
        try Self.finalLines(output())
    }

    static func finalLines(_ text: String) -> [String] {
        text.components(separatedBy: "\r\n").filter { line in
            line.count >= 4 && line[line.index(line.startIndex, offsetBy: 3)] == " "
        }
    }
}

/// A self-signed certificate made with the openssl tool.
struct TestCertificate {
    let directory: URL
    var keyPath: String { directory.appendingPathComponent("key.pem").path }
    var certificatePath: String { directory.appendingPathComponent("cert.pem").path }

    struct OpenSSLFailed: Error, CustomStringConvertible {
        var description: String
    }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("smtp-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=localhost", "-days", "1", "-keyout", keyPath, "-out", certificatePath,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw OpenSSLFailed(description: "cannot run openssl (is it installed?): \(error)")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw OpenSSLFailed(description: "openssl req failed with status \(process.terminationStatus)")
        }
    }

    func serverContext() throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePath).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        return try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key)))
    }

    func clientContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificatePath))
        return try NIOSSLContext(configuration: configuration)
    }
}
