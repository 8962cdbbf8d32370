import Foundation
import NIOCore
import NIOSSL
import Testing

@testable import CPQTLS

/// Real TLS handshakes over 127.0.0.1 between a NIO echo server and client
/// built from the CPQ contexts.
@Suite("CPQ TLS handshakes")
struct CPQTLSHandshakeTests {
    /// The manager's CA and a second, unrelated CPQ CA.
    struct Setup {
        let directories: [TemporaryDirectory]
        let ca: CPQAuthority
        let otherCA: CPQAuthority

        init() throws {
            directories = [TemporaryDirectory(), TemporaryDirectory()]
            ca = try CPQAuthority.loadOrCreate(directory: directories[0].path, managerHostname: "manager.example.com")
            otherCA = try CPQAuthority.loadOrCreate(directory: directories[1].path, managerHostname: "manager.example.com")
        }

        func remove() { directories.forEach { $0.remove() } }

        var managerServer: CPQServerTLS {
            get throws { try CPQTLSConfiguration().makeServerContext(identity: ca.managerIdentity, authority: ca.certificate) }
        }

        func client(_ identity: CPQIdentity, trusting root: CPQAuthority? = nil, pin: CPQFingerprint? = nil) throws -> CPQClientTLS {
            try CPQTLSConfiguration().makeClientContext(identity: identity, trustRoot: (root ?? ca).certificate, pinnedServerFingerprint: pin)
        }
    }

    @Test func clientWithACertificateFromTheCAIsAccepted() async throws {
        let setup = try Setup()
        defer { setup.remove() }
        let gateway = try setup.ca.issue(commonName: "gw1", usage: .both)
        let result = try await handshake(server: setup.managerServer,
                                         client: setup.client(gateway, pin: setup.ca.managerIdentity.fingerprint))
        #expect(result.client == .echoed(serverName: "manager.example.com"))
        #expect(result.server == .accepted("gw1"))
    }

