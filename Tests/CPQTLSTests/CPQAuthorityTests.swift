import Crypto
import Foundation
import Testing
import X509

@testable import CPQTLS

@Suite("CPQ CA")
struct CPQAuthorityTests {
    /// Whole seconds, as certificates keep them.
    static let start = Date(timeIntervalSince1970: 1_780_000_000)

    @Test func createdThenReloadedIdentical() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let created = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "manager.example.com")
        let reloaded = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "other.example.com")
        #expect(created.certificate == reloaded.certificate)
        #expect(created.fingerprint == reloaded.fingerprint)
        #expect(created.managerIdentity == reloaded.managerIdentity)
        #expect(reloaded.managerIdentity.commonName == "manager.example.com")

        let other = TemporaryDirectory()
        defer { other.remove() }
        let another = try CPQAuthority.loadOrCreate(directory: other.path, managerHostname: "manager.example.com")
        #expect(another.certificate != created.certificate)
        #expect(another.certificate.subject != created.certificate.subject)
    }

    @Test func authorityCertificateIsACA() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let ca = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "manager.example.com", now: Self.start)
        let certificate = ca.certificate
        #expect(certificate.subject == certificate.issuer)
        let commonName = try #require(certificate.commonName)
        #expect(commonName.hasPrefix("Lazaret CPQ CA "))
        #expect(commonName.count > "Lazaret CPQ CA ".count)
        #expect(certificate.notValidAfter == Self.start.addingTimeInterval(CPQDefaults.authorityValidity))
        let constraints = try #require(try certificate.extensions.basicConstraints)
        guard case .isCertificateAuthority = constraints else {
            Issue.record("basicConstraints is \(constraints)")
            return
        }
        let basic = try #require(certificate.extensions[oid: .X509ExtensionID.basicConstraints])
        #expect(basic.critical)
        let usage = try #require(try certificate.extensions.keyUsage)
        #expect(usage.keyCertSign && usage.cRLSign && !usage.digitalSignature)
        #expect(P256.Signing.PublicKey(certificate.publicKey) != nil)
    }

    @Test func managerIdentityIsServerAndClientWithItsNames() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let ca = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "manager.example.com",
                                               managerAddresses: ["10.1.2.3"])
        let manager = ca.managerIdentity.certificate
        #expect(CPQCertificateUsage(manager) == .both)
        #expect(manager.alternativeNames.dnsNames == ["manager.example.com"])
        #expect(manager.alternativeNames.ipAddresses == ["127.0.0.1", "10.1.2.3"])
        #expect(manager.notValidAfter == ca.certificate.notValidAfter)
        #expect(await ca.verify(manager, as: .server) == nil)
        #expect(await ca.verify(manager, as: .client) == nil)
    }

    @Test func keysAreWrittenMode0600() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let ca = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "manager.example.com")
        #expect(SecureFile.mode(of: directory.path) == 0o700)
        #expect(SecureFile.mode(of: directory.file("ca.key")) == 0o600)
        #expect(SecureFile.mode(of: directory.file("manager.key")) == 0o600)
        #expect(SecureFile.mode(of: directory.file("ca.pem")) == 0o644)
        let gateway = try ca.issue(commonName: "gw1", usage: .both)
        try gateway.write(certificatePath: directory.file("gw1.pem"), keyPath: directory.file("gw1.key"))
        #expect(SecureFile.mode(of: directory.file("gw1.key")) == 0o600)
        // Written exactly, whatever the umask.
        let old = umask(0)
        defer { umask(old) }
        try gateway.write(certificatePath: directory.file("gw2.pem"), keyPath: directory.file("gw2.key"))
        #expect(SecureFile.mode(of: directory.file("gw2.key")) == 0o600)
        let reread = try CPQIdentity.load(certificatePath: directory.file("gw2.pem"), keyPath: directory.file("gw2.key"))
        #expect(reread == gateway)
    }

    @Test func issuedLeafVerifiesAgainstItsCAOnly() async throws {
        let directory = TemporaryDirectory()
        let other = TemporaryDirectory()
        defer { directory.remove(); other.remove() }
        let ca = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "manager.example.com")
        let otherCA = try CPQAuthority.loadOrCreate(directory: other.path, managerHostname: "manager.example.com")
        let leaf = try ca.issue(commonName: "gw1", dnsNames: ["gw1.example.com"], ipAddresses: ["127.0.0.1", "::1"], usage: .client)
        #expect(await ca.verify(leaf.certificate, as: .client) == nil)
        #expect(await ca.verify(leaf.certificate, as: .server) == .wrongUsage(required: .server))
        #expect(await otherCA.verify(leaf.certificate, as: .client) == .notSignedByAuthority)
        #expect(await ca.verify(ca.certificate, as: .client) == .authorityCertificate)
        #expect(leaf.certificate.alternativeNames.ipAddresses == ["127.0.0.1", "::1"])
        let constraints = try #require(try leaf.certificate.extensions.basicConstraints)
        #expect(constraints == .notCertificateAuthority)
    }

    @Test func expiredAndNotYetValidLeavesAreNamed() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let threeYearsAgo = Date().addingTimeInterval(-3 * 365 * 86_400)
        let ca = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "m", now: threeYearsAgo)
        let expired = try ca.issue(commonName: "old", usage: .both, validity: 365 * 86_400, now: threeYearsAgo)
        guard case .expired = await ca.verify(expired.certificate, as: .client) else {
            Issue.record("an expired certificate passed or failed for another reason")
            return
        }
        let future = try ca.issue(commonName: "new", usage: .both, now: Date().addingTimeInterval(30 * 86_400))
        guard case .notYetValid = await ca.verify(future.certificate, as: .client) else {
            Issue.record("a future certificate passed or failed for another reason")
            return
        }
    }

    @Test func leafNeverOutlivesTheCA() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let ca = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "m", now: Self.start)
        let leaf = try ca.issue(commonName: "gw1", usage: .both, validity: 50 * 365 * 86_400, now: Self.start)
        #expect(leaf.certificate.notValidAfter == ca.certificate.notValidAfter)
        let short = try ca.issue(commonName: "gw1", usage: .both, validity: 86_400, now: Self.start)
        #expect(short.certificate.notValidAfter == Self.start.addingTimeInterval(86_400))
    }

    @Test(arguments: [
        (["bad name!"], [String]()),
        ([String](), ["300.1.1.1"]),
        ([String](), ["gw1.example.com"]),
        (["-leading.example.com"], [String]()),
    ])
    func unusableNamesAreRefused(dnsNames: [String], ipAddresses: [String]) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let ca = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "m")
        #expect(throws: CPQTLSError(.invalidName, "")) {
            try ca.issue(commonName: "gw1", dnsNames: dnsNames, ipAddresses: ipAddresses, usage: .both)
        }
    }

    @Test func certificateWithoutItsKeyIsAnErrorNotANewCA() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        _ = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "m")
        try FileManager.default.removeItem(atPath: directory.file("ca.key"))
        let error = #expect(throws: CPQTLSError.self) {
            try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "m")
        }
        #expect(error?.code == .incompleteAuthority)
        #expect(error?.message.contains("ca.key") == true)
    }

    @Test func readableKeyIsRefusedWithTheFix() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        _ = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "m")
        chmod(directory.file("ca.key"), 0o644)
        let error = #expect(throws: CPQTLSError.self) {
            try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "m")
        }
        #expect(error?.message.contains("chmod 600") == true)
    }

    @Test func identityPEMRoundTripAndMismatchedKey() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let ca = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "m")
        let one = try ca.issue(commonName: "one", usage: .both)
        let two = try ca.issue(commonName: "two", usage: .both)
        let copy = try CPQIdentity(certificatePEM: one.certificatePEM(), privateKeyPEM: one.privateKeyPEM())
        #expect(copy == one)
        #expect(copy.fingerprint == one.fingerprint)
        #expect(!one.description.contains("PRIVATE"))
        #expect(throws: CPQTLSError(.invalidPrivateKey, "")) {
            try CPQIdentity(certificatePEM: one.certificatePEM(), privateKeyPEM: two.privateKeyPEM())
        }
    }

    @Test func fingerprintIsSHA256OfDERAndReadsOpenSSLForm() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let ca = try CPQAuthority.loadOrCreate(directory: directory.path, managerHostname: "m")
        let fingerprint = ca.managerIdentity.fingerprint
        #expect(fingerprint.hex.count == 64)
        #expect(CPQFingerprint(hex: fingerprint.colonSeparated) == fingerprint)
        #expect(CPQFingerprint(hex: fingerprint.hex.uppercased()) == fingerprint)
        #expect(CPQFingerprint(hex: "abc") == nil)
        #expect(fingerprint == CPQFingerprint(der: try ca.managerIdentity.certificate.derBytes))
    }
}
