import NIOCore
import NIOPosix
import NIOSSL
import Scanning
import SMTPProtocol
import Testing
@testable import CPQ

/// Real listeners on 127.0.0.1: the SMTP server with ``CPQServerDelegate``
/// on one side, ``SMTPClientConnection`` with ``CPQClient`` on the other.
@Suite(.timeLimit(.minutes(2)))
struct CPQLoopbackTests {
    static let tickets = [
        QuarantineTicket(quarantine: "Policy", reason: QuarantineReason(kind: .messageFilter, detail: "block_exe"), stage: .messageFilters),
        QuarantineTicket(quarantine: "Virus", reason: QuarantineReason(kind: .antivirus, detail: "Eicar-Test-Signature"), stage: .antivirus),
    ]
    static let header = CPQTransferHeader(transferID: "t-gw1-482-1", gateway: "gw1", mid: 482, icid: 77, received: 1795426153)
    static let body = "From: alice@sender.example\r\nTo: bob@rcpt.example\r\nSubject: quarantined\r\n\r\n.leading dot\r\nbody\r\n"

    /// Binds a `cpq_listener` for `backend` on an ephemeral port.
    static func listen(_ backend: CPQListenerBackend, group: any EventLoopGroup, hostname: String, tlsContext: NIOSSLContext?,
                       requireTLS: Bool) async throws -> (any Channel, Int) {
        let cpq = CPQServerConfiguration(requireTLS: requireTLS)
        let smtp = cpq.smtpConfiguration(SMTPServerConfiguration(listenerName: "cpq_listener", hostname: hostname, tlsContext: tlsContext))
        let channel = try await SMTPServer.bind(host: "127.0.0.1", port: 0, group: group, configuration: smtp) {
            CPQServerDelegate(backend: backend, configuration: cpq)
        }.get()
        return (channel, try #require(channel.localAddress?.port))
    }

    @Test func transferTwiceReleaseAndReportOverMutualTLS() async throws {
        let gatewayCertificate = try CPQTestCertificate(name: "gw1")
        let managerCertificate = try CPQTestCertificate(name: "manager")
        // Another peer the TLS layer trusts (as if signed by the same CPQ CA), but not this gateway's manager.
        let otherCertificate = try CPQTestCertificate(name: "other")
        defer {
            gatewayCertificate.remove()
            managerCertificate.remove()
            otherCertificate.remove()
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let manager = FakeManagerBackend(paired: [try gatewayCertificate.peer.fingerprint: "gw1"])
        let gateway = FakeGatewayBackend(managerFingerprint: try managerCertificate.peer.fingerprint)
        let (managerListener, managerPort) = try await Self.listen(
            .manager(manager), group: group, hostname: "manager.test",
            tlsContext: try managerCertificate.serverContext(trusting: [gatewayCertificate]), requireTLS: true)
        let (gatewayListener, gatewayPort) = try await Self.listen(
            .gateway(gateway), group: group, hostname: "gw1.test",
            tlsContext: try gatewayCertificate.serverContext(trusting: [managerCertificate, otherCertificate]), requireTLS: true)

        // Before TLS: no XCPQ in EHLO, and XCPQ is refused.
        let plain = try await SMTPClientConnection.connect(host: "127.0.0.1", port: managerPort, group: group,
                                                           options: SMTPClientOptions(localHostname: "gw1.test"))
        #expect(plain.greeting.description == "220 manager.test ESMTP Lazaret CPQ")
        #expect(plain.extensions.startTLS && !CPQClient.offersCPQ(plain.extensions))
        #expect(try await plain.send(command: "XCPQ TRANSFER t-1 GATEWAY=gw1 MID=1 ICID=1 RECEIVED=1").description
            == "530 5.7.0 Must issue a STARTTLS command first")
        #expect(try await plain.send(command: "MAIL FROM:<a@b.example>").description == "530 5.7.0 Must issue a STARTTLS command first")
        await plain.quit()

        // The gateway transfers to the manager.
        let toManager = try await SMTPClientConnection.connect(
            host: "127.0.0.1", port: managerPort, group: group,
            options: SMTPClientOptions(localHostname: "gw1.test", tlsContext: try gatewayCertificate.clientContext(trusting: managerCertificate),
                                       tlsServerName: "localhost", tlsRequired: true))
        #expect(CPQClient.offersCPQ(toManager.extensions))
        #expect(toManager.peerCertificate == (try managerCertificate.peer))
        let first = await CPQClient.transfer(over: toManager, header: Self.header, tickets: Self.tickets,
                                             mailFrom: "alice@sender.example", recipients: ["bob@rcpt.example", "carol@rcpt.example"],
                                             body: ByteBuffer(string: Self.body))
        #expect(first == .accepted(CPQStoredTransfer(qid: "Q00000001", alreadyStored: false)))
        let again = await CPQClient.transfer(over: toManager, header: Self.header, tickets: Self.tickets,
                                             mailFrom: "alice@sender.example", recipients: ["bob@rcpt.example", "carol@rcpt.example"],
                                             body: ByteBuffer(string: Self.body))
        #expect(again == .accepted(CPQStoredTransfer(qid: "Q00000001", alreadyStored: true)), "the same transfer id: the same QID")
        #expect(manager.transfers.count == 1, "a retried transfer stores nothing new")
        let stored = try #require(manager.transfers.first)
        #expect(stored.header == Self.header)
        #expect(stored.holds == Self.tickets)
        #expect(stored.envelope.mailFrom == "alice@sender.example")
        #expect(stored.envelope.recipients == ["bob@rcpt.example", "carol@rcpt.example"])
        #expect(stored.envelope.tls)
        #expect(String(buffer: stored.body) == Self.body)
        #expect(stored.peerCertificate == (try gatewayCertificate.peer))
        #expect(manager.authorizations.allSatisfy { $0.0 == "gw1" && $0.1 == (try? gatewayCertificate.peer) })

        // A GATEWAY that is not the certificate's.
        var other = Self.header
        other.gateway = "gw2"
        let refused = await CPQClient.transfer(over: toManager, header: other, tickets: Self.tickets,
                                               mailFrom: "alice@sender.example", recipients: ["bob@rcpt.example"],
                                               body: ByteBuffer(string: Self.body))
        #expect(refused == .failed(SMTPReply(550, .init(5, 7, 1), "GATEWAY gw2 is not the name in your certificate (gw1)")))
        #expect(manager.transfers.count == 1)

        // The manager releases to the gateway.
        let toGateway = try await SMTPClientConnection.connect(
            host: "127.0.0.1", port: gatewayPort, group: group,
            options: SMTPClientOptions(localHostname: "manager.test",
                                       tlsContext: try managerCertificate.clientContext(trusting: gatewayCertificate),
                                       tlsServerName: "localhost", tlsRequired: true))
        let release = CPQReleaseHeader(releaseID: "r-6f1c0d2e", mid: 482, qid: "Q00000001", resume: .contentFilters,
                                       quarantines: ["Policy", "Virus"])
        let released = await CPQClient.release(over: toGateway, header: release, mailFrom: "alice@sender.example",
                                               recipients: ["bob@rcpt.example", "carol@rcpt.example"], body: ByteBuffer(string: Self.body))
        #expect(released == .accepted(CPQQueuedRelease(mid: 913)))
        let releasedAgain = await CPQClient.release(over: toGateway, header: release, mailFrom: "alice@sender.example",
                                                    recipients: ["bob@rcpt.example"], body: ByteBuffer(string: Self.body))
        #expect(releasedAgain == .accepted(CPQQueuedRelease(mid: 913, alreadyQueued: true)))
        #expect(gateway.releases.count == 1)
        #expect(gateway.releases.first?.header == release)
        #expect(gateway.releases.first.map { String(buffer: $0.body) } == Self.body)
        // A transfer is not taken on a gateway's listener.
        #expect(try await toGateway.send(command: "XCPQ TRANSFER t-1 GATEWAY=gw1 MID=1 ICID=1 RECEIVED=1").description
            == "502 5.5.1 XCPQ TRANSFER is not taken here: this listener takes RELEASE")
        await toGateway.quit()

        // The gateway reports what became of a recipient.
        let report = CPQReport(releaseID: "r-6f1c0d2e", recipient: "bob@rcpt.example", status: .delivered, reply: "250 2.0.0 Ok")
        #expect(try await CPQClient.report(report, over: toManager).description == "250 2.0.0 Report recorded")
        #expect(manager.reports == [report])
        await toManager.quit()

        // Only the manager's certificate may release, not another one TLS trusts.
        let impostor = try await SMTPClientConnection.connect(
            host: "127.0.0.1", port: gatewayPort, group: group,
            options: SMTPClientOptions(localHostname: "x.test", tlsContext: try otherCertificate.clientContext(trusting: gatewayCertificate),
                                       tlsServerName: "localhost", tlsRequired: true))
        let denied = await CPQClient.release(over: impostor, header: release, mailFrom: "a@b.example", recipients: ["c@d.example"],
                                             body: ByteBuffer(string: "x\r\n"))
        #expect(denied == .failed(SMTPReply(530, .init(5, 7, 1), "Only the manager's certificate may release")))
        await impostor.quit()

        try await managerListener.close()
        try await gatewayListener.close()
        try await group.shutdownGracefully()
    }