    @Test func clientWithoutACertificateIsRefused() async throws {
        let setup = try Setup()
        defer { setup.remove() }
        let server = try setup.managerServer
        let echo = try await EchoServer.start { channel, verification in
            try channel.pipeline.syncOperations.addHandler(server.makeHandler(verification: verification))
        }
        // A client that trusts the CA but presents nothing.
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates([try NIOSSLCertificate(bytes: setup.ca.certificate.derBytes, format: .der)])
        tls.certificateVerification = .noHostnameVerification
        let context = try NIOSSLContext(configuration: tls)
        let client = try await connect(port: echo.port) { channel, _ in
            try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: nil))
        }
        let server_ = try await echo.outcome()
        await echo.stop()
        #expect(server_ == .refused("verify error: no certificate from client"))
        guard case .failed = client else {
            Issue.record("a client without a certificate got its echo")
            return
        }
    }

    @Test func clientWithACertificateFromAnotherCAIsRefused() async throws {
        let setup = try Setup()
        defer { setup.remove() }
        let stranger = try setup.otherCA.issue(commonName: "gw1", usage: .both)
        let result = try await handshake(server: setup.managerServer, client: setup.client(stranger))
        #expect(result.server == .refused("verify error: certificate not signed by the CPQ CA"))
        guard case .failed(let text) = result.client else {
            Issue.record("the refused client got its echo")
            return
        }
        #expect(text == "server refused our certificate (certificate unknown)")
    }

    @Test func serverWithACertificateFromAnotherCAIsRefusedByTheClient() async throws {
        let setup = try Setup()
        defer { setup.remove() }
        let server = try CPQTLSConfiguration().makeServerContext(identity: setup.otherCA.managerIdentity,
                                                                 authority: setup.ca.certificate)
        let gateway = try setup.ca.issue(commonName: "gw1", usage: .both)
        let result = try await handshake(server: server, client: setup.client(gateway))
        #expect(result.client == .failed("verify error: certificate not signed by the CPQ CA"))
        guard case .refused = result.server else {
            Issue.record("the server finished a handshake the client refused")
            return
        }
    }

    @Test func pinnedFingerprintMismatchIsRefused() async throws {
        let setup = try Setup()
        defer { setup.remove() }
        // A server with a good certificate from the same CA, but not the manager's.
        let impostor = try setup.ca.issue(commonName: "manager.example.com", ipAddresses: ["127.0.0.1"], usage: .both)
        let server = try CPQTLSConfiguration().makeServerContext(identity: impostor, authority: setup.ca.certificate)
        let gateway = try setup.ca.issue(commonName: "gw1", usage: .both)
        let pinned = setup.ca.managerIdentity.fingerprint
        let result = try await handshake(server: server, client: setup.client(gateway, pin: pinned))
        #expect(result.client == .failed(
            "verify error: certificate does not match the pinned fingerprint (pinned sha256 \(pinned.hex.prefix(16))..., presented \(impostor.fingerprint.hex.prefix(16))...)"))

        // The same server with the right pin is fine.
        let right = try await handshake(server: server, client: setup.client(gateway, pin: impostor.fingerprint))
        #expect(right.client == .echoed(serverName: "manager.example.com"))
    }

    @Test func certificateForTheWrongRoleIsRefused() async throws {
        let setup = try Setup()
        defer { setup.remove() }
        let serverOnly = try setup.ca.issue(commonName: "gw1", usage: .server)
        let result = try await handshake(server: setup.managerServer, client: setup.client(serverOnly))
        #expect(result.server == .refused("verify error: certificate not issued for a TLS client"))
    }

    @Test func expiredClientCertificateIsRefused() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let past = Date().addingTimeInterval(-3 * 365 * 86_400)
        let ca = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "manager.example.com", now: past)
        let old = try ca.issue(commonName: "gw1", usage: .both, validity: 365 * 86_400, now: past)
        let server = try CPQTLSConfiguration().makeServerContext(identity: ca.managerIdentity, authority: ca.certificate)
        let client = try CPQTLSConfiguration().makeClientContext(identity: old, trustRoot: ca.certificate)
        let result = try await handshake(server: server, client: client)
        guard case .refused(let text) = result.server else {
            Issue.record("an expired client certificate was accepted")
            return
        }
        #expect(text == "verify error: certificate expired on \(CPQVerifyFailure.format(old.certificate.notValidAfter))")
    }

    @Test func unpairedGatewayIsRefusedAndPairedOneAccepted() async throws {
        let setup = try Setup()
        defer { setup.remove() }
        let registry = setup.ca.pairedGateways
        let server = try CPQTLSConfiguration().makeServerContext(
            identity: setup.ca.managerIdentity, authority: setup.ca.certificate,
            acceptClient: { registry.isPaired(fingerprint: $0.fingerprint) })

        // Issued by the CA but never paired (or unpaired since).
        let unpaired = try setup.ca.issue(commonName: "gw9", usage: .both)
        let refused = try await handshake(server: server, client: setup.client(unpaired))
        #expect(refused.server == .refused(
            "verify error: certificate CN=gw9 (sha256 \(unpaired.fingerprint.hex.prefix(16))...) is not paired with this host"))

        // The whole join: token, bundle as text, gateway contexts from the bundle.
        let token = try setup.ca.pairingTokens.create(gatewayName: "gw1")
        let text = try setup.ca.pair(token: token, presentedName: "gw1", from: ["127.0.0.1"]).encoded()
        let bundle = try CPQJoinBundle(decoding: text)
        let client = try CPQTLSConfiguration().makeClientContext(
            identity: bundle.identity(), trustRoot: bundle.caCertificate(), pinnedServerFingerprint: bundle.managerFingerprint)
        let accepted = try await handshake(server: server, client: client)
        #expect(accepted.server == .accepted("gw1"))
        #expect(accepted.client == .echoed(serverName: "manager.example.com"))

        // Unpairing shuts it out again.
        try registry.remove(name: "gw1")
        let again = try await handshake(server: server, client: client)
        guard case .refused = again.server else {
            Issue.record("an unpaired gateway was accepted")
            return
        }
    }

    @Test func tls13OnlyConfigurationStillHandshakes() async throws {
        let setup = try Setup()
        defer { setup.remove() }
        let configuration = CPQTLSConfiguration(cipherList: "RSA", minimumVersion: .tls13)
        let server = try configuration.makeServerContext(identity: setup.ca.managerIdentity, authority: setup.ca.certificate)
        let gateway = try setup.ca.issue(commonName: "gw1", usage: .both)
        let client = try configuration.makeClientContext(identity: gateway, trustRoot: setup.ca.certificate)
        let result = try await handshake(server: server, client: client)
        #expect(result.server == .accepted("gw1"))
    }

    @Test func plainSSLContextStillRequiresTheCA() async throws {
        // Code that makes its own NIOSSLServerHandler from sslContext gets
        // BoringSSL's verification against the CPQ CA only.
        let setup = try Setup()
        defer { setup.remove() }
        let server = try setup.managerServer
        let echo = try await EchoServer.start { channel, _ in
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: server.sslContext))
        }
        let stranger = try setup.otherCA.issue(commonName: "gw1", usage: .both)
        let client = try setup.client(stranger)
        let outcome = try await connect(port: echo.port) { channel, verification in
            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: client.sslContext, serverHostname: nil))
        }
        let serverOutcome = try await echo.outcome()
        await echo.stop()
        #expect(serverOutcome == .refused("verify error: certificate of the client refused"))
        guard case .failed = outcome else {
            Issue.record("a client from another CA got its echo through the plain context")
            return
        }
    }
}
