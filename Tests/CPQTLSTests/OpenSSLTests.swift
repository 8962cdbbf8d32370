import Foundation
import NIOCore
import NIOSSL
import Testing

@testable import CPQTLS

/// The certificates and the TLS checked by a TLS implementation no one here
/// wrote: the `openssl` command (scripts/test installs it).
@Suite("openssl CLI")
struct OpenSSLTests {
    @Test func opensslVerifiesAnIssuedCertificateAndShowsItsNames() async throws {
        let directory = TemporaryDirectory()
        let other = TemporaryDirectory()
        defer { directory.remove(); other.remove() }
        let ca = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "manager.example.com")
        let gateway = try ca.issue(commonName: "gw1", dnsNames: ["gw1.example.com"], ipAddresses: ["127.0.0.1", "10.0.0.5"], usage: .both)
        try gateway.write(certificatePath: directory.file("gateway.pem"), keyPath: directory.file("gateway.key"))

        let verify = try await run(["openssl", "verify", "-CAfile", directory.file("ca.pem"), directory.file("gateway.pem")])
        #expect(verify.status == 0)
        #expect(verify.output.contains("gateway.pem: OK"), "\(verify.output)")

        let manager = try await run(["openssl", "verify", "-CAfile", directory.file("ca.pem"), directory.file("manager.pem")])
        #expect(manager.output.contains("manager.pem: OK"), "\(manager.output)")

        // Against another CPQ CA it must not verify.
        _ = try CPQAuthority.loadOrCreate(directory: other.path, managerHostname: "manager.example.com")
        let wrong = try await run(["openssl", "verify", "-CAfile", other.file("ca.pem"), directory.file("gateway.pem")])
        #expect(wrong.status != 0)
        #expect(!wrong.output.contains(": OK"))

        let text = try await run(["openssl", "x509", "-in", directory.file("gateway.pem"), "-noout", "-text"])
        #expect(text.status == 0)
        #expect(text.output.contains("DNS:gw1.example.com, IP Address:127.0.0.1, IP Address:10.0.0.5"), "\(text.output)")
        #expect(text.output.contains("TLS Web Server Authentication, TLS Web Client Authentication"))
        #expect(text.output.contains("CA:FALSE"))
        #expect(text.output.contains("Subject: CN = gw1"))
        #expect(text.output.contains("ecdsa-with-SHA256"))

        let caText = try await run(["openssl", "x509", "-in", directory.file("ca.pem"), "-noout", "-text"])
        #expect(caText.output.contains("CA:TRUE"))
        #expect(caText.output.contains("Certificate Sign, CRL Sign"))
        #expect(caText.output.contains("Subject: CN = Lazaret CPQ CA "))
        #expect(caText.output.contains("NIST CURVE: P-256"))

        let fingerprint = try await run(["openssl", "x509", "-in", directory.file("gateway.pem"), "-noout", "-fingerprint", "-sha256"])
        #expect(fingerprint.output.contains(gateway.fingerprint.colonSeparated), "\(fingerprint.output)")
    }

    @Test func opensslClientWithACPQCertificateIsAccepted() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let ca = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "manager.example.com")
        let gateway = try ca.issue(commonName: "gw1", usage: .both)
        try gateway.write(certificatePath: directory.file("gateway.pem"), keyPath: directory.file("gateway.key"))
        let server = try CPQTLSConfiguration().makeServerContext(identity: ca.managerIdentity, authority: ca.certificate)
        // s_client ends when the server closes (-ign_eof): the server verifies the
        // client certificate after s_client's side of a TLS 1.3 handshake is done.
        let echo = try await EchoServer.start(closeAfterEcho: true) { channel, verification in
            try channel.pipeline.syncOperations.addHandler(server.makeHandler(verification: verification))
        }
        let result = try await run([
            "openssl", "s_client", "-connect", "127.0.0.1:\(echo.port)", "-CAfile", directory.file("ca.pem"),
            "-cert", directory.file("gateway.pem"), "-key", directory.file("gateway.key"), "-verify_return_error", "-brief",
            "-ign_eof",
        ], input: "ping\n")
        let outcome = try await echo.outcome()
        await echo.stop()
        #expect(outcome == .accepted("gw1"))
        #expect(result.output.contains("Verification: OK"), "\(result.output)")
        #expect(result.output.contains("ping"), "\(result.output)")
        #expect(result.status == 0)
    }

    @Test func anonymousCipherOnlyClientFails() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let ca = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "manager.example.com")
        let server = try CPQTLSConfiguration().makeServerContext(identity: ca.managerIdentity, authority: ca.certificate)
        let echo = try await EchoServer.start { channel, verification in
            try channel.pipeline.syncOperations.addHandler(server.makeHandler(verification: verification))
        }
        // OpenSSL still has anonymous (ADH/AECDH) suites at security level 0; BoringSSL has none.
        let result = try await run([
            "openssl", "s_client", "-connect", "127.0.0.1:\(echo.port)", "-tls1_2", "-cipher", "aNULL:@SECLEVEL=0", "-brief",
        ], input: "")
        let outcome = try await echo.outcome()
        await echo.stop()
        #expect(result.status != 0, "\(result.output)")
        #expect(outcome == .refused("no shared cipher"))

        // Our own configuration refuses such a list before any handshake.
        let error = #expect(throws: CPQTLSError.self) {
            try CPQTLSConfiguration(cipherList: "aNULL").makeClientContext(identity: ca.managerIdentity, trustRoot: ca.certificate)
        }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.hasPrefix("cipherList: ") == true)
    }
}
