import CPQ
import CPQTLS
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import SMTPProtocol
import Testing

/// The CPQ CA's verification (CA only, client certificates, the manager pin) inside the
/// SMTP STARTTLS of a cpq_listener and of the CPQ client, through the TLS-handler hooks.
@Suite struct CPQTLSIntegrationTests {
    @Test func startTLSUsesTheCPQVerificationBothWays() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cpq-smtp-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let authority = try CPQAuthority.loadOrCreate(directory: directory, managerHostname: "manager.test",
                                                      managerAddresses: ["127.0.0.1"])
        let gateway = try authority.issue(commonName: "gw1", ipAddresses: ["127.0.0.1"], usage: .both)
        let tls = CPQTLSConfiguration()
        let serverTLS = try tls.makeServerContext(identity: authority.managerIdentity, authority: authority.certificate)
        let group = MultiThreadedEventLoopGroup.singleton

        let manager = FakeManagerBackend()
        let cpq = CPQServerConfiguration(requireTLS: true)
        var smtp = cpq.smtpConfiguration(SMTPServerConfiguration(listenerName: "cpq_listener", hostname: "manager.test",
                                                                 tlsContext: serverTLS.sslContext))
        smtp.makeTLSHandler = { _ in serverTLS.makeHandler() }
        let listener = try await SMTPServer.bind(host: "127.0.0.1", port: 0, group: group, configuration: smtp) {
            CPQServerDelegate(backend: .manager(manager), configuration: cpq)
        }.get()
        let port = try #require(listener.localAddress?.port)

        func connect(pin: CPQFingerprint) async throws -> (Result<SMTPClientConnection, any Error>, CPQPeerVerification) {
            let clientTLS = try tls.makeClientContext(identity: gateway, trustRoot: authority.certificate, pinnedServerFingerprint: pin)
            let verification = CPQPeerVerification(role: .client)
            var options = SMTPClientOptions(localHostname: "gw1.test", tlsContext: clientTLS.sslContext, tlsRequired: true)
            options.makeTLSHandler = { _, name in try clientTLS.makeHandler(serverHostname: name, verification: verification) }
            do {
                let connection = try await SMTPClientConnection.connect(host: "127.0.0.1", port: port, group: group, options: options)
                return (.success(connection), verification)
            } catch {
                return (.failure(error), verification)
            }
        }

        // The pinned manager: TLS, XCPQ offered, the peer is the manager.
        let (good, _) = try await connect(pin: authority.managerIdentity.fingerprint)
        let connection = try good.get()
        #expect(CPQClient.offersCPQ(connection.extensions))
        #expect(connection.peerCertificate?.fingerprint == authority.managerIdentity.fingerprint.hex)
        await connection.quit()

        // Any other pin: refused by our side, with the mail_logs text.
        let other = try CPQAuthority.loadOrCreate(directory: directory + "-other", managerHostname: "other.test")
        defer { try? FileManager.default.removeItem(atPath: directory + "-other") }
        let (bad, verification) = try await connect(pin: other.managerIdentity.fingerprint)
        guard case .failure(let error) = bad else {
            Issue.record("a manager with another fingerprint was accepted")
            try await listener.close()
            return
        }
        #expect(verification.failure(for: error).description.contains("does not match the pinned fingerprint"),
                "\(verification.failure(for: error))")
        try await listener.close()
    }
}