    @Test func storeFailuresKeepTheMailQueued() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let manager = FakeManagerBackend()
        manager.failStores = true
        let (listener, port) = try await Self.listen(.manager(manager), group: group, hostname: "manager.test", tlsContext: nil, requireTLS: false)
        let connection = try await SMTPClientConnection.connect(host: "127.0.0.1", port: port, group: group,
                                                                options: SMTPClientOptions(localHostname: "gw1.test"))
        #expect(CPQClient.offersCPQ(connection.extensions), "without requireTLS XCPQ is offered at once")
        let outcome = await CPQClient.transfer(over: connection, header: Self.header, tickets: Self.tickets, mailFrom: "a@b.example",
                                               recipients: ["c@d.example"], body: ByteBuffer(string: "x\r\n"))
        #expect(outcome == .deferred(SMTPReply(452, .init(4, 3, 1), "Quarantine store full, try again later")))
        // A plain transaction is refused, and the connection goes on.
        let plain = await connection.deliver(mailFrom: "a@b.example", recipients: ["c@d.example"], body: ByteBuffer(string: "x\r\n"))
        #expect(plain == [.failed(SMTPReply(503, .init(5, 5, 1), "This is a CPQ listener: XCPQ TRANSFER or RELEASE first"))])
        #expect(try await connection.send(command: "NOOP").code == 250)
        await connection.quit()
        try await listener.close()
        try await group.shutdownGracefully()
    }

    @Test func pipelinedPreambleWithARefusedHoldStoresNothing() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let manager = FakeManagerBackend()
        let (listener, port) = try await Self.listen(.manager(manager), group: group, hostname: "manager.test", tlsContext: nil, requireTLS: false)
        let connection = try await SMTPClientConnection.connect(host: "127.0.0.1", port: port, group: group,
                                                                options: SMTPClientOptions(localHostname: "gw1.test"))
        #expect(connection.extensions.pipelining)
        // Hand-made lines: the second HOLD is malformed, the third fine.
        let preamble = [
            "XCPQ TRANSFER t-9 GATEWAY=gw1 MID=9 ICID=9 RECEIVED=9",
            "XCPQ HOLD Policy STAGE=message-filters RESUME=antivirus KIND=message-filter DETAIL=x",
            "XCPQ HOLD Virus STAGE=antivirus RESUME=content-filters KIND=antivirus DETAIL=x LEVEL=9",
            "XCPQ HOLD Other STAGE=antivirus RESUME=content-filters KIND=antivirus DETAIL=x",
        ]
        let results = await connection.deliver(mailFrom: "a@b.example", recipients: ["c@d.example"], preamble: preamble,
                                               body: ByteBuffer(string: "x\r\n"))
        #expect(results == [.failed(SMTPReply(501, .init(5, 5, 4), "XCPQ HOLD: LEVEL must be 1-5"))])
        // Even a client that ignores the refusal cannot get the message stored.
        #expect(try await connection.send(command: preamble[0]).code == 250)
        #expect(try await connection.send(command: preamble[2]).code == 501)
        #expect(try await connection.send(command: preamble[3]).code == 250)
        #expect(try await connection.send(command: "MAIL FROM:<a@b.example>").description
            == "503 5.5.1 XCPQ TRANSFER t-9: a HOLD was refused; send RSET and start again")
        #expect(manager.transfers.isEmpty)
        await connection.quit()
        try await listener.close()
        try await group.shutdownGracefully()
    }
}
