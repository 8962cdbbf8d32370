import CPQ
import CPQTLS
import Foundation
import NIOCore
import NIOPosix
import QuarantineStore
import SMTPProtocol
import Testing

/// Flow 1 from the gateway's side: the real `lazaret gateway` quarantines a message and
/// its `the.cpq.host` queue transfers it over CPQ (mutual TLS with the CPQ CA, the
/// manager pinned) to a cpq_listener that stores it in a real `QuarantineStore`. The
/// listener here is the CPQ target's server with a small store adapter, as the
/// manager role will assemble it.
@Suite(.serialized)
struct CPQTransferTests {
    /// Stores transfers in the quarantine store; only paired gateways may transfer.
    final class StoreBackend: CPQManagerBackend {
        let store: QuarantineStore
        let paired: PairedGateways
        init(store: QuarantineStore, paired: PairedGateways) {
            self.store = store
            self.paired = paired
        }

        func authorizeTransfer(gateway: String, peer: SMTPPeerCertificate?) async -> CPQAuthorization {
            guard let peer, let fingerprint = CPQFingerprint(hex: peer.fingerprint),
                  let record = try? paired.record(fingerprint: fingerprint) else { return .denied(certificateName: nil) }
            return record.gatewayName == gateway ? .granted : .denied(certificateName: record.gatewayName)
        }

        func storeTransfer(_ transfer: CPQIncomingTransfer) async throws -> CPQStoredTransfer {
            let header = transfer.header
            let result = try await store.storeTransfer(
                IncomingTransfer(transferID: header.transferID, gateway: header.gateway, gatewayMID: header.mid,
                                 gatewayICID: header.icid, receivedAt: Date(timeIntervalSince1970: Double(header.received)),
                                 mailFrom: transfer.envelope.mailFrom, recipients: transfer.envelope.recipients, holds: transfer.holds,
                                 smtpUTF8: transfer.envelope.mailParameters["SMTPUTF8"] != nil),
                body: Array(transfer.body.readableBytesView))
            return CPQStoredTransfer(qid: result.qid.description, alreadyStored: result.isDuplicate)
        }

        func recordReport(_ report: CPQReport, peer: SMTPPeerCertificate?) async throws {}
    }

    @Test("a quarantined message reaches the quarantine store over CPQ with its holds, once")
    func quarantinedMessageIsTransferred() async throws {
        let managerHome = try Harness.makeTempDirectory("manager")
        defer { try? FileManager.default.removeItem(atPath: managerHome) }
        let authority = try CPQAuthority.loadOrCreate(directory: managerHome + "/cpq", managerHostname: "manager.test",
                                                      managerAddresses: ["127.0.0.1"])
        let token = try authority.pairingTokens.create(gatewayName: "gw1")
        let bundle = try authority.pair(token: token, presentedName: "gw1", from: ["127.0.0.1"])
        let store = try QuarantineStore.open(directory: managerHome + "/quarantine")
        let backend = StoreBackend(store: store, paired: authority.pairedGateways)

        let paired = authority.pairedGateways
        let serverTLS = try CPQTLSConfiguration().makeServerContext(
            identity: authority.managerIdentity, authority: authority.certificate,
            acceptClient: { paired.isPaired(fingerprint: $0.fingerprint) })
        let cpq = CPQServerConfiguration(requireTLS: true)
        var smtp = cpq.smtpConfiguration(SMTPServerConfiguration(listenerName: "cpq_listener", hostname: "manager.test",
                                                                 tlsContext: serverTLS.sslContext))
        smtp.makeTLSHandler = { _ in serverTLS.makeHandler() }
        let listener = try await SMTPServer.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton,
                                                 configuration: smtp) {
            CPQServerDelegate(backend: .manager(backend), configuration: cpq)
        }.get()
        let cpqPort = try #require(listener.localAddress?.port)

        let sink = try SMTPSink()
        let gateway = try GatewayInstance(smarthostPort: sink.port, cpqPort: cpqPort, cpqTLS: "required", scanning: #"""
            antivirus: {enabled: off}
            message_filters: |
              hold_it: if (subject == '^hold me') { quarantine("Policy"); }
              legal: if (subject == 'contract') { quarantine("Legal"); }
            quarantines: [Legal]
            """#)
        try bundle.write(to: gateway.home + "/cpq")
        try gateway.start()
        defer { gateway.stop(); sink.stop() }

        let (status, output) = try Harness.run(try Harness.tool("swaks"), [
            "--server", "127.0.0.1:\(gateway.port)", "--from", "alice@sender.example", "--to", "bob@rcpt.example",
            "--header", "Subject: hold me, a contract", "--body", "the original body",
        ])
        #expect(status == 0, "\(output)")
        let mid = try #require(output.range(of: #"queued as MID \d+"#, options: .regularExpression)
            .flatMap { Int(output[$0].split(separator: " ").last!) })

        var stored: QuarantinedMessage?
        for _ in 0..<600 where stored == nil {
            stored = try await store.list(limit: 10).items.first
            if stored == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let message = try #require(stored, "nothing reached the quarantine store: \(gateway.mailLogs)")
        #expect(message.gateway == "gw1")
        #expect(message.gatewayMID == UInt64(mid))
        #expect(message.transferID == "t-gw1-\(mid)")
        #expect(message.mailFrom == "alice@sender.example")
        #expect(message.recipients == ["bob@rcpt.example"])
        #expect(message.subject == "hold me, a contract")
        #expect(message.heldIn.sorted() == ["Legal", "Policy"])
        #expect(message.resumeAt == .antivirus)
        let body = String(decoding: try await store.body(message.qid), as: UTF8.self)
        #expect(body.contains("the original body"))

        try Harness.waitUntil("the delivery log lines") { gateway.mailLogs.contains("(centralized policy quarantine)") }
        let logs = gateway.mailLogs
        #expect(logs.range(of: #"Delivery start DCID \d+ MID \#(mid) to RID \[0\] to Centralized Policy Quarantine"#,
                           options: .regularExpression) != nil, "\(logs)")
        #expect(logs.range(of: #"DCID \d+ TLS success protocol TLSv1\.\d"#, options: .regularExpression) != nil, "\(logs)")
        #expect(try await store.list(limit: 10).items.count == 1)
        #expect(sink.messages.isEmpty, "a quarantined message was delivered")
        try await listener.close()
        try store.close()
    }
}
